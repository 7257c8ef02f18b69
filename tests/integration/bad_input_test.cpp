// The bad input catalogue: every case runs the real `br` in a fresh directory and checks the
// exact message on stderr, the exit code, and that no state directory was created.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

#include "actors/worker/agent_runner.hpp"
#include "protocol/codec.hpp"
#include "storage/journal.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/raw_journal.hpp"
#include "tests/support/samples.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

struct Case {
  const char* name;
  std::vector<std::string> args;           // after `br`; run in the case's directory
  std::vector<std::pair<std::string, std::string>> files;  // written before the run
  int exit_code;
  std::string message;                     // the whole of stderr + stdout, or its first line
  bool first_line_only = false;
};

const std::string kSpec = "# P\n## Features\n### A\nBusiness logic.\n";
const std::string kAgent = std::string("[agent]\ncommand = [\"") + BR_SOURCE_DIR +
                           "/deploy/demo-agent\"]\n";

std::vector<std::string> run(const std::string& config_file) {
  return {"--state-dir", "state", "run", "--auto", "spec.md", "--config", config_file};
}

// Runs `br args...` in `dir`; returns its exit code and its output without br's own "[br] "
// lines (the command line the runner logs).
std::pair<int, std::string> run_br(const test::TempDir& dir, const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.argv = {BR_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = dir.path();
  spec.env = clean_environment({});
  spec.log_file = dir / "out.log";
  std::filesystem::remove(spec.log_file);
  spec.timeout_ms = 60000;
  auto outcome = run_process(spec);
  REQUIRE(outcome.ok());
  std::string output;
  std::istringstream lines(test::read_file(dir / "out.log"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("[br] ", 0) != 0 && !line.empty()) output += line + "\n";
  }
  return {outcome->exit_code, output};
}

}  // namespace

