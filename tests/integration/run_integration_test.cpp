// `br run --auto` end to end, in one process with N local workers, against the demo agent and
// small misbehaving agents. Every test gets its own temporary directory and waits on
// conditions with deadlines.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/worker/agent_runner.hpp"
#include "storage/journal.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
using test::read_file;
using namespace std::chrono_literals;

namespace {

const std::string kDemoAgent = std::string(BR_SOURCE_DIR) + "/deploy/demo-agent";

void write_file(const std::string& path, const std::string& text, bool executable = false) {
  std::ofstream(path) << text;
  if (executable) std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}


struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs br with `args` in `dir` and waits (at most two minutes).
Run run_br(const test::TempDir& dir, std::vector<std::string> args,
       std::vector<std::pair<std::string, std::string>> env = {}) {
  ProcessSpec spec;
  spec.argv = {BR_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = dir.path();
  spec.env = clean_environment({}, env);
  spec.log_file = dir / "br-output.log";
  std::filesystem::remove(spec.log_file);
  spec.timeout_ms = 120000;
  auto outcome = run_process(spec);
  REQUIRE(outcome.ok());
  Run run;
  run.exit_code = outcome->exited ? outcome->exit_code : -1;
  // The log starts and ends with the runner's own "[br] …" lines; keep what br printed.
  std::istringstream lines(read_file(spec.log_file.string()));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("[br] ", 0) != 0) run.output += line + "\n";
  }
  while (run.output.size() >= 2 && run.output.compare(run.output.size() - 2, 2, "\n\n") == 0) {
    run.output.pop_back();
  }
  return run;
}

std::vector<JournalRecord> journal_of(const std::string& state_dir) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(state_dir + "/journal", options);
  REQUIRE(journal.ok());
  std::vector<JournalRecord> records;
  REQUIRE((*journal)->scan(1, [&](const JournalRecord& r) {
    records.push_back(r);
    return true;
  }).ok());
  return records;
}

RunState state_of(const std::string& state_dir) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(state_dir + "/journal", options);
  REQUIRE(journal.ok());
  auto state = (*journal)->replay();
  REQUIRE(state.ok());
  return std::move(state).value();
}

TaskStatus status_of(const RunState& state, const std::string& id) {
  const TaskState* t = state.find(TaskId(id));
  REQUIRE(t != nullptr);
  return t->status;
}

std::string config(const std::string& agent, const std::string& extra_run = "",
                   const std::string& agent_timeout = "60s") {
  return "[run]\nworkers = 4\nworkspace = \"ws\"\nbackoff_base = \"100ms\"\n" + extra_run +
         "\n[agent]\ncommand = [\"" + agent + "\"]\ntimeout = \"" + agent_timeout + "\"\n"
         "env = [\"BR_DEMO_SLEEP_MS\", \"BR_DEMO_FAIL_TASKS\", \"BR_DEMO_LEDGER\"]\n"
         "\n[verify]\nfile_wait = \"200ms\"\n";
}

// Eight independent backend features: one level of eight tasks, three batches.
std::string wide_spec() {
  std::string spec = "# Wide\n## Overview\nIndependent pieces.\n## Features\n";
  for (int i = 0; i < 8; ++i) {
    spec += "### Piece " + std::to_string(i) + " {#p" + std::to_string(i) + "}\n"
            "**Description:** Business logic number " + std::to_string(i) + ".\n"
            "**Files:**\n- src/p" + std::to_string(i) + ".py\n";
  }
  return spec;
}

}  // namespace

TEST_CASE("independent tasks of one level run in parallel on 4 workers") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "br.toml", config(kDemoAgent));
  const Run run = run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config",
                           "br.toml", "--plain"},
                     {{"BR_DEMO_SLEEP_MS", "400"}});
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Catch::Contains("succeeded: 24 of 24 tasks succeeded"));

  // Intervals [started, finished] of the level-0 tasks, by worker.
  struct Interval {
    std::string worker;
    std::int64_t start = 0, end = 0;
  };
  std::map<std::string, Interval> spans;
  for (const auto& r : journal_of(dir / "state")) {
    if (const auto* s = std::get_if<rec::TaskStarted>(&r.body)) {
      if (s->task.str().find("/01-backend") != std::string::npos) {
        spans[s->task.str()] = Interval{s->worker, r.time_ms, 0};
      }
    } else if (const auto* d = std::get_if<rec::TaskSucceeded>(&r.body)) {
      if (spans.count(d->task.str())) spans[d->task.str()].end = r.time_ms;
    }
  }
  REQUIRE(spans.size() == 8);
  bool overlap = false;
  std::set<std::string> workers;
  for (const auto& [a, x] : spans) {
    workers.insert(x.worker);
    for (const auto& [b, y] : spans) {
      if (x.worker != y.worker && x.start < y.end && y.start < x.end) overlap = true;
    }
  }
  CHECK(workers.size() >= 2);
  CHECK(overlap);
  for (int i = 0; i < 8; ++i) {
    CHECK(std::filesystem::exists(dir / ("ws/src/p" + std::to_string(i) + ".py")));
  }
}

