#include "actors/worker/agent_runner.hpp"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "../support/temp_dir.hpp"
#include "actors/worker/file_monitor.hpp"

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ProcessSpec shell(const test::TempDir& dir, const std::string& script,
                  std::int64_t timeout_ms = 0) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.cwd = dir.path();
  spec.env = clean_environment({});
  spec.log_file = dir.path() / "logs" / "run.log";
  spec.timeout_ms = timeout_ms;
  spec.kill_grace_ms = 300;
  return spec;
}

// Gone, or a zombie waiting for init to reap it: either way no longer running.
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' ||
         line[paren + 2] == 'X';
}

bool wait_gone(pid_t pid, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (process_gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a condition, bounded
  }
  return process_gone(pid);
}

pid_t read_pid(const fs::path& p) {
  std::ifstream in(p);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

}  // namespace

TEST_CASE("the agent gets a clean environment with br's variables") {
  test::TempDir dir("br-runner");
  ::setenv("BR_TEST_SECRET", "do-not-leak", 1);
  ::setenv("BR_TEST_ALLOWED", "passed", 1);
  AgentConfig config;
  config.command = {"/bin/sh", "-c", "env > env.txt"};
  config.timeout_ms = 30000;
  config.env_allow = {"BR_TEST_ALLOWED", "BR_TEST_UNSET"};
  AgentRun run;
  run.workspace = dir.path();
  run.prompt = "hello";
  run.prompt_file = dir.path() / ".br" / "prompt.md";
  run.log_file = dir.path() / ".br" / "agent.log";
  run.batch = BatchId("b-1");
  run.tasks = {TaskId("a/01"), TaskId("a/02")};
  run.attempts = {1, 3};
  auto r = run_agent(config, run);
  REQUIRE(r.ok());
  CHECK(r->success());
  const std::string env = read(dir.path() / "env.txt");
  CHECK(env.find("BR_BATCH_ID=b-1\n") != std::string::npos);
  CHECK(env.find("BR_TASK_IDS=a/01 a/02\n") != std::string::npos);
  CHECK(env.find("BR_ATTEMPTS=1 3\n") != std::string::npos);
  CHECK(env.find("BR_PROMPT_FILE=" + (dir.path() / ".br" / "prompt.md").string() + "\n") !=
        std::string::npos);
  CHECK(env.find("BR_TEST_ALLOWED=passed\n") != std::string::npos);
  CHECK(env.find("PATH=") != std::string::npos);
  CHECK(env.find("BR_TEST_SECRET") == std::string::npos);
  CHECK(env.find("BR_TEST_UNSET") == std::string::npos);
  // Nothing beyond the documented names (the shell itself adds PWD, SHLVL and _).
  std::istringstream lines(env);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string name = line.substr(0, line.find('='));
    INFO(name);
    CHECK((name == "PATH" || name == "HOME" || name == "LANG" || name == "BR_TEST_ALLOWED" ||
           name.rfind("BR_", 0) == 0 || name == "PWD" || name == "SHLVL" || name == "_"));
  }
  ::unsetenv("BR_TEST_SECRET");
  ::unsetenv("BR_TEST_ALLOWED");
}

TEST_CASE("the prompt arrives on stdin and in the prompt file, never in argv") {
  test::TempDir dir("br-runner");
  std::string prompt = "line one $(touch pwned) `touch pwned2` 'quoted' \"dq\"\n";
  for (int i = 0; i < 20000; ++i) prompt += "filler line " + std::to_string(i) + "\n";  // > pipe
  AgentConfig config;
  config.command = {"/bin/sh", "-c", "cat > stdin.txt; cat \"$BR_PROMPT_FILE\" > file.txt"};
  config.timeout_ms = 30000;
  AgentRun run;
  run.workspace = dir.path();
  run.prompt = prompt;
  run.prompt_file = dir.path() / "p" / "prompt.md";
  run.log_file = dir.path() / "agent.log";
  run.batch = BatchId("b-2");
  auto r = run_agent(config, run);
  REQUIRE(r.ok());
  CHECK(r->success());
  CHECK(read(dir.path() / "stdin.txt") == prompt);
  CHECK(read(dir.path() / "file.txt") == prompt);
  CHECK_FALSE(fs::exists(dir.path() / "pwned"));
  CHECK_FALSE(fs::exists(dir.path() / "pwned2"));
}

