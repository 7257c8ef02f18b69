// br-coordinator with br-worker processes on 127.0.0.1: work is shared, intruders (a wrong
// token, garbage bytes) are turned away while the run goes on, and a worker killed mid-batch
// loses no task. Every process is started here and killed on the way out.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <optional>
#include <thread>

#include "protocol/model.hpp"
#include "storage/journal.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
using test::Child;
using test::read_file;
using namespace std::chrono_literals;

namespace {


std::string wait_for_port(const Child& coordinator) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = coordinator.output();
    const auto at = out.find("listening on 127.0.0.1:");
    if (at != std::string::npos) {
      const auto end = out.find('\n', at);
      if (end != std::string::npos) return out.substr(at + 23, end - at - 23);
    }
    std::this_thread::sleep_for(20ms);
  }
  FAIL("the coordinator never listened:\n" << coordinator.output());
  return "";
}

RunState state_of(const std::string& dir) {
  JournalOptions options;
  options.read_only = true;
  auto journal = Journal::open(dir + "/journal", options);
  REQUIRE(journal.ok());
  auto state = (*journal)->replay();
  REQUIRE(state.ok());
  return std::move(state).value();
}

std::string setup(const test::TempDir& dir, const std::string& more_config = "") {
  std::string spec = "# Net\n## Features\n";
  for (int i = 0; i < 6; ++i) {
    spec += "### Piece " + std::to_string(i) + " {#p" + std::to_string(i) + "}\n"
            "Business logic.\n**Files:**\n- src/p" + std::to_string(i) + ".py\n";
  }
  std::ofstream(dir / "spec.md") << spec;
  std::ofstream(dir / "br.toml")
      << "[run]\nbackoff_base = \"100ms\"\nlease = \"60s\"\n[agent]\ncommand = [\""
      << BR_SOURCE_DIR << "/deploy/demo-agent\"]\nenv = [\"BR_DEMO_SLEEP_MS\"]\n"
      << "[verify]\nfile_wait = \"200ms\"\n" << more_config;
  return BR_COORDINATOR;
}

std::vector<std::string> worker_args(const std::string& port, const std::string& name) {
  return {BR_WORKER, "--connect", "127.0.0.1:" + port, "--config", "br.toml", "--workspace",
          "ws-" + name, "--name", name, "--state-dir", "state-" + name, "--slots", "2"};
}

// A socket bound to a free port of 127.0.0.1, closed when it goes; listening with `backlog`
// when one is given (without, the port refuses every connection).
struct HeldPort {
  int fd = -1;
  std::string port;
  explicit HeldPort(std::optional<int> backlog) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (backlog) REQUIRE(::listen(fd, *backlog) == 0);
    socklen_t size = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0);
    port = std::to_string(ntohs(addr.sin_port));
  }
  ~HeldPort() { close(); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

}  // namespace