TEST_CASE("a failing task is retried, then its dependents are blocked; the rest finishes") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md",
             "# P\n## Features\n### Alpha {#alpha}\nBusiness logic.\n"
             "### Beta {#beta}\nBusiness logic.\n**Depends on:** #alpha\n"
             "### Gamma {#gamma}\nBusiness logic.\n");
  write_file(dir / "br.toml", config(kDemoAgent, "max_attempts = 2\n"));
  const Run run = run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config",
                           "br.toml", "--plain"},
                     {{"BR_DEMO_FAIL_TASKS", "alpha/01-backend"}});
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Catch::Contains("failed  alpha/01-backend after 2 attempt(s)"));

  const RunState state = state_of(dir / "state");
  CHECK(state.status() == RunStatus::failed);
  CHECK(status_of(state, "alpha/01-backend") == TaskStatus::failed);
  CHECK(state.find(TaskId("alpha/01-backend"))->attempt == 2);
  for (const char* id : {"alpha/02-tests", "alpha/03-docs", "beta/01-backend", "beta/02-tests",
                         "beta/03-docs"}) {
    INFO(id);
    CHECK(status_of(state, id) == TaskStatus::blocked);
  }
  for (const char* id : {"gamma/01-backend", "gamma/02-tests", "gamma/03-docs"}) {
    INFO(id);
    CHECK(status_of(state, id) == TaskStatus::succeeded);
  }
  // alpha retried once; gamma, failed along with alpha in their shared first batch, was
  // retried alone and succeeded.
  int alpha_retries = 0;
  for (const auto& r : journal_of(dir / "state")) {
    if (const auto* retry = std::get_if<rec::TaskRetrying>(&r.body)) {
      alpha_retries += retry->task.str() == "alpha/01-backend" ? 1 : 0;
    }
  }
  CHECK(alpha_retries == 1);
}

TEST_CASE("an agent that hangs is killed, with its children, at its timeout") {
  test::TempDir dir("br-it");
  // The agent starts a child that would outlive it, records the child's pid, and hangs.
  write_file(dir / "hang.sh",
             "#!/bin/sh\nsleep 300 &\necho $! > \"$BR_WORKSPACE/../child.pid\"\nwait\n", true);
  write_file(dir / "spec.md", "# P\n## Features\n### Only {#only}\nBusiness logic.\n");
  write_file(dir / "br.toml", config(dir / "hang.sh", "max_attempts = 1\n", "1s"));
  const auto start = std::chrono::steady_clock::now();
  const Run run = run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config",
                           "br.toml", "--plain"});
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(std::chrono::steady_clock::now() - start < 60s);
  const RunState state = state_of(dir / "state");
  CHECK_THAT(state.find(TaskId("only/01-backend"))->reason,
             Catch::Contains("timed out after 1000 ms"));
  const std::string pid_text = read_file(dir / "child.pid");
  REQUIRE_FALSE(pid_text.empty());
  const pid_t child = static_cast<pid_t>(std::stol(pid_text));
  // Killed children may linger as zombies of init for a moment: wait for them to go.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::kill(child, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(::kill(child, 0) != 0);
}

TEST_CASE("an agent that exits 0 without writing the expected files fails verification") {
  test::TempDir dir("br-it");
  write_file(dir / "lazy.sh", "#!/bin/sh\nexit 0\n", true);
  write_file(dir / "spec.md", "# P\n## Features\n### Only {#only}\nBusiness logic.\n"
                              "**Files:**\n- src/only.py\n");
  write_file(dir / "br.toml", config(dir / "lazy.sh", "max_attempts = 1\n"));
  const Run run = run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config",
                           "br.toml", "--plain"});
  INFO(run.output);
  CHECK(run.exit_code == 1);
  const RunState state = state_of(dir / "state");
  CHECK(status_of(state, "only/01-backend") == TaskStatus::failed);
  CHECK(state.find(TaskId("only/01-backend"))->reason == "expected file src/only.py is missing");
  CHECK_THAT(run.output, Catch::Contains("expected file src/only.py is missing"));
}