TEST_CASE("a prompt that cannot be written says which file and the OS error") {
  // /dev/full takes the open and refuses every write, as a full disk does.
  auto full = write_prompt_file("/dev/full", "a prompt");
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().str() == "cannot write /dev/full: No space left on device");
  test::TempDir dir("br-runner");
  auto written = write_prompt_file(dir.path() / "prompts" / "b-1.md", "a prompt");
  REQUIRE(written.ok());
  CHECK(read(dir.path() / "prompts" / "b-1.md") == "a prompt");
}

TEST_CASE("an agent that does not read its stdin still runs") {
  test::TempDir dir("br-runner");
  auto spec = shell(dir, "exit 0");
  spec.stdin_text = std::string(1 << 20, 'x');
  auto r = run_process(spec);
  REQUIRE(r.ok());
  CHECK(r->success());
}

TEST_CASE("exit codes and signals are reported") {
  test::TempDir dir("br-runner");
  auto r = run_process(shell(dir, "echo out; echo err >&2; exit 7"));
  REQUIRE(r.ok());
  CHECK(r->exited);
  CHECK(r->exit_code == 7);
  CHECK_FALSE(r->success());
  CHECK(r->describe() == "exited with code 7");
  const std::string log = read(dir.path() / "logs" / "run.log");
  CHECK(log.find("out\n") != std::string::npos);
  CHECK(log.find("err\n") != std::string::npos);

  auto k = run_process(shell(dir, "kill -9 $$"));
  REQUIRE(k.ok());
  CHECK_FALSE(k->exited);
  CHECK(k->signal == SIGKILL);
}

TEST_CASE("a hanging agent is killed at its timeout together with its children") {
  test::TempDir dir("br-runner");
  const auto start = Clock::now();
  auto r = run_process(shell(dir, "sleep 100 & echo $! > child.pid; sleep 100", 1000));
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK_FALSE(r->success());
  CHECK(Clock::now() - start < std::chrono::seconds(30));
  const pid_t child = read_pid(dir.path() / "child.pid");
  REQUIRE(child > 0);
  CHECK(wait_gone(child, std::chrono::seconds(10)));
  CHECK(r->describe(1000).find("timed out after 1000 ms") == 0);
}

TEST_CASE("an agent that ignores SIGTERM is killed after the grace") {
  test::TempDir dir("br-runner");
  auto r = run_process(
      shell(dir, "trap '' TERM; sleep 100 & echo $! > child.pid; while :; do sleep 1; done", 500));
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(r->signal == SIGKILL);
  const pid_t child = read_pid(dir.path() / "child.pid");
  REQUIRE(child > 0);
  CHECK(wait_gone(child, std::chrono::seconds(10)));
}

TEST_CASE("children left behind by an agent that exited are killed") {
  test::TempDir dir("br-runner");
  auto r = run_process(shell(dir, "sleep 100 & echo $! > child.pid; exit 0"));
  REQUIRE(r.ok());
  CHECK(r->success());
  const pid_t child = read_pid(dir.path() / "child.pid");
  REQUIRE(child > 0);
  CHECK(wait_gone(child, std::chrono::seconds(10)));
}

TEST_CASE("cancel from another thread stops the agent and its children") {
  test::TempDir dir("br-runner");
  CancelSource cancel;
  Result<ProcessOutcome> result = Error::of("not run");
  const auto start = Clock::now();
  std::thread runner([&] {
    result = run_process(
        shell(dir, "sleep 100 & echo $! > child.pid; touch started; sleep 100", 600000), &cancel);
  });
  auto seen = wait_for_files(dir.path(), {"started"}, 20000);
  REQUIRE(seen.ok());
  CHECK(seen->all_present());
  cancel.cancel();
  runner.join();
  REQUIRE(result.ok());
  CHECK(result->cancelled);
  CHECK_FALSE(result->timed_out);
  CHECK_FALSE(result->success());
  CHECK(Clock::now() - start < std::chrono::seconds(30));
  CHECK(wait_gone(read_pid(dir.path() / "child.pid"), std::chrono::seconds(10)));
}

