#include "actors/worker/verifier.hpp"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "../support/temp_dir.hpp"
#include "protocol/acceptance_criterion.hpp"
#include "actors/worker/prompt_builder.hpp"

using namespace br;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

VerifyRequest request(const test::TempDir& dir, std::vector<std::string> files,
                      const std::vector<std::string>& acceptance = {}) {
  VerifyRequest r;
  r.workspace = dir.path();
  r.files = std::move(files);
  r.acceptance = criteria_of(acceptance);
  r.before = snapshot_files(dir.path(), r.files);
  r.log_file = dir.path() / ".br" / "verify.log";
  return r;
}

VerifyConfig config() {
  VerifyConfig c;
  c.timeout_ms = 30000;
  return c;
}

bool has_failure(const Verification& v, const std::string& part) {
  for (const auto& f : v.failures) {
    if (f.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("criteria are recognised in their machine-checkable forms") {
  auto f = parse_criterion("  `file: src/a.py`  ");
  REQUIRE(f.ok());
  REQUIRE(f.value());
  CHECK(f.value()->kind == CriterionKind::file);
  CHECK(f.value()->path == "src/a.py");

  auto c = parse_criterion("Contains: migrations/001.sql ~ \"CREATE TABLE links\"");
  REQUIRE(c.ok());
  REQUIRE(c.value());
  CHECK(c.value()->path == "migrations/001.sql");
  CHECK(c.value()->text == "CREATE TABLE links");
  CHECK(to_string(*c.value()) == "contains: migrations/001.sql ~ CREATE TABLE links");

  auto r = parse_criterion("run: python3 -m pytest -q");
  REQUIRE(r.ok());
  REQUIRE(r.value());
  CHECK(r.value()->command == "python3 -m pytest -q");

  auto prose = parse_criterion("A run lists its obstacles in order");
  REQUIRE(prose.ok());
  CHECK_FALSE(prose.value());

  CHECK_FALSE(parse_criterion("contains: a.py without tilde").ok());
  CHECK_FALSE(parse_criterion("file:").ok());
}

TEST_CASE("the worker checks criteria by their type, as the planner typed them") {
  test::TempDir dir("br-verify");
  write(dir.path() / "a.py", "def main(): pass\n");
  VerifyRequest req = request(dir, {});
  // Text that reads like a file: criterion but was typed prose stays prose: not re-parsed.
  req.acceptance = {prose_criterion("file: missing.txt"),
                    Criterion{CriterionKind::contains, "a.py", "def main", ""},
                    Criterion{CriterionKind::file, "b.py", "", ""}};
  auto v = verify(config(), req);
  CHECK(v.unchecked == std::vector<std::string>{"file: missing.txt"});
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures[0] == "criterion 'file: b.py' failed: b.py does not exist");
  CHECK(prose_criteria(req.acceptance) == std::vector<std::string>{"file: missing.txt"});
}

TEST_CASE("run: commands are split with simple shell-like quoting and no shell") {
  struct Case {
    std::string line;
    std::vector<std::string> argv;
  };
  const Case cases[] = {
      {"test -f a.py", {"test", "-f", "a.py"}},
      {"  grep  -q 'two words'  file ", {"grep", "-q", "two words", "file"}},
      {R"(echo "a \"quoted\" \\ word" x)", {"echo", R"(a "quoted" \ word)", "x"}},
      {R"(echo a\ b 'it''s')", {"echo", "a b", "its"}},
      {"echo $HOME | cat && rm", {"echo", "$HOME", "|", "cat", "&&", "rm"}},
      {R"(echo "")", {"echo", ""}},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    auto argv = split_command_line(c.line);
    REQUIRE(argv.ok());
    CHECK(argv.value() == c.argv);
  }
  for (const std::string bad : {"echo 'open", "echo \"open", "echo \\", "   "}) {
    INFO(bad);
    CHECK_FALSE(split_command_line(bad).ok());
  }
}

TEST_CASE("a missing expected file fails verification") {
  test::TempDir dir("br-verify");
  auto req = request(dir, {"src/a.py", "src/b.py"});
  write(dir.path() / "src/a.py", "x = 1\n");
  auto v = verify(config(), req);
  CHECK_FALSE(v.ok());
  CHECK(v.failures == std::vector<std::string>{"expected file src/b.py is missing"});
  CHECK(v.produced == std::vector<std::string>{"src/a.py"});
}

TEST_CASE("an expected file unchanged since dispatch fails verification") {
  test::TempDir dir("br-verify");
  write(dir.path() / "old.py", "x = 1\n");
  write(dir.path() / "rewritten.py", "x = 1\n");
  auto req = request(dir, {"old.py", "rewritten.py"});
  write(dir.path() / "rewritten.py", "x = 2\n");  // same size, new content
  auto v = verify(config(), req);
  CHECK(v.failures ==
        std::vector<std::string>{"expected file old.py was not changed since dispatch"});
  CHECK(v.produced == std::vector<std::string>{"rewritten.py"});
}

TEST_CASE("check_command and test_command must exit 0") {
  test::TempDir dir("br-verify");
  auto req = request(dir, {});
  auto cfg = config();
  cfg.check_command = {"/bin/sh", "-c", "echo checking; exit 3"};
  cfg.test_command = {"true"};
  auto v = verify(cfg, req);
  REQUIRE(v.failures.size() == 1);
  CHECK(has_failure(v, "check_command `/bin/sh -c echo checking; exit 3` exited with code 3"));
  CHECK(has_failure(v, "verify.log"));
  CHECK(read(req.log_file).find("checking") != std::string::npos);

  cfg.check_command = {"true"};
  cfg.test_command = {"br-no-such-test-runner"};
  auto v2 = verify(cfg, req);
  CHECK(has_failure(v2, "test_command could not run: cannot run 'br-no-such-test-runner'"));

  cfg.test_command = {"sleep", "100"};
  cfg.timeout_ms = 300;
  auto v3 = verify(cfg, req);
  CHECK(has_failure(v3, "timed out"));
}

TEST_CASE("each criterion kind passes and fails") {
  test::TempDir dir("br-verify");
  write(dir.path() / "migrations/001.sql", "CREATE TABLE links (id INTEGER);\n");
  struct Case {
    std::string criterion;
    bool passes;
    std::string reason;
  };
  const Case cases[] = {
      {"`file: migrations/001.sql`", true, ""},
      {"file: migrations/002.sql", false, "migrations/002.sql does not exist"},
      {"contains: migrations/001.sql ~ CREATE TABLE links", true, ""},
      {"contains: migrations/001.sql ~ CREATE TABLE tags", false,
       "does not contain 'CREATE TABLE tags'"},
      {"contains: migrations/none.sql ~ x", false, "does not exist"},
      {"run: grep -q 'TABLE links' migrations/001.sql", true, ""},
      {"run: sh -c 'exit 4'", false, "exited with code 4"},
      {"run: br-no-such-checker", false, "cannot run 'br-no-such-checker'"},
      {"run: echo 'unterminated", false, "unterminated single quote"},
      {"Links load fast", true, ""},
  };
  for (const auto& c : cases) {
    INFO(c.criterion);
    auto v = verify(config(), request(dir, {}, {c.criterion}));
    CHECK(v.ok() == c.passes);
    if (!c.passes) CHECK(has_failure(v, c.reason));
  }
  auto prose = verify(config(), request(dir, {}, {"Links load fast"}));
  CHECK(prose.unchecked == std::vector<std::string>{"Links load fast"});
}

TEST_CASE("a host whose config does not allow run: criteria fails them without running them") {
  test::TempDir dir("br-verify");
  const std::string marker = (dir.path() / "ran").string();
  VerifyRequest req = request(dir, {}, {"run: touch " + marker, "file: missing.txt"});
  req.worker = "w1/0";
  req.allow_run_criteria = false;
  auto refused = verify(config(), req);
  CHECK_FALSE(fs::exists(marker));
  REQUIRE(refused.failures.size() == 2);  // the other criteria are still checked
  CHECK(refused.failures[0] ==
        "criterion 'run: touch " + marker +
            "' was not run: worker w1/0 does not allow run: criteria (set [verify] "
            "allow_run_criteria = true in its own config to run the spec's commands there)");
  CHECK(has_failure(refused, "missing.txt does not exist"));

  req.allow_run_criteria = true;
  auto allowed = verify(config(), req);
  CHECK(fs::exists(marker));
  REQUIRE(allowed.failures.size() == 1);
  CHECK(has_failure(allowed, "missing.txt does not exist"));
}

TEST_CASE("what a run: criterion leaves running in its process group is killed when it returns") {
  test::TempDir dir("br-verify");
  const fs::path pid_file = dir.path() / "child.pid";
  auto v = verify(config(), request(dir, {}, {"run: sh -c 'sleep 60 & echo $! > child.pid'"}));
  CHECK(v.ok());
  const int child = std::stoi(read(pid_file));
  // Killed with SIGKILL: gone, or a zombie its new parent has not reaped yet.
  const auto dead = [&] {
    const std::string stat = read("/proc/" + std::to_string(child) + "/stat");
    const auto state = stat.rfind(')');
    return stat.empty() || (state != std::string::npos && stat.substr(state + 2, 1) == "Z");
  };
  bool gone = dead();
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    gone = dead();
  }
  CHECK(gone);
}

TEST_CASE("paths that escape the workspace are rejected with a reason") {
  test::TempDir dir("br-verify");
  fs::create_directories(dir.path() / "ws");
  write(dir.path() / "outside.txt", "secret\n");
  fs::create_symlink(dir.path(), dir.path() / "ws" / "link");
  test::TempDir unused("br-verify");
  VerifyRequest req;
  req.workspace = dir.path() / "ws";
  req.log_file = dir.path() / "verify.log";
  req.files = {"../outside.txt", "/etc/passwd"};
  req.acceptance = criteria_of({"file: ../outside.txt", "contains: /etc/passwd ~ root",
                                "contains: link/outside.txt ~ secret"});
  auto v = verify(config(), req);
  REQUIRE(v.failures.size() == 5);
  CHECK(v.failures[0].find("escapes the workspace") != std::string::npos);
  CHECK(v.failures[1].find("is absolute") != std::string::npos);
  CHECK(v.failures[2].find("escapes the workspace") != std::string::npos);
  CHECK(v.failures[3].find("is absolute") != std::string::npos);
  CHECK(v.failures[4].find("through a symlink") != std::string::npos);
  CHECK(v.produced.empty());
}

TEST_CASE("the demo agent builds the expected files from a real prompt and they verify") {
  test::TempDir dir("br-demo");
  const fs::path ws = dir.path() / "workspace";
  fs::create_directories(ws);
  Batch b;
  b.id = BatchId("b-1");
  b.project = "Link Shelf: a bookmarks service";
  Task storage;
  storage.id = TaskId("storage/01-database");
  storage.title = "Schema";
  storage.description = "Create the schema.";
  storage.files = {"migrations/001_init.sql", "linkshelf/store.py"};
  storage.acceptance = criteria_of({"A fresh database has all four tables",
                                    "`file: migrations/001_init.sql`",
                                    "`contains: migrations/001_init.sql ~ CREATE TABLE links`",
                                    "contains: docs/notes.md ~ schema notes"});
  Task docs;
  docs.id = TaskId("storage/02-docs");
  docs.title = "Docs";
  docs.files = {"docs/storage.md"};
  b.tasks = {BatchTask{storage, 2}, BatchTask{docs, 1}};
  auto prompt = build_prompt(b, {});
  REQUIRE(prompt.ok());

  std::vector<std::string> all_files = {"migrations/001_init.sql", "linkshelf/store.py",
                                        "docs/storage.md"};
  const auto before = snapshot_files(ws, all_files);
  const std::string ledger = (dir.path() / "ledger.txt").string();
  ::setenv("BR_DEMO_LEDGER", ledger.c_str(), 1);

  AgentConfig agent;
  agent.command = {BR_SOURCE_DIR "/deploy/demo-agent"};
  agent.timeout_ms = 60000;
  agent.env_allow = {"BR_DEMO_LEDGER", "BR_DEMO_FAIL_TASKS"};
  AgentRun run;
  run.workspace = ws;
  run.prompt = prompt->text;
  run.prompt_file = dir.path() / "state" / "prompt.md";
  run.log_file = dir.path() / "state" / "agent.log";
  run.batch = b.id;
  run.tasks = {storage.id, docs.id};
  run.attempts = {2, 1};
  auto outcome = run_agent(agent, run);
  REQUIRE(outcome.ok());
  INFO(read(run.log_file));
  CHECK(outcome->success());

  VerifyConfig cfg = config();
  cfg.check_command = {BR_SOURCE_DIR "/deploy/demo-check"};
  for (const auto& bt : b.tasks) {
    VerifyRequest req;
    req.workspace = ws;
    req.files = bt.task.files;
    req.acceptance = bt.task.acceptance;
    req.before = before;
    req.log_file = run.log_file;
    auto v = verify(cfg, req);
    INFO(bt.task.id.str());
    for (const auto& f : v.failures) INFO(f);
    CHECK(v.ok());
    CHECK(v.produced == bt.task.files);
  }
  CHECK(read(ledger) == "storage/01-database 2\nstorage/02-docs 1\n");

  // A task the agent is told to fail leaves its files unwritten and the agent exits 1.
  fs::remove_all(ws);
  fs::create_directories(ws);
  ::setenv("BR_DEMO_FAIL_TASKS", "storage/02-docs", 1);
  auto failed = run_agent(agent, run);
  ::unsetenv("BR_DEMO_FAIL_TASKS");
  ::unsetenv("BR_DEMO_LEDGER");
  REQUIRE(failed.ok());
  CHECK(failed->exited);
  CHECK(failed->exit_code == 1);
  CHECK(fs::exists(ws / "linkshelf/store.py"));
  CHECK_FALSE(fs::exists(ws / "docs/storage.md"));
  CHECK(read(ledger) == "storage/01-database 2\nstorage/02-docs 1\nstorage/01-database 2\n");

  // demo-check notices a broken workspace.
  write(ws / ".br-demo-check-fail", "");
  VerifyRequest req;
  req.workspace = ws;
  req.log_file = run.log_file;
  auto v = verify(cfg, req);
  CHECK(has_failure(v, "check_command"));
}
