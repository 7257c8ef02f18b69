// Stop benchmark (issue 16, point 2): how soon a busy run stops. On a synthetic spec of 10,000
// features (≈ 45k tasks) `br run --auto` with a no-op agent (/bin/true, file_wait = 0) on 4
// slots is stopped, once it is busy, alternately by SIGINT (as Ctrl-C) and by `br stop` from
// another process, each stop followed by a `br resume`; a last `br resume` runs to the end.
// Per stop: the latency from the signal (or from starting `br stop`) to the run's exit, and its
// exit code (goal: ≤ 1 s, 130). At the end: every task succeeded, exactly once.
//
//   stop_bench [--features 10000] [--rounds 3] [--busy 1000] [--dir DIR]
//
// A round is one SIGINT and one `br stop`. "Busy" is `br status --json` of the live run (its
// pid) showing `--busy` more successes than when it started. DIR (default ./stop-bench.tmp)
// is on the disk under test and removed at the end. br runs in its own process group, so a
// Ctrl-C at the terminal reaches the bench only, which then kills br and cleans up.
//
// From the journal, each stop's latency is split in two: signal → the runStopped record's
// time (the run noticed and the graph journaled the stop), and that record → the exit (the
// rest of the shutdown: agents, actors, summary).
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>

#include "storage/journal.hpp"
#include "tests/bench/synthetic_spec.hpp"

extern char** environ;

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxStops = 32;

std::atomic<bool> g_quit{false};  // the bench itself was interrupted
extern "C" void on_quit(int) { g_quit = true; }

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Runs `work` in a forked child and returns what it filled in (the bench stays small: the
// spec and the journal live only in children).
template <class T>
std::optional<T> in_child(const std::function<bool(T&)>& work) {
  static_assert(std::is_trivially_copyable_v<T>);
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::close(fds[0]);
    T value{};
    bool ok = false;
    try {
      ok = work(value);
    } catch (const std::exception& e) {
      fmt::print(stderr, "stop_bench: {}\n", e.what());
    }
    std::fflush(stderr);
    if (!ok || ::write(fds[1], &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  T value{};
  const bool got = ::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return value;
}

// A child process in its own process group; killed (SIGKILL) and reaped if still running
// when destroyed, so no br outlives the bench.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& cwd, const fs::path& log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    const int spawned = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (spawned != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(spawned));
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) throw std::runtime_error(std::string("pidfd_open: ") + std::strerror(errno));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !code_) {
      ::kill(-pid_, SIGKILL);  // its group: br and any agent it had started
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }

  pid_t pid() const { return pid_; }

  // Waits up to `limit` for the exit; returns its code (128 + n for a signal n), or nothing
  // on timeout. `exited_at` is when poll saw it go.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    if (code_) return code_;
    const auto deadline = Clock::now() + limit;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                               Clock::now());
      if (left.count() <= 0 || g_quit) return std::nullopt;
      pollfd p{pidfd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 200)));
      if (ready > 0) break;
    }
    return reap();
  }

  // For polling several children at once: readable once the child has exited.
  int fd() const { return pidfd_; }
  bool exited() const { return code_.has_value(); }

  // Reaps the child, which has exited (its fd is readable): the exit time is now.
  int reap() {
    if (code_) return *code_;
    exited_at = Clock::now();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return *code_;
  }

  Clock::time_point exited_at;

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> code_;
};

// br.toml of every run: the no-op agent changes no file, so the run shares one directory (no
// worktrees), as in scale_bench; [limits] raised so that any --features is accepted.
constexpr const char* kConfig =
    "[run]\nworkers = 4\nworkspace = \"ws\"\nisolation = \"none\"\n"
    "[agent]\ncommand = [\"/bin/true\"]\n"
    "[verify]\nfile_wait = 0\n"
    "[limits]\nspec_max_bytes = 1073741824\nmax_tasks = 10000000\n";

// `br status --json`, parsed; nothing when it fails.
std::optional<nlohmann::json> status_of(const fs::path& dir) {
  {
    Child status({BR_BINARY, "--state-dir", "state", "status", "--json"}, dir,
                 dir / "status.json.out");
    const auto code = status.wait(30s);
    if (code != 0) {
      fs::remove(dir / "status.json.out");
      return std::nullopt;
    }
  }
  std::ifstream in(dir / "status.json.out");
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  fs::remove(dir / "status.json.out");
  auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  return doc;
}