TEST_CASE("a run cancelled before it starts ends at once") {
  test::TempDir dir("br-runner");
  CancelSource cancel;
  cancel.cancel();
  cancel.cancel();  // idempotent
  auto r = run_process(shell(dir, "sleep 100", 600000), &cancel);
  REQUIRE(r.ok());
  CHECK(r->cancelled);
}

TEST_CASE("output goes to the log file and stops at the size cap") {
  test::TempDir dir("br-runner");
  auto spec = shell(dir, "head -c 1000000 /dev/zero | tr '\\0' x; echo done-writing >&2");
  spec.log_max_bytes = 10000;
  auto r = run_process(spec);
  REQUIRE(r.ok());
  CHECK(r->success());  // the child was never blocked by the cap
  CHECK(r->log_truncated);
  const auto size = fs::file_size(spec.log_file);
  CHECK(size >= 10000);
  CHECK(size < 10000 + 1000);  // br's own notes only
  const std::string log = read(spec.log_file);
  CHECK(log.find("[br: output truncated at 10000 bytes of log]") != std::string::npos);
  CHECK(log.find("done-writing\n") == std::string::npos);  // only in the command line
}

TEST_CASE("the outcome names the last non-empty line of the output, also past the log's cap") {
  test::TempDir dir("br-runner");
  auto spec = shell(dir, "head -c 100000 /dev/zero | tr '\\0' x; echo; "
                         "printf 'model API returned \\033[31m529\\033[0m overloaded\\r\\n\\n  \\n' >&2;"
                         " exit 1");
  spec.log_max_bytes = 1000;
  auto r = run_process(spec);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 1);
  CHECK(r->last_line == "model API returned 529 overloaded");

  auto silent = run_process(shell(dir, "true"));
  REQUIRE(silent.ok());
  CHECK(silent->last_line.empty());
}

TEST_CASE("an agent's usage is read in its output format, its final message gives the last line") {
  test::TempDir dir("br-runner");
  const std::string claude =
      R"(printf '%s\n' '{"type":"result","num_turns":2,"result":"Wrote it.\nTests fail: 3","total_cost_usd":0.5,"usage":{"input_tokens":10,"output_tokens":20}}')";
  auto spec = shell(dir, claude);
  spec.usage_format = AgentOutput::claude_json;
  auto r = run_process(spec);
  REQUIRE(r.ok());
  CHECK(r->usage.known);
  CHECK(r->usage.cost_micro_usd == 500000);
  CHECK(r->usage.tokens_out == 20);
  CHECK(r->last_line == "Tests fail: 3");
  CHECK(read(spec.log_file).find("\"total_cost_usd\":0.5") != std::string::npos);  // log as-is

  SECTION("a malformed record: usage unknown, the outcome otherwise the same") {
    auto bad = shell(dir, R"(echo '{"type":"result","usage":{"input_tokens":"x"}}'; exit 3)");
    bad.usage_format = AgentOutput::claude_json;
    auto b = run_process(bad);
    REQUIRE(b.ok());
    CHECK_FALSE(b->usage.known);
    CHECK(b->exit_code == 3);
    CHECK(b->last_line == R"({"type":"result","usage":{"input_tokens":"x"}})");
  }
  SECTION("without a format (a check command) nothing is read") {
    auto check = shell(dir, "echo 'BR-USAGE: tokens_in=1 tokens_out=2'");
    auto c = run_process(check);
    REQUIRE(c.ok());
    CHECK_FALSE(c->usage.known);
  }
}