TEST_CASE("a config error or a spec error exits 2 with the message and leaves no state") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "bad.toml", "[run]\nworker = 3\n");
  Run run = run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config", "bad.toml"});
  CHECK(run.exit_code == 2);
  CHECK(run.output == "bad.toml:2: unknown key 'run.worker' (did you mean 'run.workers'?)\n");
  CHECK_FALSE(std::filesystem::exists(dir / "state"));

  write_file(dir / "good.toml", config(kDemoAgent));
  write_file(dir / "cycle.md", "# P\n## Features\n### A\n**Depends on:** B\n### B\n"
                               "**Depends on:** A\n");
  run = run_br(dir, {"--state-dir", "state", "run", "--auto", "cycle.md", "--config", "good.toml"});
  CHECK(run.exit_code == 2);
  CHECK(run.output == "cycle.md:3: dependency cycle: a -> b -> a (each feature depends on the "
                      "next)\n");
  CHECK_FALSE(std::filesystem::exists(dir / "state"));

  run = run_br(dir, {"run", "--auto", "spec.md"});  // no config: no agent to run
  CHECK(run.exit_code == 2);
  CHECK_THAT(run.output, Catch::StartsWith("no config given: set [agent] command in br.toml"));
  CHECK_FALSE(std::filesystem::exists(dir / ".br"));
}

TEST_CASE("a changed spec is refused unless --replan, which keeps what succeeded") {
  test::TempDir dir("br-it");
  const std::string ledger = dir / "ledger";
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "br.toml", config(kDemoAgent));
  const std::vector<std::string> args = {"--state-dir", "state", "run",   "--auto",
                                         "spec.md",     "--config", "br.toml", "--plain"};
  Run run = run_br(dir, args, {{"BR_DEMO_LEDGER", ledger}});
  REQUIRE(run.exit_code == 0);
  REQUIRE(state_of(dir / "state").counts().succeeded == 24);

  // One more feature, and piece 0 says something else (its task keeps its id).
  std::string changed = wide_spec();
  changed.replace(changed.find("Business logic number 0."), 24, "Business logic, revised.");
  changed += "### Piece 8 {#p8}\n**Description:** Business logic number 8.\n"
             "**Files:**\n- src/p8.py\n";
  write_file(dir / "spec.md", changed);
  const std::uint64_t seq_before = journal_of(dir / "state").size();
  run = run_br(dir, args, {{"BR_DEMO_LEDGER", ledger}});
  CHECK(run.exit_code == 2);
  CHECK(run.output ==
        "spec.md: the spec changed since the run in state began; run `br resume` to finish that "
        "run as planned, pass --replan to plan it again (tasks that succeeded and still exist are "
        "kept), or use another --state-dir\n");
  CHECK(journal_of(dir / "state").size() == seq_before);  // refused before writing anything

  std::vector<std::string> replan = args;
  replan.push_back("--replan");
  run = run_br(dir, replan, {{"BR_DEMO_LEDGER", ledger}});
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const RunState state = state_of(dir / "state");
  CHECK(state.status() == RunStatus::succeeded);
  CHECK(state.counts().succeeded == 27);  // 9 features × (backend, tests, docs)
  // The 24 finished tasks were not run again; only the new feature's three ran.
  std::map<std::string, int> completions;
  std::istringstream lines(read_file(ledger));
  std::string task, attempt;
  while (lines >> task >> attempt) ++completions[task];
  CHECK(completions.size() == 27);
  for (const auto& [id, n] : completions) {
    INFO(id);
    CHECK(n == 1);
  }
}