TEST_CASE("bad inputs are refused with their exact message and leave no state") {
  const std::vector<Case> cases = {
      // --- specs ---
      {"no features", {"plan", "s.md"}, {{"s.md", "# P\n## Overview\ntext\n"}}, 2,
       "s.md:1: no features found; write each feature as a level-3 heading under '## Features' "
       "(### Title) or as '## Feature 1: Title'"},
      {"cycle", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Depends on:** B\n### B\n**Depends on:** A\n"}}, 2,
       "s.md:3: dependency cycle: a -> b -> a (each feature depends on the next)"},
      {"unknown dependency", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### Alpha\n### Beta\n**Depends on:** Alpah\n"}}, 2,
       "s.md:5: feature 'beta' depends on unknown feature 'Alpah'; did you mean 'alpha'?"},
      {"self dependency", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Depends on:** A\n"}}, 2,
       "s.md:4: feature 'a' depends on itself"},
      {"duplicate id", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\n### A\n"}}, 2,
       "s.md:4: duplicate feature id 'a' (first defined on line 3); give one of them an explicit "
       "id such as {#a-2}"},
      {"bad priority", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Priority:** P0\n"}}, 2,
       "s.md:4: invalid priority 'P0'; use critical, high, medium or low"},
      {"bad domain", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\nDomain: mobile\n"}}, 2,
       "s.md:4: invalid domain 'mobile'; use database, backend, api, frontend, ui, infra, docs or "
       "test"},
      {"empty explicit id", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A {#}\n"}}, 2,
       "s.md:3: empty feature id in '{#}'; write {#some-id} or leave it out"},
      {"not UTF-8", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\n\xc3\x28\n"}}, 2,
       "s.md:4: not UTF-8 text (invalid byte 0xc3); save the spec as UTF-8"},
      {"expected file out of the workspace", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Files:**\n- src/ok.py\n- ../outside.py\n"}}, 2,
       "s.md:6: expected file '../outside.py' climbs out of the workspace ('..'); name files by "
       "their path inside the workspace, e.g. src/app.py"},
      {"absolute expected file", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Files:**\n- /etc/cron.d/x\n"}}, 2,
       "s.md:5: expected file '/etc/cron.d/x' is not relative to the workspace; name files by "
       "their path inside the workspace, e.g. src/app.py"},
      {"criterion out of the workspace", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Acceptance Criteria:**\n- `file: a/../../b`\n"}}, 2,
       "s.md:5: criterion '`file: a/../../b`': the path 'a/../../b' climbs out of the workspace "
       "('..'); criteria check files inside the workspace"},
      {"malformed contains criterion", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Acceptance Criteria:**\n- contains: app.py\n"}}, 2,
       "s.md:5: criterion 'contains: app.py' needs the form 'contains: PATH ~ TEXT'"},
      {"run criterion with an open quote", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Acceptance Criteria:**\n- run: sh -c 'x\n"}}, 2,
       "s.md:5: criterion 'run: sh -c 'x': command 'sh -c 'x': unterminated single quote"},
      {"ids that differ only in case", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A {#Foo}\n### B {#foo}\n### C\nDepends on: FOO\n"}}, 2,
       "s.md:4: feature ids 'Foo' (line 3) and 'foo' differ only in case; give one of them "
       "another id"},
      {"missing spec", {"plan", "nope.md"}, {}, 2,
       "nope.md: cannot read the spec (does the file exist?)"},
      {"spec over the limit", run("small.toml"),
       {{"spec.md", kSpec + std::string(3000, '\n')},
        {"small.toml", kAgent + "[limits]\nspec_max_bytes = 1024\n"}},
       2,
       "spec.md: spec is 1025 bytes, larger than the limit of 1024 bytes; raise "
       "limits.spec_max_bytes in br.toml or split the spec"},
      {"too many tasks", run("few.toml"),
       {{"spec.md", kSpec}, {"few.toml", kAgent + "[limits]\nmax_tasks = 2\n"}}, 2,
       "spec.md: the plan has 3 tasks, more than limits.max_tasks = 2; raise it in br.toml or "
       "split the spec"},
      {"spec error in br run", run("ok.toml"),
       {{"spec.md", "# P\n## Features\n### A\n**Priority:** soon\n"}, {"ok.toml", kAgent}}, 2,
       "spec.md:4: invalid priority 'soon'; use critical, high, medium or low"},
      // --- configs ---
      {"unknown key", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworker = 3\n"}}, 2,
       "c.toml:2: unknown key 'run.worker' (did you mean 'run.workers'?)"},
      {"unknown section", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[agnet]\n"}}, 2,
       "c.toml:1: unknown section 'agnet'; known sections: run, agent, verify, context, "
       "network, limits, journal, metrics"},
      {"workers out of range", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworkers = 0\n"}},
       2, "c.toml:2: run.workers: expected an integer from 1 to 1024"},
      {"bad strategy", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nstrategy = \"random\"\n"}}, 2,
       "c.toml:2: run.strategy: 'random' is not one of critical-path, priority, shortest"},
      {"a token too short to resist guessing", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[network]\ntoken = \"s3cret\"\n"}}, 2,
       "c.toml:2: network.token: a token needs at least 16 characters (make one with `openssl "
       "rand -hex 16`)"},
      {"no time for a hello", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[network]\nhello_timeout = \"0s\"\n"}}, 2,
       "c.toml:2: network.hello_timeout: must be more than 0, e.g. \"30m\""},
      {"command as a string", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[agent]\ncommand = \"claude -p\"\n"}}, 2,
       "c.toml:2: agent.command: expected an array of strings, e.g. [\"make\", \"check\"]"},
      {"empty command", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[agent]\ncommand = []\n"}},
       2, "c.toml:2: agent.command: must not be empty"},
      {"bad duration", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[agent]\ntimeout = \"soon\"\n"}}, 2,
       "c.toml:2: agent.timeout: expected a duration such as 90 (seconds), \"250ms\", \"90s\", "
       "\"30m\" or \"2h\""},
      {"jitter out of range", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nbackoff_jitter = 2\n"}}, 2,
       "c.toml:2: run.backoff_jitter: expected a number from 0 to 1"},
      {"backoff max below base", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nbackoff_base = 10\nbackoff_max = 5\n"}}, 2,
       "c.toml: run.backoff_max must not be below run.backoff_base"},
      {"agent program empty", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[agent]\ncommand = [\"\", \"-p\"]\n"}}, 2,
       "c.toml:2: agent.command: its first word, the program to run, is empty"},
      {"agent timeout of nothing", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", kAgent + "timeout = \"0s\"\n"}}, 2,
       "c.toml:3: agent.timeout: must be more than 0, e.g. \"30m\""},
      {"toml syntax", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run\n"}}, 2,
       "c.toml:1: Error while parsing table header: expected ']', saw '\\n'"},
      {"missing config", run("none.toml"), {{"spec.md", kSpec}}, 2,
       "none.toml: cannot read the config file (does it exist?)"},
      {"no agent configured", {"--state-dir", "state", "run", "--auto", "spec.md"},
       {{"spec.md", kSpec}}, 2,
       "no config given: set [agent] command in br.toml, e.g. command = [\"claude\", \"-p\"], "
       "and pass --config br.toml (see README, \"Using real coding agents\")"},
      {"config without agent", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworkers = 2\n"}},
       2,
       "c.toml: [agent] has no command: set [agent] command in br.toml, e.g. command = "
       "[\"claude\", \"-p\"], and pass --config br.toml (see README, \"Using real coding "
       "agents\")"},
      // --- command line ---
      {"no subcommand", {}, {}, 2, "A subcommand is required", true},
      {"unknown option", {"plan", "spec.md", "--fast"}, {{"spec.md", kSpec}}, 2,
       "The following argument was not expected: --fast\nRun with --help for more information."},
      {"bad strategy flag", {"plan", "spec.md", "--strategy", "fastest"}, {{"spec.md", kSpec}}, 2,
       "unknown strategy 'fastest'; use one of critical-path, priority, shortest"},
      {"unchecked tasks under require_checks (br plan)", {"plan", "spec.md", "--config", "rc.toml"},
       {{"spec.md", "# P\n## Features\n### A\nFiles: a.py, tests/test_a.py\n"},
        {"rc.toml", "[verify]\nrequire_checks = true\n"}},
       2,
       "spec.md:3: task a/03-docs has nothing machine-checkable (no expected file, no file:, "
       "contains: or run: criterion, no [verify] check_command or test_command) and [verify] "
       "require_checks = true; give its feature a Files: entry or a machine-checkable criterion, "
       "or configure a check"},
      {"unchecked tasks under require_checks (br run)", run("rc.toml"),
       {{"spec.md", kSpec}, {"rc.toml", kAgent + "[verify]\nrequire_checks = true\n"}}, 2,
       "spec.md:3: task a/01-backend has nothing machine-checkable", true},
      {"run without --auto", {"run", "spec.md"}, {{"spec.md", kSpec}}, 2,
       "without --auto br asks before each batch, which needs a terminal; pass --auto", true},
      {"zero workers", {"run", "--auto", "spec.md", "--workers", "0"}, {{"spec.md", kSpec}}, 2,
       "--workers: Value 0 not in range 1 to 1024\nRun with --help for more information."},
      {"two graph formats", {"graph", "spec.md", "--json", "--svg", "g.svg"},
       {{"spec.md", kSpec}}, 2, "--svg excludes --json\nRun with --help for more information."},
      {"init over existing files", {"init"}, {{"br.toml", "# mine\n"}}, 2,
       "./br.toml: already exists; br init does not overwrite it (pass --force to)"},
      {"bad status filter", {"task", "list", "--status", "done"}, {}, 2,
       "--status: done not in {pending,ready,dispatched,running,succeeded,failed,retrying,"
       "blocked,cancelled}\nRun with --help for more information."},
      {"status without a run", {"--state-dir", "state", "status"}, {}, 2,
       "journal state/journal: no journal here; start a run with `br run --auto SPEC` first"},
      {"resume without a run", {"--state-dir", "state", "resume", "--config", "ok.toml"},
       {{"ok.toml", kAgent}}, 2,
       "state: no run to resume here; start one with `br run --auto SPEC`"},
  };
  REQUIRE(cases.size() >= 30);
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir dir("br-bad");
    for (const auto& [name, text] : c.files) std::ofstream(dir / name, std::ios::binary) << text;
    const auto [exit_code, output] = run_br(dir, c.args);
    CHECK(exit_code == c.exit_code);
    if (c.first_line_only) {
      CHECK_THAT(output, Catch::Contains(c.message));
    } else {
      CHECK(output == c.message + "\n");
    }
    CHECK_FALSE(std::filesystem::exists(dir / "state"));
    CHECK_FALSE(std::filesystem::exists(dir / ".br"));
  }
}

