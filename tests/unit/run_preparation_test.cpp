#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "coordinator/run_config.hpp"
#include "coordinator/run_preparation.hpp"
#include "protocol/wall_clock.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

const std::string kSpec = "# P\n## Features\n### A\nBusiness logic.\n### B\nMore of it.\n";
const std::string kConfig = "[agent]\ncommand = [\"true\"]\n[run]\nisolation = \"none\"\n";

// A temp folder with a spec and a config whose agent is installed everywhere (`true`).
struct Fixture {
  test::TempDir dir{"br-prepare"};
  std::vector<std::string> said;

  Fixture() {
    write("spec.md", kSpec);
    write("br.toml", kConfig);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::binary) << text;
  }
  RunOptions options(bool with_spec = true) const {
    RunOptions o;
    o.spec = with_spec ? dir / "spec.md" : std::string();
    o.config_path = dir / "br.toml";
    o.state_dir = StateDir{dir / "state"};
    return o;
  }
  Result<PreparedRun> prepare(const RunOptions& o) {
    auto settings = load_settings(o);
    if (!settings) return settings.error();
    return prepare_run(o, *settings, [this](const std::string& line) { said.push_back(line); });
  }
  PreparedRun must_prepare(const RunOptions& o) {
    auto prepared = prepare(o);
    INFO((prepared ? std::string() : prepared.error().str()));
    REQUIRE(prepared);
    return std::move(prepared).value();
  }
};

// Appends records to the run's journal as the graph actor would have.
void journal(PreparedRun& run, std::vector<RecordBody> bodies) {
  std::vector<JournalRecord> records;
  for (auto& body : bodies) records.push_back(JournalRecord{0, "", unix_now_ms(), std::move(body)});
  REQUIRE(run.journal->append(std::move(records)));
}

// A run whose every task was cancelled (br cancel of a run not going on), so it is over.
void start_and_cancel(Fixture& f) {
  auto run = f.must_prepare(f.options());
  std::vector<RecordBody> cancelled;
  for (const auto& task : run.state.plan().tasks) {
    cancelled.emplace_back(rec::TaskCancelled{task.id, "by hand"});
  }
  cancelled.emplace_back(rec::RunCompleted{rec::RunOutcome::cancelled});
  journal(run, std::move(cancelled));
}

}  // namespace

TEST_CASE("a fresh run is created with its plan, ready for its actors") {
  Fixture f;
  auto run = f.must_prepare(f.options());
  CHECK_FALSE(run.over);
  REQUIRE(run.graph);
  CHECK_FALSE(run.state.plan().tasks.empty());
  CHECK(run.state.status() == RunStatus::running);
  CHECK(run.journal->last_seq() == 1);  // the plan, journaled before anything runs
  CHECK(std::filesystem::exists(f.dir / "state/journal"));
}

TEST_CASE("a stopped run resumes from its journal, with or without its spec") {
  Fixture f;
  std::string run_id;
  std::size_t tasks = 0;
  {
    auto first = f.must_prepare(f.options());
    run_id = first.journal->run_id();
    tasks = first.state.plan().tasks.size();
    journal(first, {rec::RunStopped{"interrupted (Ctrl-C)"}});
  }
  auto resumed = f.must_prepare(f.options(/*with_spec=*/false));
  CHECK(resumed.journal->run_id() == run_id);
  CHECK_FALSE(resumed.over);
  REQUIRE(resumed.graph);
  CHECK(resumed.state.plan().tasks.size() == tasks);
  resumed.journal.reset();
  auto again = f.must_prepare(f.options());  // the same spec: the journal's plan is the plan
  CHECK(again.journal->run_id() == run_id);
}

TEST_CASE("a run that is over is said to be, with nothing to run") {
  Fixture f;
  start_and_cancel(f);
  auto resumed = f.must_prepare(f.options(false));
  CHECK(resumed.over);
  CHECK(resumed.state.status() == RunStatus::cancelled);
  CHECK_FALSE(resumed.graph);
}

TEST_CASE("br retry reopens the tasks it names, journaled before anything runs") {
  Fixture f;
  start_and_cancel(f);
  RunOptions retry = f.options(false);
  retry.retry = RetrySelection{};
  retry.retry->failed = true;
  auto reopened = f.must_prepare(retry);
  CHECK_FALSE(reopened.over);
  REQUIRE(reopened.graph);
  CHECK(reopened.state.status() == RunStatus::stopped);  // resumable, as after a stop
  for (const auto& t : reopened.state.tasks()) CHECK(t.status == TaskStatus::pending);
  REQUIRE(f.said.size() == 1);
  CHECK(f.said[0] == "br: retrying " + std::to_string(reopened.state.plan().tasks.size()) +
                         " task(s), each with a fresh attempt budget");

  reopened.journal.reset();
  RunOptions unknown = f.options(false);
  unknown.retry = RetrySelection{{TaskId("no/such-task")}, false, {}};
  const auto refused = f.prepare(unknown);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().category == ErrorCategory::bad_input);
  CHECK(refused.error().str().rfind("br retry: ", 0) == 0);
}