TEST_CASE("Ctrl-C stops the run cleanly and resume finishes it without redoing work") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "br.toml", config(kDemoAgent));
  const std::string ledger = dir / "ledger.txt";

  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(dir.str().c_str()) != 0) ::_exit(99);
    const int out = ::open("interrupted.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::setenv("BR_DEMO_SLEEP_MS", "1500", 1);
    ::setenv("BR_DEMO_LEDGER", ledger.c_str(), 1);
    ::execl(BR_BINARY, BR_BINARY, "--state-dir", "state", "run", "--auto", "spec.md", "--config",
            "br.toml", "--plain", static_cast<char*>(nullptr));
    ::_exit(98);
  }
  // Wait until some tasks succeeded and others are running, then interrupt.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  bool mid_run = false;
  while (!mid_run && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    if (!journal_exists(dir / "state/journal")) continue;
    JournalOptions options;
    options.read_only = true;
    auto journal = Journal::open(dir / "state/journal", options);
    if (!journal) continue;
    auto state = (*journal)->replay();
    if (state && state->counts().succeeded >= 2 && state->counts().running > 0) mid_run = true;
  }
  REQUIRE(mid_run);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO(read_file(dir / "interrupted.log"));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const RunState stopped = state_of(dir / "state");
  CHECK(stopped.status() == RunStatus::stopped);
  const std::size_t done_before = stopped.counts().succeeded;
  std::set<std::string> finished_before;  // succeeded in the journal when the run stopped
  for (std::size_t i = 0; i < stopped.tasks().size(); ++i) {
    if (stopped.tasks()[i].status == TaskStatus::succeeded) {
      finished_before.insert(stopped.plan().tasks[i].id.str());
    }
  }
  // Interrupted attempts were not charged as failures.
  for (const auto& t : stopped.tasks()) CHECK(t.status != TaskStatus::retrying);

  const Run resumed = run_br(dir, {"--state-dir", "state", "resume", "--config", "br.toml", "--plain"},
                         {{"BR_DEMO_LEDGER", ledger}});
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  const RunState state = state_of(dir / "state");
  CHECK(state.status() == RunStatus::succeeded);
  CHECK(state.counts().succeeded == 24);
  CHECK(done_before < 24);
  // Every task was done by an agent; a task that had succeeded before the stop was never done
  // again. (A task whose agent was killed mid-batch may have been done twice: work in flight
  // is at-least-once, and its interrupted attempt never counted.)
  std::map<std::string, int> completions;
  std::istringstream lines(read_file(ledger));
  std::string task, attempt;
  while (lines >> task >> attempt) ++completions[task];
  CHECK(completions.size() == 24);
  CHECK(finished_before.size() == done_before);
  for (const auto& id : finished_before) {
    INFO(id);
    CHECK(completions[id] == 1);
  }
  for (const auto& [id, n] : completions) {
    INFO(id);
    CHECK(n <= 2);
  }
}

TEST_CASE("br plan --json is one document with the documented keys, and writes nothing") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec() + "### Last {#last}\nBusiness logic.\n"
                              "**Depends on:** #p0, #p1\n");
  const Run run = run_br(dir, {"plan", "spec.md", "--json", "--strategy", "shortest"});
  REQUIRE(run.exit_code == 0);
  const auto doc = nlohmann::json::parse(run.output);
  CHECK(doc.at("version") == 1);
  CHECK(doc.at("strategy") == "shortest");
  CHECK(doc.at("features").size() == 9);
  const auto& task = doc.at("tasks").at(0);
  for (const char* key : {"id", "feature", "title", "domain", "complexity", "minutes",
                          "depends_on", "acceptance", "files"}) {
    INFO(key);
    CHECK(task.contains(key));
  }
  CHECK(doc.at("tasks").size() == 27);
  CHECK(doc.at("levels").at(0).size() == 8);  // the eight independent backend tasks
  CHECK(doc.at("critical_path").at("tasks").size() == 4);  // p0 backend → last backend → tests → docs
  CHECK(doc.at("critical_path").at("minutes").get<int>() > 0);
  std::size_t batched = 0;
  for (const auto& batch : doc.at("batches")) {
    CHECK(batch.size() <= 3);
    batched += batch.size();
  }
  CHECK(batched == 27);
  CHECK_FALSE(std::filesystem::exists(dir / ".br"));
}

TEST_CASE("br status and br task list read a run while it is live") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "br.toml", config(kDemoAgent));
  std::thread runner([&] {
    run_br(dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config", "br.toml",
                 "--quiet"},
           {{"BR_DEMO_SLEEP_MS", "1000"}});
  });
  // Poll `br status --json` until it shows a task running, within a deadline.
  bool seen_running = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!seen_running && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    const Run status = run_br(dir, {"--state-dir", "state", "status", "--json"});
    if (status.exit_code != 0) continue;  // the journal may not exist yet
    const auto doc = nlohmann::json::parse(status.output);
    if (doc.at("status") == "running" && doc.at("counts").at("running").get<int>() > 0) {
      seen_running = true;
      CHECK(doc.at("counts").at("total") == 24);
      const Run list = run_br(dir, {"--state-dir", "state", "task", "list", "--json",
                                    "--status", "running"});
      REQUIRE(list.exit_code == 0);
      const auto tasks = nlohmann::json::parse(list.output).at("tasks");
      CHECK_FALSE(tasks.empty());
      for (const auto& t : tasks) CHECK(t.at("status") == "running");
    }
  }
  runner.join();
  CHECK(seen_running);
  const RunState after = state_of(dir / "state");
  CHECK(after.status() == RunStatus::succeeded);
  REQUIRE(after.workers().size() == 4);
  for (const auto& [name, worker] : after.workers()) {
    INFO(name);
    CHECK_FALSE(worker.alive);  // the run is over: nobody is shown as connected
  }
}