TEST_CASE("the last line is bounded, cut at a character boundary") {
  LastLine line;
  const std::string long_line = "é" + std::string(300, 'x');
  line.feed(long_line.data(), long_line.size());
  CHECK(line.get() == "é" + std::string(LastLine::kMaxBytes - 2, 'x') + "…");
  LastLine cut;
  std::string text(LastLine::kMaxBytes - 1, 'a');
  text += "éé\n";  // the limit falls inside the first é
  cut.feed(text.data(), text.size());
  CHECK(cut.get() == std::string(LastLine::kMaxBytes - 1, 'a') + "…");
  LastLine chunks;  // a line split over reads
  chunks.feed("first\nsec", 10);
  chunks.feed("ond\t line  \n", 13);
  CHECK(chunks.get() == "second  line");
}

TEST_CASE("a command that does not exist is a clear error naming it") {
  test::TempDir dir("br-runner");
  auto spec = shell(dir, "");
  spec.argv = {"br-no-such-agent-xyz", "--flag"};
  auto r = run_process(spec);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str().find("cannot run 'br-no-such-agent-xyz'") != std::string::npos);
  CHECK(r.error().str().find("not found") != std::string::npos);

  spec.argv = {"./missing/agent"};
  auto r2 = run_process(spec);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().str().find("'./missing/agent'") != std::string::npos);

  spec.argv.clear();
  CHECK_FALSE(run_process(spec).ok());

  spec.argv = {"/bin/true"};
  spec.cwd = dir.path() / "no-such-dir";
  auto r3 = run_process(spec);
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().str().find("does not exist") != std::string::npos);
}

TEST_CASE("a file that is there but not executable is a permission error") {
  test::TempDir dir("br-runner");
  {
    std::ofstream(dir.path() / "agent") << "#!/bin/sh\nexit 0\n";
  }
  auto spec = shell(dir, "");
  spec.argv = {(dir.path() / "agent").string()};
  auto r = run_process(spec);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().str(), Catch::Contains("permission denied (is it executable?)"));
}

TEST_CASE("a command that cannot be executed says why, in the error and in the log") {
  test::TempDir dir("br-runner");
  {
    std::ofstream(dir.path() / "plain") << "#!/bin/sh\nexit 0\n";
    std::ofstream(dir.path() / "garbage") << std::string("\x01\x02\x03 not a program\n");
    fs::create_directories(dir.path() / "a-dir");
    fs::create_directories(dir.path() / "bin");
    std::ofstream(dir.path() / "bin" / "br-test-agent") << "#!/bin/sh\nexit 0\n";
  }
  ::chmod((dir.path() / "garbage").c_str(), 0755);
  const std::string path = ::getenv("PATH");
  const std::string in_bin = dir.str() + "/bin:" + dir.str() + "/none";
  struct Case {
    const char* what;
    std::string command;
    std::string path_env;  // br's PATH while it runs
    std::string why;
  };
  const Case cases[] = {
      {"a name not in PATH", "br-no-such-agent-xyz", path,
       "command not found in PATH (" + path + ")"},
      {"a path that does not exist", dir / "missing", path, "no such file"},
      {"a file without the exec bit", dir / "plain", path, "permission denied (is it executable?)"},
      {"a directory", dir / "a-dir", path, "permission denied (is it executable?)"},
      {"a file in no format the kernel runs", dir / "garbage", path, std::strerror(ENOEXEC)},
      // The first candidate that is there but cannot run wins over later ones not found.
      {"a name in PATH that cannot run", "br-test-agent", in_bin,
       "permission denied (is it executable?)"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto spec = shell(dir, "");
    spec.argv = {c.command, "--flag"};
    ::setenv("PATH", c.path_env.c_str(), 1);
    auto r = run_process(spec);
    ::setenv("PATH", path.c_str(), 1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().str() == "cannot run '" + c.command + "': " + c.why +
                                 "; check the command in br.toml and that it is installed");
    CHECK_THAT(read(spec.log_file),
               Catch::Contains("[br] cannot run '" + c.command + "': " + c.why + "\n"));
  }
}

TEST_CASE("agents start from threads while another thread allocates") {
  // The child runs in br's memory until it execs: it must neither need a lock another
  // thread holds (malloc's) nor be disturbed by mappings coming and going beside it.
  test::TempDir dir("br-runner");
  std::atomic<bool> stop{false};
  std::thread allocator([&] {
    std::vector<std::unique_ptr<char[]>> held(64);
    for (std::size_t i = 0; !stop.load(); ++i) {
      const std::size_t size = std::size_t{16} << (i % 17);    // 16 B to 1 MiB: heap and mmap
      held[i % held.size()] = std::make_unique<char[]>(size);  // zeroed, so touched
    }
  });
  constexpr int kSpawners = 2;
  constexpr int kRuns = 20;
  std::atomic<int> exited_right{0};
  std::atomic<int> missing_reported{0};
  std::vector<std::thread> spawners;
  for (int t = 0; t < kSpawners; ++t) {
    spawners.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        const int code = t * kRuns + i;
        auto spec = shell(dir, "read line; test \"$line\" = hello && exit " + std::to_string(code));
        spec.stdin_text = "hello\n";
        spec.log_file = dir.path() / ("spawner-" + std::to_string(t) + ".log");
        auto r = run_process(spec);
        if (r.ok() && r->exited && r->exit_code == code) ++exited_right;
        spec.argv = {"br-no-such-agent-xyz"};
        auto missing = run_process(spec);
        if (!missing.ok() && missing.error().str().find("not found") != std::string::npos) {
          ++missing_reported;
        }
      }
    });
  }
  for (auto& s : spawners) s.join();
  stop = true;
  allocator.join();
  CHECK(exited_right.load() == kSpawners * kRuns);
  CHECK(missing_reported.load() == kSpawners * kRuns);
}