TEST_CASE("workers on other processes share the run; intruders are refused") {
  test::TempDir dir("br-net");
  setup(dir);
  Child coordinator(dir.str(), "coordinator.log",
                    {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                     "127.0.0.1:0", "--state-dir", "state"},
                    {{"BR_TOKEN", "the-right-token-16"}});
  const std::string port = wait_for_port(coordinator);

  // Garbage on the port: the coordinator drops that connection and serves everyone else.
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::mt19937 rng(7);
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    (void)::write(fd, junk.data(), junk.size());
    ::close(fd);
  }
  Child intruder(dir.str(), "intruder.log", worker_args(port, "intruder"),
                 {{"BR_TOKEN", "a-wrong-guess-000"}});
  const int intruder_exit = intruder.wait(30s);
  INFO("intruder: " << intruder.output() << "\ncoordinator: " << coordinator.output());
  CHECK(intruder_exit == 2);
  CHECK_THAT(intruder.output(), Catch::Contains("refused: wrong or missing token"));

  // A worker of another protocol version, and a hello that is not Cap'n Proto: each refused
  // with its reason, on the worker's side and in the coordinator's log.
  const std::string other_version = std::to_string(kProtocolVersion + 1);
  Child old_worker(dir.str(), "old.log",
                   {BR_HELLO_PROBE, "127.0.0.1", port, "--version", other_version, "--token",
                    "the-right-token-16", "--name", "old"});
  CHECK(old_worker.wait(30s) == 2);
  CHECK_THAT(old_worker.output(),
             Catch::Contains("refused: protocol version " + other_version +
                             " is not this coordinator's " + std::to_string(kProtocolVersion) +
                             "; run the same br version on coordinator and workers"));
  Child malformed(dir.str(), "malformed.log",
                  {BR_HELLO_PROBE, "127.0.0.1", port, "--garbage"});
  CHECK(malformed.wait(30s) == 2);
  CHECK_THAT(malformed.output(), Catch::Contains("refused: malformed hello: WorkerHello: "));
  // An admitted worker cannot ask for work or report a result in another worker's name.
  for (const char* kind : {"work", "result"}) {
    Child forger(dir.str(), std::string("forged-") + kind + ".log",
                 {BR_HELLO_PROBE, "127.0.0.1", port, "--token", "the-right-token-16", "--name", "probe/0",
                  "--then", kind, "--payload", "forged"});
    CHECK(forger.wait(30s) == 0);
    CHECK_THAT(forger.output(), Catch::Contains(std::string("sent ") + kind));
  }

  Child w1(dir.str(), "w1.log", worker_args(port, "w1"),
           {{"BR_TOKEN", "the-right-token-16"}, {"BR_DEMO_SLEEP_MS", "300"}});
  Child w2(dir.str(), "w2.log", worker_args(port, "w2"),
           {{"BR_TOKEN", "the-right-token-16"}, {"BR_DEMO_SLEEP_MS", "300"}});
  INFO(coordinator.output());
  REQUIRE(coordinator.wait(90s) == 0);
  CHECK(w1.wait(30s) == 0);
  CHECK(w2.wait(30s) == 0);
  CHECK_THAT(coordinator.output(), Catch::Contains("refused a worker 'intruder/"));
  CHECK_THAT(coordinator.output(),
             Catch::Contains("refused a worker 'old': protocol version " + other_version));
  CHECK_THAT(coordinator.output(), Catch::Contains("refused a worker: malformed hello: "));
  CHECK_THAT(coordinator.output(),
             Catch::Contains("dropped a message from probe/0 in the name of worker 'victim/0'"));

  const RunState state = state_of(dir / "state");
  CHECK(state.counts().succeeded == 18);
  std::set<std::string> hosts;
  for (const auto& t : state.tasks()) hosts.insert(t.worker.substr(0, t.worker.find('/')));
  CHECK(hosts == std::set<std::string>{"w1", "w2"});  // both did work, the intruder none
}

TEST_CASE("a worker killed mid-batch loses no task") {
  test::TempDir dir("br-net");
  setup(dir, "[network]\nmax_connections = 1\n");
  Child coordinator(dir.str(), "coordinator.log",
                    {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                     "127.0.0.1:0", "--state-dir", "state"});
  const std::string port = wait_for_port(coordinator);
  Child doomed(dir.str(), "doomed.log", worker_args(port, "doomed"),
               {{"BR_DEMO_SLEEP_MS", "30000"}});
  // Kill it once it is running an agent.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool running = false;
  while (!running && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    running = coordinator.output().find("on doomed/") != std::string::npos;
  }
  REQUIRE(running);
  // Another process under the live worker's name is refused (it used to be admitted, and the
  // live worker's attempts were failed as "came back without this attempt").
  Child twin(dir.str(), "twin.log", {BR_HELLO_PROBE, "127.0.0.1", port, "--name", "doomed/0"});
  CHECK(twin.wait(30s) == 2);
  CHECK_THAT(twin.output(), Catch::Contains("refused: a worker named 'doomed/0' is connected "
                                            "already, from another process; give this one "
                                            "another --name"));
  // One worker process at a time: another is refused while the doomed one is connected.
  Child extra(dir.str(), "extra.log",
              {BR_HELLO_PROBE, "127.0.0.1", port, "--name", "extra"});
  CHECK(extra.wait(30s) == 2);
  CHECK_THAT(extra.output(),
             Catch::Contains("refused: the coordinator already serves 1 worker processes "
                             "(network.max_connections)"));
  doomed.kill_now();
  Child rescuer(dir.str(), "rescuer.log", worker_args(port, "rescuer"),
                {{"BR_DEMO_SLEEP_MS", "100"}});
  INFO(coordinator.output() << "\nrescuer: " << rescuer.output());
  REQUIRE(coordinator.wait(90s) == 0);
  CHECK_THAT(coordinator.output(), Catch::Contains("worker doomed/"));
  // The rescuer was admitted once the doomed worker's connection was gone.
  const RunState state = state_of(dir / "state");
  CHECK(state.counts().succeeded == 18);
  bool retried = false;
  for (const auto& t : state.tasks()) {
    CHECK(t.worker.rfind("rescuer/", 0) == 0);  // every task finished on the survivor
    retried = retried || t.attempt > 1;
  }
  CHECK(retried);  // the doomed worker's batch ran again under a new attempt
}