namespace {

// Polls `br status --json` (every 50 ms, for at most a minute) until `done` holds.
nlohmann::json status_until(const test::TempDir& dir,
                            const std::function<bool(const nlohmann::json&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const Run status = run_br(dir, {"--state-dir", "state", "status", "--json"});
    if (status.exit_code == 0) {
      auto doc = nlohmann::json::parse(status.output, nullptr, false);
      if (doc.is_object() && done(doc)) return doc;
    }
    std::this_thread::sleep_for(50ms);
  }
  return nlohmann::json();
}

// `parts` independent features of four tasks each that an agent of /bin/true passes.
std::string busy_spec(int parts) {
  std::string spec = "# Busy\n## Features\n";
  for (int i = 0; i < parts; ++i) {
    spec += "### Part " + std::to_string(i) + " {#p" + std::to_string(i) + "}\n" +
            "**Description:** A database table served by a REST endpoint.\n";
  }
  return spec;
}

}  // namespace

TEST_CASE("br status reads a live run from its status file, and tells a dead run from it") {
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", wide_spec());
  write_file(dir / "br.toml", config(kDemoAgent));
  test::Child br(dir.path(), "run.log",
                 {BR_BINARY, "--state-dir", "state", "run", "--auto", "spec.md", "--config",
                  "br.toml", "--quiet"},
                 {{"BR_DEMO_SLEEP_MS", "1000"}});
  const auto live = status_until(dir, [](const nlohmann::json& doc) {
    return doc.value("live", false) && doc.at("counts").at("running").get<int>() > 0;
  });
  REQUIRE(live.is_object());
  CHECK(live.at("pid") == br.pid());
  CHECK(live.at("status") == "running");
  CHECK(live.at("counts").at("total") == 24);
  CHECK(live.at("last_seq").get<std::uint64_t>() > 1);
  br.kill_now();  // no record says so: only the lost journal lock tells
  const Run after = run_br(dir, {"--state-dir", "state", "status", "--json"});
  REQUIRE(after.exit_code == 0);
  const auto doc = nlohmann::json::parse(after.output);
  CHECK(doc.at("live") == false);
  CHECK(doc.at("status") == "running");
  const Run text = run_br(dir, {"--state-dir", "state", "status"});
  CHECK_THAT(text.output, Catch::Contains("not running"));
}

TEST_CASE("Ctrl-C stops a busy run at once, and br resume finishes it") {
  // Messages never stop arriving on a run of /bin/true agents: an interrupt checked only when
  // the coordinator is idle waited for the end of the run and exited 0.
  test::TempDir dir("br-it");
  write_file(dir / "spec.md", busy_spec(1000));
  write_file(dir / "br.toml", "[run]\nworkers = 4\nworkspace = \"ws\"\n[agent]\ncommand = "
                              "[\"/bin/true\"]\n[verify]\nfile_wait = 0\n");
  test::Child br(dir.path(), "run.log",
                 {BR_BINARY, "--state-dir", "state", "run", "--auto", "spec.md", "--config",
                  "br.toml", "--quiet"});
  const auto busy = status_until(dir, [](const nlohmann::json& doc) {
    return doc.at("counts").at("succeeded").get<int>() >= 100;
  });
  REQUIRE(busy.is_object());
  REQUIRE(::kill(br.pid(), SIGINT) == 0);
  REQUIRE(br.wait(60s) == 130);
  INFO(br.output());
  const RunState stopped = state_of(dir / "state");
  CHECK(stopped.status() == RunStatus::stopped);
  CHECK(stopped.counts().succeeded < stopped.counts().total);
  const Run resumed = run_br(dir, {"--state-dir", "state", "resume", "--config", "br.toml",
                                   "--quiet"});
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(state_of(dir / "state").counts().succeeded == 4000);
}