TEST_CASE("an agent starts with default signal handling and br's signal mask is kept") {
  test::TempDir dir("br-runner");
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_usr1 {};
  ::sigaction(SIGUSR1, &ignore, &old_usr1);
  sigset_t usr2, before, after;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, &before);
  ::pthread_sigmask(SIG_BLOCK, nullptr, &before);

  auto spec = shell(dir, "");
  spec.argv = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"};
  auto r = run_process(spec);
  ::pthread_sigmask(SIG_BLOCK, nullptr, &after);
  auto killed = run_process(shell(dir, "kill -USR1 $$; exit 0"));

  ::pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  REQUIRE(r.ok());
  CHECK(r->success());
  const std::string log = read(spec.log_file);
  CHECK_THAT(log, Catch::Contains("SigBlk:\t0000000000000000\n"));
  CHECK_THAT(log, Catch::Contains("SigIgn:\t0000000000000000\n"));
  for (int sig = 1; sig < NSIG; ++sig) {
    INFO(sig);
    CHECK(sigismember(&after, sig) == sigismember(&before, sig));
  }
  CHECK(sigismember(&after, SIGUSR2) == 1);
  REQUIRE(killed.ok());
  CHECK_FALSE(killed->exited);
  CHECK(killed->signal == SIGUSR1);
}

TEST_CASE("an agent does not outlive the br process that started it") {
  // The case of a coordinator killed with SIGKILL mid-run: its restart launches the next
  // attempt in the same workspace, so the old agent must not run on beside it.
  test::TempDir dir("br-runner");
  const pid_t runner = ::fork();
  REQUIRE(runner >= 0);
  if (runner == 0) {
    (void)run_process(shell(dir, "echo $$ > agent.pid.tmp; mv agent.pid.tmp agent.pid; "
                                 "exec sleep 100",
                            600000));
    ::_exit(0);
  }
  auto seen = wait_for_files(dir.path(), {"agent.pid"}, 20000);
  const pid_t agent = seen.ok() && seen->all_present() ? read_pid(dir.path() / "agent.pid") : 0;
  ::kill(runner, SIGKILL);
  int status = 0;
  ::waitpid(runner, &status, 0);
  REQUIRE(agent > 0);
  CHECK(wait_gone(agent, std::chrono::seconds(10)));
  if (!process_gone(agent)) ::kill(agent, SIGKILL);
}