TEST_CASE("br-coordinator and br-worker: --version, a bad port, a port another program holds") {
  test::TempDir dir("br-dist");
  const std::string coordinator = setup(dir);
  for (const std::string& binary : {coordinator, std::string(BR_WORKER)}) {
    Child version(dir.str(), "version.log", {binary, "--version"});
    CHECK(version.wait(30s) == 0);
    CHECK_THAT(version.output(), Catch::Matches(".*br-(coordinator|worker) [0-9]+\\.[0-9]+.*\n"));
  }
  for (const std::string port : {"x", "70000", "0"}) {
    Child worker(dir.str(), "bad-port.log",
                 {BR_WORKER, "--connect", "127.0.0.1:" + port, "--config", "br.toml"});
    CHECK(worker.wait(30s) == 2);
    CHECK_THAT(worker.output(), Catch::Contains("--connect 127.0.0.1:" + port +
                                                ": expected HOST:PORT with a port from 1 to "
                                                "65535"));
  }
  // A port held by a listening socket: refused before the run has a journal.
  HeldPort held(1);
  const std::string& port = held.port;
  Child busy(dir.str(), "busy.log",
             {coordinator, "--config", "br.toml", "--spec", "spec.md", "--listen",
              "127.0.0.1:" + port, "--state-dir", "state"});
  CHECK(busy.wait(30s) == 2);
  held.close();
  INFO(busy.output());
  CHECK_THAT(busy.output(), Catch::Contains("cannot listen on 127.0.0.1:" + port +
                                            ": another program holds port " + port));
  CHECK_FALSE(std::filesystem::exists(dir / "state"));
}

TEST_CASE("a coordinator that is not there: br-worker says where it looked and what to check") {
  test::TempDir dir("br-dist");
  setup(dir);
  // A port held but not listening refuses every connection, with no other process in the way.
  HeldPort held(std::nullopt);
  const std::string& port = held.port;
  auto args = worker_args(port, "lonely");
  args.insert(args.end(), {"--reconnect-for", "1"});
  Child worker(dir.str(), "lonely.log", args);
  CHECK(worker.wait(60s) == 3);
  held.close();
  const std::string out = worker.output();
  INFO(out);
  CHECK_THAT(out, Catch::Contains("cannot reach the coordinator at 127.0.0.1:" + port +
                                  " after 1 s of trying"));
  CHECK_THAT(out, Catch::Contains("listening on port " + port));
  CHECK_THAT(out, Catch::Contains("both use TLS or neither"));
}

TEST_CASE("a coordinator that never answers: --reconnect-for bounds the connect itself") {
  test::TempDir dir("br-dist");
  setup(dir);
  // A listener whose accept queue is full drops every new SYN, as a firewalled host does: a
  // blocking connect() then waits out the kernel's SYN retries, about two minutes, which is
  // what br-worker used to do whatever --reconnect-for said.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 0) == 0);
  socklen_t size = sizeof addr;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &size) == 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  // Fill the queue: connect until one connect no longer completes at once.
  std::vector<int> fillers;
  bool full = false;
  for (int i = 0; i < 8 && !full; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    fillers.push_back(fd);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    pollfd p{fd, POLLOUT, 0};
    full = ::poll(&p, 1, 500) == 0;  // the SYN went unanswered
  }
  REQUIRE(full);
  auto args = worker_args(port, "patient");
  args.insert(args.end(), {"--reconnect-for", "2"});
  Child worker(dir.str(), "patient.log", args);
  const int code = worker.wait(60s);  // -1 if still trying: well short of the kernel's retries
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  INFO(worker.output());
  CHECK(code == 3);
  CHECK_THAT(worker.output(), Catch::Contains("no answer within"));
  CHECK_THAT(worker.output(), Catch::Contains("after 2 s of trying"));
}