// Polls `br status --json` (every 50 ms, up to `limit`) until `done` holds; returns that
// document, or throws.
nlohmann::json status_until(const fs::path& dir, const std::function<bool(const nlohmann::json&)>& done,
                            std::chrono::seconds limit, const std::string& what) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (g_quit) throw std::runtime_error("interrupted");
    if (auto doc = status_of(dir); doc && done(*doc)) return *doc;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("timed out waiting for " + what);
}

int succeeded_of(const nlohmann::json& doc) {
  return doc.at("counts").at("succeeded").get<int>();
}

// Waits until the run of `br` is live and has `more` successes past `from`; returns the count.
int wait_busy(const fs::path& dir, const Child& br, int from, int more) {
  const auto doc = status_until(
      dir,
      [&](const nlohmann::json& d) {
        return d.value("live", false) && d.value("pid", 0) == br.pid() &&
               succeeded_of(d) >= from + more;
      },
      300s, "the run to be busy");
  return succeeded_of(doc);
}

struct Stop {
  std::string how;        // "SIGINT" or "br stop"
  int succeeded_at = 0;   // successes when it was asked
  std::int64_t asked_unix_ms = 0;
  double latency_ms = 0;  // asked → the run's exit (poll on its pidfd)
  int code = -1;          // the run's exit code
  int stop_code = -1;     // br stop's own exit code
  double stop_cmd_ms = 0;  // br stop's own wall time (it waits for the journal to be let go)
};

// Stops `br` as `how` says and measures it; throws when it does not exit within a minute.
Stop stop_run(const fs::path& dir, Child& br, const std::string& how, int succeeded) {
  Stop s;
  s.how = how;
  s.succeeded_at = succeeded;
  std::optional<Child> stopper;
  s.asked_unix_ms = unix_ms();
  const auto asked = Clock::now();
  if (how == "SIGINT") {
    if (::kill(br.pid(), SIGINT) != 0) throw std::runtime_error("kill(SIGINT) failed");
  } else {
    stopper.emplace(std::vector<std::string>{BR_BINARY, "--state-dir", "state", "stop"}, dir,
                    dir / "stop.log");
  }
  // Both br and br stop are watched at once, so that each one's exit time is its own (br stop
  // returns when the journal is let go, which is before br has exited).
  const auto deadline = asked + 60s;
  while (!br.exited() || (stopper && !stopper->exited())) {
    if (Clock::now() >= deadline || g_quit) {
      throw std::runtime_error(how + ": the run did not exit within 60 s");
    }
    std::vector<pollfd> fds;
    std::vector<Child*> children;
    for (Child* c : {&br, stopper ? &*stopper : nullptr}) {
      if (c == nullptr || c->exited()) continue;
      fds.push_back(pollfd{c->fd(), POLLIN, 0});
      children.push_back(c);
    }
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) children[i]->reap();
    }
  }
  s.code = br.reap();
  s.latency_ms = ms_between(asked, br.exited_at);
  if (stopper) {
    s.stop_code = stopper->reap();
    s.stop_cmd_ms = ms_between(asked, stopper->exited_at);
  }
  return s;
}

// What the journal says at the end.
struct Journaled {
  std::uint64_t tasks = 0;
  std::uint64_t succeeded_tasks = 0;      // tasks with a success
  std::uint64_t successes = 0;            // taskSucceeded records
  std::uint64_t redispatched_done = 0;    // dispatches of a task that had already succeeded
  bool completed = false;                 // a runCompleted record, outcome succeeded
  int stops = 0;
  std::array<std::int64_t, kMaxStops> stop_ms{};  // runStopped records' time_ms, in order
};