TEST_CASE("inputs that are not files are refused at once, never waited on") {
  test::TempDir dir("br-bad");
  std::ofstream(dir / "spec.md") << kSpec;
  std::ofstream(dir / "br.toml") << kAgent << "[run]\nworkspace = \"spec.md\"\n";
  REQUIRE(::mkfifo((dir / "fifo.md").c_str(), 0600) == 0);  // no writer: opening it would block
  std::filesystem::create_directories(dir / "folder.md");
  std::filesystem::create_directories(dir / "folder.toml");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"plan", "fifo.md"},
       "fifo.md: cannot read the spec: it is not a regular file (a FIFO, socket or device); "
       "save it to a file first"},
      {{"plan", "folder.md"}, "folder.md: cannot read the spec: it is a directory; name a file"},
      {run("folder.toml"), "folder.toml: cannot read the config file: it is a directory; name a "
                           "file"},
      {run("br.toml"), "br.toml: [run] workspace = \"" + (dir.path() / "spec.md").string() +
                           "\" is a file, not a folder; set it to the project's folder"},
  };
  for (const auto& [args, message] : cases) {
    INFO(args[0] << " " << args[1]);
    const auto [exit_code, output] = run_br(dir, args);
    CHECK(exit_code == 2);
    CHECK(output == message + "\n");
    CHECK_FALSE(std::filesystem::exists(dir / "state"));
  }
}