TEST_CASE("br retry of a run whose coordinator was killed stops it first, then reopens") {
  Fixture f;
  std::string failed_task;
  TaskId second;
  {
    // The run as a kill -9 leaves it: `running`, one task failed for good, one in flight.
    auto run = f.must_prepare(f.options());
    std::vector<TaskId> roots;  // two tasks that wait on nothing (features A and B)
    for (const auto& t : run.state.plan().tasks) {
      if (t.depends_on.empty()) roots.push_back(t.id);
    }
    REQUIRE(roots.size() >= 2);
    failed_task = roots[0].str();
    const std::string worker = "local-1";
    journal(run, {rec::TaskReady{roots[0]}, rec::TaskReady{roots[1]},
                  rec::WorkerJoined{worker, 2, std::string(kInProcessAddress)},
                  rec::BatchDispatched{BatchId("b1"), worker, {roots[0]}, {1}, 0},
                  rec::TaskStarted{roots[0], 1, worker},
                  rec::TaskFailed{roots[0], 1, "agent exited with code 1"},
                  rec::BatchDispatched{BatchId("b2"), worker, {roots[1]}, {1}, 0},
                  rec::TaskStarted{roots[1], 1, worker}});
    second = roots[1];
  }
  RunOptions retry = f.options(false);
  retry.retry = RetrySelection{{TaskId(failed_task)}, false, {}};
  auto reopened = f.must_prepare(retry);
  REQUIRE_FALSE(f.said.empty());
  CHECK(f.said[0].find("ended without stopping it") != std::string::npos);
  CHECK(reopened.state.status() == RunStatus::stopped);
  const TaskState* first = reopened.state.find(TaskId(failed_task));
  const TaskState* interrupted = reopened.state.find(second);
  REQUIRE(first);
  REQUIRE(interrupted);
  CHECK(first->status == TaskStatus::pending);  // reopened, with a fresh budget
  CHECK(first->attempt_base == 1);
  CHECK(interrupted->status == TaskStatus::retrying);  // interrupted by the stop, uncharged
  CHECK(reopened.state.in_flight().empty());
}

TEST_CASE("a spec changed since its run began is refused, or replanned with --replan") {
  Fixture f;
  const std::size_t before = f.must_prepare(f.options()).state.plan().tasks.size();
  f.write("spec.md", kSpec + "### C\nOne more.\n");
  const auto refused = f.prepare(f.options());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().category == ErrorCategory::bad_input);
  CHECK_THAT(refused.error().str(), Catch::Contains("the spec changed since the run in"));

  RunOptions replan = f.options();
  replan.replan = true;
  auto revised = f.must_prepare(replan);
  CHECK(revised.state.plan().tasks.size() > before);
  CHECK(revised.journal->last_seq() == 2);  // the plan, then its revision
}

TEST_CASE("a prepared run remembers its config, and a later change of it is noticed") {
  Fixture f;
  const RunOptions o = f.options();
  f.must_prepare(o).journal.reset();
  const ChosenConfig same = choose_config("", o.state_dir);
  CHECK(same.path == o.config_path);
  CHECK(same.note == "using " + o.config_path + ", the config this run was started with");
  f.write("br.toml", kConfig + "[context]\ntoken_budget = 9000\n");
  const ChosenConfig changed = choose_config("", o.state_dir);
  CHECK(changed.path == o.config_path);
  CHECK_THAT(changed.note, Catch::EndsWith("(it has changed since)"));
}

TEST_CASE("no run to resume is bad input, and makes no state dir") {
  Fixture f;
  const auto refused = f.prepare(f.options(false));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().category == ErrorCategory::bad_input);
  CHECK_THAT(refused.error().str(), Catch::Contains("no run to resume here"));
  CHECK_FALSE(std::filesystem::exists(f.dir / "state"));
}

TEST_CASE("an agent that is not installed is refused before any state dir is made") {
  Fixture f;
  f.write("br.toml", "[agent]\ncommand = [\"br-no-such-agent-here\"]\n[run]\n"
                     "isolation = \"none\"\n");
  const auto refused = f.prepare(f.options());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().category == ErrorCategory::bad_input);
  CHECK_THAT(refused.error().str(),
             Catch::Contains("runs 'br-no-such-agent-here', which is not installed here"));
  CHECK_FALSE(std::filesystem::exists(f.dir / "state"));
}

TEST_CASE("a check or test program that is not installed is refused before any state dir") {
  for (const std::string key : {"check_command", "test_command"}) {
    INFO(key);
    Fixture f;
    f.write("br.toml", kConfig + "[verify]\n" + key + " = [\"br-no-such-checker\", \"-q\"]\n");
    const auto refused = f.prepare(f.options());
    REQUIRE_FALSE(refused);
    CHECK(refused.error().category == ErrorCategory::bad_input);
    CHECK_THAT(refused.error().str(),
               Catch::Contains("[verify] " + key + " runs 'br-no-such-checker', which is not "
                               "installed here (not on PATH): install it, or set [verify] " +
                               key + " to the program to run, or leave it out"));
    CHECK_FALSE(std::filesystem::exists(f.dir / "state"));
  }
}

TEST_CASE("a run without isolation checks its workspace folder before the journal") {
  Fixture f;
  f.write("not-a-folder", "x");
  const auto workspace_at = [&](const std::string& name) {
    f.write("br.toml", kConfig + "workspace = \"" + f.dir / name + "\"\n");
  };
  workspace_at("not-a-folder");
  auto refused = f.prepare(f.options());
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().str(), Catch::Contains("is a file, not a folder"));
  CHECK_FALSE(std::filesystem::exists(f.dir / "state"));

  // A folder under a file cannot be made.
  workspace_at("not-a-folder/sub");
  refused = f.prepare(f.options());
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().str(), Catch::Contains("cannot be used"));
  CHECK_FALSE(std::filesystem::exists(f.dir / "state"));

  // A missing one is made, as before.
  workspace_at("project");
  auto run = f.must_prepare(f.options());
  CHECK(std::filesystem::is_directory(f.dir / "project"));
}