std::optional<Journaled> read_journal(const fs::path& state) {
  return in_child<Journaled>([&](Journaled& j) {
    JournalOptions options;
    options.read_only = true;
    auto journal = Journal::open((state / "journal").string(), options);
    if (!journal) throw std::runtime_error(journal.error().str());
    std::set<std::string> done;
    auto scanned = (*journal)->scan(1, [&](const JournalRecord& r) {
      if (const auto* p = std::get_if<rec::PlanCreated>(&r.body)) {
        j.tasks = p->plan.tasks.size();
      } else if (const auto* d = std::get_if<rec::BatchDispatched>(&r.body)) {
        for (const auto& t : d->tasks) j.redispatched_done += done.count(t.str());
      } else if (const auto* ok = std::get_if<rec::TaskSucceeded>(&r.body)) {
        ++j.successes;
        done.insert(ok->task.str());
      } else if (std::holds_alternative<rec::RunStopped>(r.body)) {
        if (j.stops < kMaxStops) j.stop_ms[static_cast<std::size_t>(j.stops)] = r.time_ms;
        ++j.stops;
      } else if (const auto* c = std::get_if<rec::RunCompleted>(&r.body)) {
        j.completed = c->outcome == rec::RunOutcome::succeeded;
      }
      return true;
    });
    if (!scanned) throw std::runtime_error(scanned.error().str());
    j.succeeded_tasks = done.size();
    return true;
  });
}

std::string min_median_max(std::vector<double> v) {
  if (v.empty()) return "–";
  std::sort(v.begin(), v.end());
  return fmt::format("{:.0f} / {:.0f} / {:.0f}", v.front(), v[v.size() / 2], v.back());
}