namespace {

// `n` TCP connections to 127.0.0.1:port that say nothing.
std::vector<int> idle_connections(const std::string& port, int n) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < static_cast<rlim_t>(n + 256)) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, static_cast<rlim_t>(n + 256));
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    // Non-blocking: past the coordinator's accept queue a connect waits for the kernel.
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fds.push_back(fd);
  }
  return fds;
}

// How many of `fds` the other side has closed (end of stream or reset); those are closed here.
std::size_t count_closed(std::vector<int>& fds) {
  std::size_t closed = 0;
  for (int& fd : fds) {
    if (fd < 0) {
      ++closed;
      continue;
    }
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 1) continue;
    char byte = 0;
    const ssize_t n = ::recv(fd, &byte, 1, 0);
    // The coordinator's BASP greeting may come first; what counts is the end after it.
    if (n > 0 && !(p.revents & (POLLRDHUP | POLLHUP | POLLERR))) continue;
    ::close(fd);
    fd = -1;
    ++closed;
  }
  return closed;
}

}  // namespace

TEST_CASE("silent connections are closed and cannot lock workers out") {
  test::TempDir dir("br-net");
  setup(dir, "[network]\nhello_timeout = \"1s\"\nmax_pending = 32\n");
  // At 1,024 fds, 1,100 silent connections used to take them all: the coordinator spun at
  // 100 % CPU and no worker could connect until they went.
  Child coordinator(dir.str(), "coordinator.log",
                    {"/usr/bin/prlimit", "--nofile=1024:1024", BR_COORDINATOR, "--config",
                     "br.toml", "--spec", "spec.md", "--listen", "127.0.0.1:0", "--state-dir",
                     "state"},
                    {{"BR_TOKEN", "the-right-token-16"}});
  const std::string port = wait_for_port(coordinator);
  std::vector<int> idle = idle_connections(port, 1100);
  // Every one of them is closed, however many the fd limit let in at a time.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::size_t closed = 0;
  while ((closed = count_closed(idle)) < idle.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  INFO(coordinator.output());
  CHECK(closed == idle.size());
  // A second wave holds connections while a real worker joins and finishes the run.
  std::vector<int> more = idle_connections(port, 1100);
  Child worker(dir.str(), "w.log", worker_args(port, "w"),
               {{"BR_TOKEN", "the-right-token-16"}, {"BR_DEMO_SLEEP_MS", "50"}});
  REQUIRE(coordinator.wait(90s) == 0);
  CHECK(worker.wait(30s) == 0);
  for (int fd : more) {
    if (fd >= 0) ::close(fd);
  }
  CHECK_THAT(coordinator.output(), Catch::Contains("that said no hello within 1000 ms"));
  CHECK_THAT(coordinator.output(), Catch::Contains("over the cap of 32 waiting for hello"));
  CHECK(state_of(dir / "state").counts().succeeded == 18);
}

TEST_CASE("a token guesser is disconnected after three tries, with one line in the log") {
  test::TempDir dir("br-net");
  setup(dir);
  Child coordinator(dir.str(), "coordinator.log",
                    {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                     "127.0.0.1:0", "--state-dir", "state"},
                    {{"BR_TOKEN", "the-right-token-16"}});
  const std::string port = wait_for_port(coordinator);
  Child guesser(dir.str(), "guesser.log",
                {BR_HELLO_PROBE, "127.0.0.1", port, "--token", "a-wrong-guess-000", "--name",
                 "guesser", "--hellos", "10"});
  guesser.wait(60s);
  const std::string guesses = guesser.output();
  INFO(guesses);
  std::size_t tried = 0;
  for (auto at = guesses.find("refused: wrong or missing token"); at != std::string::npos;
       at = guesses.find("refused: wrong or missing token", at + 1)) {
    ++tried;
  }
  CHECK(tried == 3);  // then refused unread, and the connection closed
  CHECK_THAT(guesses, Catch::Contains("refused: too many wrong tokens from 127.0.0.1"));
  // Right away, the address is refused whatever its token: closed as it connects.
  Child next(dir.str(), "next.log",
             {BR_HELLO_PROBE, "127.0.0.1", port, "--token", "the-right-token-16", "--name", "n"});
  CHECK(next.wait(30s) == 3);
  CHECK_THAT(next.output(), Catch::Contains("hello_probe: cannot connect"));
  // Once the refusal is over (kFirstRefusal, 2 s), the right token is admitted again.
  bool admitted = false;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (int i = 0; !admitted && std::chrono::steady_clock::now() < deadline; ++i) {
    Child probe(dir.str(), "probe.log",
                {BR_HELLO_PROBE, "127.0.0.1", port, "--token", "the-right-token-16", "--name",
                 "p" + std::to_string(i)});
    admitted = probe.wait(30s) == 0;
    if (!admitted) std::this_thread::sleep_for(200ms);
  }
  CHECK(admitted);
  Child worker(dir.str(), "w.log", worker_args(port, "w"),
               {{"BR_TOKEN", "the-right-token-16"}, {"BR_DEMO_SLEEP_MS", "50"}});
  REQUIRE(coordinator.wait(90s) == 0);
  const std::string log = coordinator.output();
  INFO(log);
  std::size_t noted = 0;
  for (auto at = log.find("refused a worker 'guesser'"); at != std::string::npos;
       at = log.find("refused a worker 'guesser'", at + 1)) {
    ++noted;
  }
  CHECK(noted == 1);
  CHECK_THAT(log, Catch::Contains("disconnected 1 connection after 3 wrong tokens"));
  CHECK(state_of(dir / "state").counts().succeeded == 18);
}

TEST_CASE("a br-worker runs the spec's run: criteria only when its own config allows them") {
  for (const bool allowed : {false, true}) {
    INFO("worker allows run: criteria: " << allowed);
    test::TempDir dir("br-net");
    // The coordinator's config allows them: that must not decide for the worker.
    setup(dir, "allow_run_criteria = true\n");
    const std::string marker = dir / "ran";
    std::ofstream(dir / "spec.md") << "# Net\n## Features\n### Probe {#probe}\nBusiness logic.\n"
                                      "**Files:**\n- src/probe.py\n**Acceptance criteria:**\n"
                                      "- run: touch " << marker << "\n";
    std::ofstream(dir / "worker.toml")
        << "[agent]\ncommand = [\"" << BR_SOURCE_DIR << "/deploy/demo-agent\"]\n"
        << "[verify]\nfile_wait = \"200ms\"\n"
        << (allowed ? "allow_run_criteria = true\n" : "");
    Child coordinator(dir.str(), "coordinator.log",
                      {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                       "127.0.0.1:0", "--state-dir", "state"});
    const std::string port = wait_for_port(coordinator);
    auto args = worker_args(port, "w");
    args[4] = "worker.toml";  // --config
    Child worker(dir.str(), "w.log", args);
    const int code = coordinator.wait(90s);
    INFO(coordinator.output() << "\nworker: " << worker.output());
    const RunState state = state_of(dir / "state");
    std::string reasons;
    for (const auto& t : state.tasks()) reasons += t.reason + "\n";
    INFO(reasons);
    if (allowed) {
      CHECK(code == 0);
      CHECK(state.counts().succeeded == 3);  // implementation, tests (with the criterion), docs
      CHECK(std::filesystem::exists(marker));
    } else {
      CHECK(code != 0);
      CHECK_FALSE(std::filesystem::exists(marker));
      CHECK_THAT(reasons, Catch::Contains("probe/02-tests: criterion 'run: touch " + marker +
                                          "' was not run: worker w/"));
      CHECK_THAT(reasons, Catch::Contains(" does not allow run: criteria (set [verify] "
                                          "allow_run_criteria = true in its own config"));
    }
  }
}

namespace {

// Writes an executable shell script.
void write_script(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

// Waits (polling, up to `limit`) until `path` exists; whether it does.
bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!std::filesystem::exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  return std::filesystem::exists(path);
}

}  // namespace

TEST_CASE("a coordinator killed between an agent's exit and the journal counts its usage once") {
  test::TempDir dir("br-net");
  const std::string root = dir.str();
  // Each agent run reports $0.40 and leaves a line in runs.txt: the run's journaled cost must
  // be exactly one share per agent run, crash or not.
  const std::string agent = root + "/paid-agent.sh";
  write_script(agent, "#!/bin/sh\n'" + std::string(BR_SOURCE_DIR) +
                          "/deploy/demo-agent' < \"$BR_PROMPT_FILE\" || exit $?\n"
                          "echo run >> '" + root + "/runs.txt'\n"
                          "echo 'BR-USAGE: tokens_in=100 tokens_out=10 cost_usd=0.40'\n");
  // The first batch's check, after its agent has exited and before anything is journaled,
  // waits: the coordinator is killed then. Its worker keeps the result and hands it over.
  const std::string check = root + "/check.sh";
  write_script(check, "#!/bin/sh\nif mkdir '" + root + "/once' 2>/dev/null; then\n"
                      "  touch '" + root + "/checking'; sleep 3\nfi\nexit 0\n");
  std::string spec = "# Paid\n## Features\n";
  for (int i = 0; i < 4; ++i) {
    spec += "### Piece " + std::to_string(i) + " {#p" + std::to_string(i) + "}\nBusiness logic.\n";
  }
  std::ofstream(dir / "spec.md") << spec;
  std::ofstream(dir / "br.toml") << "[run]\nbackoff_base = \"100ms\"\nlease = \"60s\"\n[agent]\n"
                                 << "command = [\"" << agent << "\"]\n[verify]\nfile_wait = 0\n"
                                 << "check_command = [\"" << check << "\"]\n";
  auto coordinator = std::make_unique<Child>(
      root, "coordinator.log",
      std::vector<std::string>{BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md",
                               "--listen", "127.0.0.1:0", "--state-dir", "state"});
  const std::string port = wait_for_port(*coordinator);
  Child worker(root, "w.log", worker_args(port, "w"));
  REQUIRE(wait_for_file(dir / "checking", 60s));
  coordinator->kill_now();
  const std::size_t runs_at_crash = read_file(dir / "runs.txt").size() / 4;
  CHECK(runs_at_crash >= 1);
  coordinator = std::make_unique<Child>(
      root, "coordinator2.log",
      std::vector<std::string>{BR_COORDINATOR, "--config", "br.toml", "--listen",
                               "127.0.0.1:" + port, "--state-dir", "state"});
  INFO(coordinator->output() << "\nworker: " << worker.output());
  REQUIRE(coordinator->wait(90s) == 0);
  CHECK(worker.wait(30s) == 0);
  const std::size_t runs = read_file(dir / "runs.txt").size() / 4;  // "run\n" per agent run
  const RunState state = state_of(dir / "state");
  CHECK(state.counts().succeeded == 12);
  CHECK(state.usage().cost_micro_usd == runs * 400000);
  std::uint64_t journaled = 0;
  JournalOptions options;
  options.read_only = true;
  auto journal = Journal::open(dir / "state/journal", options);
  REQUIRE(journal.ok());
  std::vector<JournalRecord> records;
  REQUIRE((*journal)->scan(1, [&](const JournalRecord& r) {
    records.push_back(r);
    return true;
  }).ok());
  for (const auto& r : records) {
    if (const auto* ok = std::get_if<rec::TaskSucceeded>(&r.body)) journaled += ok->usage.cost_micro_usd;
    if (const auto* failed = std::get_if<rec::TaskFailed>(&r.body)) {
      journaled += failed->usage.cost_micro_usd;
    }
  }
  CHECK(journaled == runs * 400000);
}

TEST_CASE("br cancel kills the agent of a task running on a remote br-worker") {
  test::TempDir dir("br-net");
  const std::string root = dir.str();
  // An agent that waits for a file the test never writes (a minute at most): only a kill ends
  // it soon. It says so when it starts, in started.txt.
  const std::string agent = root + "/slow-agent.sh";
  write_script(agent, "#!/bin/sh\ncat > /dev/null\necho \"$$\" >> '" + root + "/started.txt'\n"
                      "i=0; while [ ! -e '" + root + "/never' ] && [ $i -lt 600 ]; do "
                      "sleep 0.1; i=$((i+1)); done\nexit 1\n");
  std::ofstream(dir / "spec.md") << "# C\n## Features\n### Alpha {#alpha}\nBusiness logic.\n"
                                    "**Files:**\n- src/a.py\n";
  std::ofstream(dir / "br.toml") << "[run]\nbatch_max_tasks = 1\nmax_attempts = 1\n[agent]\n"
                                 << "command = [\"" << agent << "\"]\n[verify]\nfile_wait = 0\n";
  Child coordinator(root, "coordinator.log",
                    {BR_COORDINATOR, "--config", "br.toml", "--spec", "spec.md", "--listen",
                     "127.0.0.1:0", "--state-dir", "state"});
  const std::string port = wait_for_port(coordinator);
  Child worker(root, "w.log", worker_args(port, "w"));
  REQUIRE(wait_for_file(dir / "started.txt", 60s));
  const pid_t agent_pid = std::stoi(read_file(dir / "started.txt"));
  const auto asked = std::chrono::steady_clock::now();
  Child cancel(root, "cancel.log", {BR_BINARY, "--state-dir", "state", "cancel", "alpha/01-backend"});
  CHECK(cancel.wait(30s) == 0);
  INFO(cancel.output() << "\ncoordinator: " << coordinator.output() << "\nworker: " << worker.output());
  CHECK_THAT(cancel.output(), Catch::Contains("alpha/01-backend cancelled"));
  // The agent on the worker is killed, not left to run its minute out.
  while (::kill(agent_pid, 0) == 0 && std::chrono::steady_clock::now() - asked < 20s) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(::kill(agent_pid, 0) != 0);
  CHECK(std::chrono::steady_clock::now() - asked < 20s);
  CHECK(coordinator.wait(60s) == 1);  // not everything was built
  const RunState state = state_of(dir / "state");
  CHECK(state.find(TaskId("alpha/01-backend"))->status == TaskStatus::cancelled);
  CHECK(state.find(TaskId("alpha/02-tests"))->status == TaskStatus::blocked);
}

TEST_CASE("br stop stops a br-coordinator run, which restarts without --config") {
  test::TempDir dir("br-net");
  const std::string root = dir.str();
  // An agent that waits for `go` (a minute at most), then writes what its prompt expects.
  const std::string agent = root + "/gated-agent.sh";
  write_script(agent, "#!/bin/sh\nprompt=$(cat)\necho \"$$\" >> '" + root + "/started.txt'\n"
                      "i=0; while [ ! -e '" + root + "/go' ] && [ $i -lt 600 ]; do "
                      "sleep 0.1; i=$((i+1)); done\n"
                      "printf '%s\\n' \"$prompt\" | sed -n 's/^BR-EXPECT-FILE: //p' | "
                      "while read -r f; do mkdir -p \"$(dirname \"$f\")\"; echo 'x = 1' > \"$f\"; "
                      "done\n");
  std::ofstream(dir / "spec.md") << "# S\n## Features\n### Alpha {#alpha}\nBusiness logic.\n"
                                    "**Files:**\n- src/a.py\n### Gamma {#gamma}\nBusiness "
                                    "logic.\n**Files:**\n- src/g.py\n";
  std::filesystem::create_directories(dir / "conf");
  std::ofstream(dir / "conf/net.toml") << "[run]\nbackoff_base = \"100ms\"\n[agent]\ncommand = [\""
                                       << agent << "\"]\n[verify]\nfile_wait = \"200ms\"\n";
  {
    Child coordinator(root, "coordinator.log",
                      {BR_COORDINATOR, "--config", "conf/net.toml", "--spec", "spec.md",
                       "--listen", "127.0.0.1:0", "--state-dir", "state"});
    const std::string port = wait_for_port(coordinator);
    auto args = worker_args(port, "w1");
    args[4] = "conf/net.toml";  // --config: the worker's own, with the gated agent
    Child worker(root, "w1.log", args);
    REQUIRE(wait_for_file(dir / "started.txt", 60s));
    Child stop(root, "stop.log", {BR_BINARY, "--state-dir", "state", "stop"});
    CHECK(stop.wait(60s) == 0);
    INFO(stop.output() << "\ncoordinator: " << coordinator.output());
    CHECK_THAT(stop.output(), Catch::Contains("br stop: stopped"));
    CHECK(coordinator.wait(60s) == 130);
    CHECK_THAT(coordinator.output(), Catch::Contains("stopped by br stop, pid"));
  }
  CHECK(state_of(root + "/state").status() == RunStatus::stopped);

  std::ofstream(dir / "go") << "";
  Child again(root, "again.log",
              {BR_COORDINATOR, "--listen", "127.0.0.1:0", "--state-dir", "state"});
  const std::string port = wait_for_port(again);
  // The same worker, started again: its hello lists none of the attempts the coordinator
  // still holds for it (they died with it), so they run again at once, not at their leases' end.
  auto args = worker_args(port, "w1");
  args[4] = "conf/net.toml";
  Child worker(root, "w1-again.log", args);
  CHECK(again.wait(120s) == 0);
  INFO(again.output());
  CHECK_THAT(again.output(), Catch::Contains("using " + root + "/conf/net.toml, the config this "
                                             "run was started with"));
  CHECK(state_of(root + "/state").status() == RunStatus::succeeded);
}