TEST_CASE("bad journals are refused with their exact message and left as they were") {
  // A run's journal: its plan, a ready task, a worker. Each case damages it one way, as a bad
  // disk, an old or newer br, or a copied directory would, and runs br status and br resume.
  struct JournalCase {
    const char* name;
    std::function<void(rocksdb::DB&, std::vector<rocksdb::ColumnFamilyHandle*>&)> damage;
    std::string message;  // the same from br status and br resume (exit 3 from both)
  };
  const auto record = [](const std::string& run_id, RecordBody body) {
    return encode(JournalRecord{0, run_id, 1700000000000, std::move(body)});
  };
  const std::string where = "journal state/journal: ";
  const std::vector<JournalCase> cases = {
      {"a truncated record",
       [&](rocksdb::DB& db, auto& cf) {
         std::string bytes;
         REQUIRE(db.Get({}, cf[0], test::seq_key(2), &bytes).ok());
         // Half the record, less 4 bytes: not a whole number of words, whatever its size.
         REQUIRE(bytes.size() == 144);  // the message below names 144 / 2 - 4 bytes
         REQUIRE(db.Put({}, cf[0], test::seq_key(2), bytes.substr(0, bytes.size() / 2 - 4)).ok());
       },
       where + "record 2: JournalRecord: message of 68 bytes is truncated (not a whole number "
               "of 8-byte words)"},
      {"a record that is not Cap'n Proto",
       [](rocksdb::DB& db, auto& cf) {
         REQUIRE(db.Put({}, cf[0], test::seq_key(3), "\x01\x02 not a record").ok());
       },
       where + "record 3: JournalRecord: message of 15 bytes is truncated (not a whole number "
               "of 8-byte words)"},
      {"a record of another run",
       [&](rocksdb::DB& db, auto& cf) {
         REQUIRE(db.Put({}, cf[0], test::seq_key(3),
                        record("run-b", rec::WorkerJoined{"w1", 2, "10.0.0.2"}))
                     .ok());
       },
       where + "record 3 (workerJoined): record 3 belongs to run 'run-b', not to this "
               "journal's run 'run-a'"},
      {"a missing record",
       [](rocksdb::DB& db, auto& cf) { REQUIRE(db.Delete({}, cf[0], test::seq_key(2)).ok()); },
       where + "gap: record 3 where 2 was expected"},
      {"a key that is not a sequence number",
       [](rocksdb::DB& db, auto& cf) { REQUIRE(db.Put({}, cf[0], "zzz", "x").ok()); },
       where + "has a record with a malformed key"},
      {"a transition the run cannot make",
       [&](rocksdb::DB& db, auto& cf) {
         REQUIRE(db.Put({}, cf[0], test::seq_key(4),
                        record("run-a", rec::TaskSucceeded{TaskId("trails/02-backend"), 1,
                                                              "w1", {}}))
                     .ok());
       },
       where + "record 4 (taskSucceeded): taskSucceeded: task 'trails/02-backend' cannot go "
               "from pending to succeeded"},
      {"a newer journal schema",
       [](rocksdb::DB& db, auto& cf) {
         REQUIRE(db.Put({}, cf[1], "schema_version", std::to_string(kJournalSchemaVersion + 1))
                     .ok());
       },
       where + "was written by a newer br (journal schema " +
           std::to_string(kJournalSchemaVersion + 1) + ", this br reads up to " +
           std::to_string(kJournalSchemaVersion) + "); upgrade br"},
      {"no run id",
       [](rocksdb::DB& db, auto& cf) { REQUIRE(db.Delete({}, cf[1], "run_id").ok()); },
       where + "has no run id: not a br journal, or created by a br that crashed before its "
               "first write; remove it or use another --state-dir"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir dir("br-bad");
    std::filesystem::create_directories(dir / "state");
    {
      JournalOptions options;
      options.run_id = "run-a";
      auto journal = Journal::open(dir / "state/journal", options);
      REQUIRE(journal.ok());
      REQUIRE((*journal)
                  ->append({JournalRecord{0, "", 1, rec::PlanCreated{test::sample_plan(), "s.md",
                                                                     "ab"}},
                            JournalRecord{0, "", 2, rec::TaskReady{TaskId("trails/01-schema")}},
                            JournalRecord{0, "", 3, rec::WorkerJoined{"w1", 2, "local"}}})
                  .ok());
    }
    test::with_rocksdb(dir / "state/journal", c.damage);
    const auto before = test::journal_contents(dir / "state/journal");
    std::ofstream(dir / "ok.toml") << kAgent;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--state-dir", "state", "status"},
          std::vector<std::string>{"--state-dir", "state", "resume", "--config", "ok.toml"}}) {
      INFO(args[2]);
      const auto [exit_code, output] = run_br(dir, args);
      CHECK(exit_code == 3);
      CHECK(output == c.message + "\n");
    }
    CHECK(test::journal_contents(dir / "state/journal") == before);
  }
}