struct Options {
  std::size_t features = 10000;
  int rounds = 3;
  int busy = 1000;
  fs::path dir = "stop-bench.tmp";
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    if (flag == "--features") {
      o.features = std::stoul(value);
    } else if (flag == "--rounds") {
      o.rounds = std::stoi(value);
    } else if (flag == "--busy") {
      o.busy = std::stoi(value);
    } else if (flag == "--dir") {
      o.dir = value;
    } else {
      return std::nullopt;
    }
  }
  if (o.features == 0 || o.rounds < 1 || 2 * o.rounds > kMaxStops || o.busy < 1) {
    return std::nullopt;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    fmt::print(stderr,
               "usage: stop_bench [--features 10000] [--rounds 3] [--busy 1000] [--dir DIR]\n"
               "  a round is one SIGINT and one br stop of the busy run, each then resumed\n");
    return 2;
  }
  struct sigaction quit {};
  quit.sa_handler = on_quit;
  sigemptyset(&quit.sa_mask);
  ::sigaction(SIGINT, &quit, nullptr);
  ::sigaction(SIGTERM, &quit, nullptr);
  ::sigaction(SIGHUP, &quit, nullptr);

  const fs::path root = fs::absolute(options->dir);
  int result = 0;
  try {
    fs::remove_all(root);
    fs::create_directories(root / "ws");
    std::ofstream(root / "br.toml") << kConfig;
    struct Written {
      double mib;
    };
    const auto spec = in_child<Written>([&](Written& w) {
      const std::string text = bench::synthetic_spec(options->features);
      w.mib = static_cast<double>(text.size()) / (1 << 20);
      return static_cast<bool>(std::ofstream(root / "spec.md") << text);
    });
    if (!spec) throw std::runtime_error("cannot write the spec");

    const std::vector<std::string> run_argv = {BR_BINARY, "--state-dir", "state", "run", "--auto",
                                               "spec.md", "--config", "br.toml", "--quiet"};
    const std::vector<std::string> resume_argv = {BR_BINARY, "--state-dir", "state", "resume",
                                                  "--config", "br.toml", "--quiet"};
    const auto bench_start = Clock::now();
    std::vector<Stop> stops;
    int total = 0;
    int succeeded = 0;
    for (int i = 0; i < 2 * options->rounds; ++i) {
      Child br(i == 0 ? run_argv : resume_argv, root, root / "br.log");
      succeeded = wait_busy(root, br, succeeded, options->busy);
      if (total == 0) {
        if (auto doc = status_of(root)) total = doc->at("counts").at("total").get<int>();
      }
      stops.push_back(stop_run(root, br, i % 2 == 0 ? "SIGINT" : "br stop", succeeded));
      const Stop& s = stops.back();
      fmt::print("stop {}: {:<7} at {:>5} of {} succeeded: exit {} after {:.0f} ms{}\n", i + 1,
                 s.how, s.succeeded_at, total, s.code, s.latency_ms,
                 s.stop_code >= 0 ? fmt::format(" (br stop exit {}, its own wall {:.0f} ms)",
                                                s.stop_code, s.stop_cmd_ms)
                                  : "");
      std::fflush(stdout);
      // What br status says now is what resume starts from.
      if (auto doc = status_of(root)) succeeded = succeeded_of(*doc);
    }
    // The last resume, to the end.
    int final_code = -1;
    double final_ms = 0;
    {
      const auto start = Clock::now();
      Child br(resume_argv, root, root / "br.log");
      final_code = br.wait(1800s).value_or(-1);
      if (g_quit) throw std::runtime_error("interrupted");
      final_ms = ms_between(start, br.exited_at);
    }
    const auto final_status = status_of(root);
    const auto journaled = read_journal(root / "state");
    if (!journaled) throw std::runtime_error("cannot read the journal");
    const double bench_s = ms_between(bench_start, Clock::now()) / 1000.0;

    fmt::print("\nStop of a busy run: {} features ({:.1f} MiB spec), {} tasks, agent /bin/true, "
               "file_wait 0, 4 slots, isolation none; busy = {} more successes since the start "
               "or resume\n",
               options->features, spec->mib, journaled->tasks, options->busy);
    fmt::print("| # | how | succeeded when asked | exit code | asked → exit ms | asked → "
               "runStopped journaled ms | runStopped → exit ms |\n|---|---|---|---|---|---|---|\n");
    std::vector<double> sigint_ms, stop_ms;
    bool all_130 = true;
    for (std::size_t i = 0; i < stops.size(); ++i) {
      const Stop& s = stops[i];
      std::string journaled_ms = "?", teardown_ms = "?";
      if (static_cast<int>(i) < journaled->stops) {
        const std::int64_t at = journaled->stop_ms[i];
        journaled_ms = std::to_string(at - s.asked_unix_ms);
        teardown_ms = fmt::format("{:.0f}", s.latency_ms - static_cast<double>(at - s.asked_unix_ms));
      }
      fmt::print("| {} | {} | {} | {} | {:.0f} | {} | {} |\n", i + 1, s.how, s.succeeded_at, s.code,
                 s.latency_ms, journaled_ms, teardown_ms);
      (s.how == "SIGINT" ? sigint_ms : stop_ms).push_back(s.latency_ms);
      all_130 = all_130 && s.code == 130;
    }
    std::vector<double> all = sigint_ms;
    all.insert(all.end(), stop_ms.begin(), stop_ms.end());
    fmt::print("\nasked → exit ms, min / median / max: SIGINT {}; br stop {}; all {}\n",
               min_median_max(sigint_ms), min_median_max(stop_ms), min_median_max(all));
    const double worst = *std::max_element(all.begin(), all.end());
    fmt::print("exit codes: {}\n", all_130 ? "all 130" : "NOT all 130");
    fmt::print("goal ≤ 1000 ms and exit 130: {}\n",
               worst <= 1000 && all_130 ? "met" : "NOT met");
    const int final_succeeded = final_status ? succeeded_of(*final_status) : -1;
    const int final_total = final_status ? final_status->at("counts").at("total").get<int>() : -1;
    fmt::print("final br resume: exit {} after {:.1f} s; br status: {} of {} succeeded; journal: "
               "{} successes of {} tasks, {} dispatches of an already succeeded task, {} stops, "
               "run completed {}\n",
               final_code, final_ms / 1000.0, final_succeeded, final_total, journaled->successes,
               journaled->succeeded_tasks, journaled->redispatched_done, journaled->stops,
               journaled->completed ? "succeeded" : "NOT succeeded");
    const bool finished = final_code == 0 && final_succeeded == final_total &&
                          journaled->successes == journaled->tasks &&
                          journaled->succeeded_tasks == journaled->tasks &&
                          journaled->redispatched_done == 0 && journaled->completed;
    fmt::print("every task succeeded exactly once: {}\n", finished ? "yes" : "NO");
    fmt::print("bench wall time {:.0f} s\n", bench_s);
    if (!finished || !all_130) result = 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "stop_bench: {}; the end of br's log:\n", e.what());
    std::ifstream log(root / "br.log");
    std::vector<std::string> lines;
    for (std::string line; std::getline(log, line);) {
      lines.push_back(line);
      if (lines.size() > 20) lines.erase(lines.begin());
    }
    for (const auto& line : lines) fmt::print(stderr, "  {}\n", line);
    result = 3;
  }
  std::error_code ec;
  fs::remove_all(root, ec);  // every Child is gone by now (killed if it was still running)
  return result;
}