TEST_CASE("bad network input is refused with its exact message while the coordinator serves on") {
  // Each row is one peer: a hello that must be refused, or a message that must be dropped. The
  // probe prints what the coordinator answered; the coordinator logs what it refused or
  // dropped. A real worker then finishes the run: nothing a bad peer sent stopped it.
  struct NetCase {
    const char* name;
    std::vector<std::string> probe_args;  // after HOST PORT
    std::string probe_says;               // the probe's whole output
    std::string coordinator_logs;         // one line of the coordinator's output, after "br: "
                                          // (and before " (from ADDRESS:PORT)" for a refusal)
  };
  const std::string token_reason =
      "wrong or missing token (set BR_TOKEN to the coordinator's token)";
  const std::string version = std::to_string(kProtocolVersion);
  // Cap'n Proto's own words for the probe's 16 garbage bytes.
  const std::string garbage_hello =
      "WorkerHello: malformed: expected array.size() >= offset [2 >= 268468101]; Message ends "
      "prematurely in segment table.";
  const std::vector<NetCase> cases = {
      {"wrong token", {"--token", "a-wrong-guess-000", "--name", "p1"}, "refused: " + token_reason,
       "refused a worker 'p1': " + token_reason},
      {"no token", {"--name", "p2"}, "refused: " + token_reason,
       "refused a worker 'p2': " + token_reason},
      {"another protocol version", {"--version", "1", "--token", "the-right-token-16", "--name", "p3"},
       "refused: protocol version 1 is not this coordinator's " + version +
           "; run the same br version on coordinator and workers",
       "refused a worker 'p3': protocol version 1 is not this coordinator's " + version +
           "; run the same br version on coordinator and workers"},
      {"no slots", {"--slots", "0", "--token", "the-right-token-16", "--name", "p4"},
       "refused: slots must be 1 to 1024, not 0", "refused a worker 'p4': slots must be 1 to "
                                                  "1024, not 0"},
      {"a hello that is not Cap'n Proto", {"--garbage"},
       "refused: malformed hello: " + garbage_hello, "refused a worker: malformed hello: " +
                                                         garbage_hello},
      {"a result before any hello", {"--no-hello", "--token", "a-wrong-guess-000", "--then", "result"},
       "sent result", "dropped a result from an actor that has not said hello"},
      {"a work request before any hello", {"--no-hello", "--token", "a-wrong-guess-000", "--then", "work"},
       "sent work", "dropped a work request from an actor that has not said hello"},
      {"a malformed result", {"--token", "the-right-token-16", "--name", "p8", "--then", "result"},
       "accepted\nsent result", "dropped a message from p8: TaskResult: message of 7 bytes is "
                                "truncated (not a whole number of 8-byte words)"},
      {"an oversized progress report",
       {"--token", "the-right-token-16", "--name", "p9", "--then", "started", "--payload", "oversized"},
       "accepted\nsent started",
       "dropped a message from p9: TaskProgress: message of 17825792 bytes exceeds the limit of "
       "16777216 bytes"},
      {"a message of a kind the front does not take",
       {"--token", "the-right-token-16", "--name", "p10", "--then", "untyped"}, "accepted\nsent untyped",
       "dropped a message of a kind the coordinator does not take, from p10"},
  };
  test::TempDir dir("br-bad-net");
  std::ofstream(dir / "spec.md") << kSpec;
  std::ofstream(dir / "br.toml") << kAgent;
  test::Child coordinator(dir.str(), "coordinator.log",
                          {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                           "127.0.0.1:0", "--state-dir", "state"},
                          {{"BR_TOKEN", "the-right-token-16"}});
  std::string port;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (port.empty() && std::chrono::steady_clock::now() < deadline) {
    const std::string out = coordinator.output();
    const auto at = out.find("listening on 127.0.0.1:");
    const auto end = at == std::string::npos ? at : out.find('\n', at);
    if (end != std::string::npos) port = out.substr(at + 23, end - at - 23);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded by deadline
  }
  REQUIRE_FALSE(port.empty());
  for (const auto& c : cases) {
    INFO(c.name);
    std::vector<std::string> argv = {BR_HELLO_PROBE, "127.0.0.1", port};
    argv.insert(argv.end(), c.probe_args.begin(), c.probe_args.end());
    test::Child probe(dir.str(), "probe.log", argv);
    probe.wait(std::chrono::seconds(30));
    CHECK(probe.output() == c.probe_says + "\n");
    // A refusal names the connection it came on, so a flood can be traced.
    const bool refused = c.probe_says.rfind("refused: ", 0) == 0;
    CHECK_THAT(coordinator.output(),
               Catch::Contains("br: " + c.coordinator_logs +
                               (refused ? " (from 127.0.0.1:" : "\n")));
  }
  test::Child worker(dir.str(), "worker.log",
                     {BR_WORKER, "--connect", "127.0.0.1:" + port, "--config", "br.toml",
                      "--workspace", "ws", "--name", "good", "--state-dir", "ws-state"},
                     {{"BR_TOKEN", "the-right-token-16"}});
  INFO(coordinator.output());
  CHECK(coordinator.wait(std::chrono::seconds(90)) == 0);
  CHECK(worker.wait(std::chrono::seconds(30)) == 0);
  CHECK_THAT(coordinator.output(), Catch::Contains("succeeded: "));
  CHECK_THAT(coordinator.output(), Catch::Contains(" succeeded, 0 failed, 0 blocked, 0 cancelled"));
}
