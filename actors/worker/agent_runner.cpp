#include "actors/worker/agent_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <system_error>

#include "actors/worker/usage_reader.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace br {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kDrainAfterExitMs = 2000;  // output of processes that left the group

std::string errno_text(int err) { return std::strerror(err); }

// Paths to try for `cmd`, in order: itself when it names a file, else each PATH entry.
std::vector<std::string> executable_candidates(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) return {cmd};
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = dirs.find(':', begin);
    std::string dir = dirs.substr(begin, end == std::string::npos ? end : end - begin);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + cmd);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string> find_executable(const std::string& cmd) {
  if (cmd.empty()) return std::nullopt;
  for (const auto& candidate : executable_candidates(cmd)) {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

namespace {

constexpr int kChdirFailed = -1;  // reported by the child instead of an errno

// Why agents are started with clone(CLONE_VM | CLONE_VFORK) and not fork(): a profile of a busy
// coordinator (500 MiB resident) showed 12 % of its time in the kernel copying page tables
// for fork(), a cost that grows with br's memory. The child instead runs in br's memory, on a
// small stack of its own, and br's thread waits until it has exec'd or exited: what glibc's
// posix_spawn does inside. posix_spawn itself will not do: the child must ask to be killed
// when br goes (PR_SET_PDEATHSIG), so that an agent of a coordinator killed with SIGKILL does
// not run on beside the attempt the restarted coordinator launches in the same workspace.
//
// Sharing br's memory binds the child to rules stricter than a fork child's:
//  - no allocation, no locks, nothing but raw system calls: syscall(), not the libc wrappers,
//    which sanitizers intercept with code that expects to run in br's own thread;
//  - errno is the parent thread's (same TLS), so the parent reads nothing of errno across the
//    clone but the clone's own result; the child's errors travel through the err pipe;
//  - the parent blocks every signal around the clone, and the child resets every disposition
//    to SIG_DFL before it unblocks, so no br handler ever runs on the child's stack;
//  - the child never returns: it execs or exits.
// Under ThreadSanitizer the child is forked (see spawn_child), on the same code.
#if defined(BR_UNDER_TSAN) || defined(__SANITIZE_THREAD__)
constexpr bool kSpawnByFork = true;
#else
constexpr bool kSpawnByFork = false;
#endif
// Uninstrumented: sanitizer checks keep per-thread state, which here is the parent thread's.
#define BR_CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined")))

constexpr std::size_t kChildStackBytes = std::size_t{64} << 10;

// All bits clear: as a kernel sigaction, SIG_DFL with no flags and an empty mask; as a kernel
// sigset, no signal. Larger than either on every architecture.
constexpr unsigned long kZeros[16] = {};
constexpr long kKernelSigsetBytes = NSIG / 8;

// Everything the child needs, prepared by the parent (the child allocates nothing).
struct ChildArgs {
  const char* cwd;
  int in, out, err_fd;
  pid_t parent;
  const char* const* candidates;  // null-terminated
  char* const* argv;
  char* const* envp;
};

[[noreturn]] BR_CHILD_CODE void child_exit(int code) {
  for (;;) ::syscall(SYS_exit_group, code);
}

[[noreturn]] BR_CHILD_CODE void child_fail(int err_fd, int code) {
  (void)::syscall(SYS_write, err_fd, &code, sizeof code);
  child_exit(127);
}

// As dup2, but a descriptor already in place loses its close-on-exec flag instead of being
// left as it is (the pipes are O_CLOEXEC).
BR_CHILD_CODE bool child_move_fd(int from, int to) {
  if (from == to) return ::syscall(SYS_fcntl, to, F_SETFD, 0) == 0;
  return ::syscall(SYS_dup3, from, to, 0) == to;
}

// The child, up to exec.
[[noreturn]] BR_CHILD_CODE int child_main(void* arg) {
  const ChildArgs& a = *static_cast<const ChildArgs*>(arg);
  // Killed when the br thread that started it ends, however it ends; and if br is already
  // gone, exit now rather than run unwatched.
  if (::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
      ::syscall(SYS_getppid) != a.parent) {
    child_exit(127);
  }
  (void)::syscall(SYS_setpgid, 0, 0);  // its own group, so a kill reaches its children
  // Undoes br's handlers (which must not run here) and SIG_IGN (which exec would keep);
  // SIGKILL and SIGSTOP refuse, harmlessly.
  for (int sig = 1; sig < NSIG; ++sig) {
    (void)::syscall(SYS_rt_sigaction, sig, kZeros, nullptr, kKernelSigsetBytes);
  }
  (void)::syscall(SYS_rt_sigprocmask, SIG_SETMASK, kZeros, nullptr, kKernelSigsetBytes);
  if (!child_move_fd(a.in, 0) || !child_move_fd(a.out, 1) || !child_move_fd(a.out, 2)) {
    child_fail(a.err_fd, errno);
  }
  if (::syscall(SYS_chdir, a.cwd) != 0) child_fail(a.err_fd, kChdirFailed);
  int first_error = ENOENT;
  for (const char* const* path = a.candidates; *path != nullptr; ++path) {
    ::syscall(SYS_execve, *path, a.argv, a.envp);
    // As execvp: a file that is there but cannot run is worth reporting over "not found".
    const int err = errno;
    if (err != ENOENT && err != ENOTDIR && first_error == ENOENT) first_error = err;
  }
  child_fail(a.err_fd, first_error);
}

// The child's stack, with a guard page below it (stacks grow down).
class ChildStack {
 public:
  ChildStack() {
    const long page = ::sysconf(_SC_PAGESIZE);
    guard_ = page > 0 ? static_cast<std::size_t>(page) : 4096;
    size_ = kChildStackBytes + guard_;
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      error_ = errno;
      return;
    }
    base_ = static_cast<char*>(p);
    if (::mprotect(base_, guard_, PROT_NONE) != 0) error_ = errno;
  }
  ~ChildStack() {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  int error() const { return error_; }  // 0 when usable
  void* top() const { return base_ + size_; }

 private:
  char* base_ = nullptr;
  std::size_t guard_ = 0;
  std::size_t size_ = 0;
  int error_ = 0;
};

struct SpawnError {
  const char* call = nullptr;  // null when the child started
  int err = 0;
};

// Starts child_main(args) in a new process; returns its pid, or -1 and what failed.
pid_t spawn_child(ChildArgs& args, SpawnError& error) {
  if (kSpawnByFork) {
    // TSan's clone interceptor does its fork-child bookkeeping in the child, on the shared
    // memory: with CLONE_VM it stops the process ("CHECK failed: tsan_rtl.cpp:234" in
    // ForkAfter with clang 14; "starting new threads after multi-threaded fork" with g++ 12).
    // TSan turns vfork into fork for the same reason; so do TSan builds here.
    const pid_t pid = ::fork();
    if (pid == 0) child_main(&args);
    if (pid < 0) error = {"fork", errno};
    return pid;
  }
  ChildStack stack;
  if (stack.error() != 0) {
    error = {"mmap of the child's stack", stack.error()};
    return -1;
  }
  // With the raw call, as glibc's posix_spawn does: pthread_sigmask would leave glibc's own
  // two signals (thread cancellation, setxid) open.
  sigset_t all, old;
  std::memset(&all, 0xff, sizeof all);
  std::memset(&old, 0, sizeof old);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, kKernelSigsetBytes);
  const pid_t pid = ::clone(child_main, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  const int clone_errno = errno;  // only meaningful when the clone failed
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, kKernelSigsetBytes);
  if (pid < 0) error = {"clone", clone_errno};
  return pid;  // the child has exec'd or exited: its stack can go
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  // The caller closes it now.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::int64_t ms_until(Clock::time_point t) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return std::max<std::int64_t>(d, 0);
}

// Appends to the log until the cap, then notes the truncation once and discards the rest.
class CappedLog {
 public:
  CappedLog(int fd, std::uint64_t used, std::uint64_t cap) : fd_(fd), used_(used), cap_(cap) {}

  void write(const char* data, std::size_t n) {
    if (truncated_) return;
    const std::uint64_t room = cap_ > used_ ? cap_ - used_ : 0;
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, room));
    write_all(data, take);
    if (take < n) {
      truncated_ = true;
      const std::string note =
          "\n[br: output truncated at " + std::to_string(cap_) + " bytes of log]\n";
      write_all(note.data(), note.size());
    }
  }
  // br's own lines (command, outcome); not counted against the cap.
  void note(const std::string& line) { write_all(line.data(), line.size()); }
  bool truncated() const { return truncated_; }

 private:
  void write_all(const char* data, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;  // a full disk must not stop the run; the log is best effort
      data += w;
      n -= static_cast<std::size_t>(w);
      used_ += static_cast<std::uint64_t>(w);
    }
  }
  int fd_;
  std::uint64_t used_;
  std::uint64_t cap_;
  bool truncated_ = false;
};

}  // namespace

void LastLine::feed(const char* data, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    // ANSI sequences (colours, cursor moves): ESC [ parameters final-byte, or ESC and one byte.
    if (escape_ == Escape::esc) {
      escape_ = c == '[' ? Escape::csi : Escape::none;
      continue;
    }
    if (escape_ == Escape::csi) {
      if (c >= 0x40 && c <= 0x7e) escape_ = Escape::none;
      continue;
    }
    if (c == 0x1b) {
      escape_ = Escape::esc;
    } else if (c == '\n' || c == '\r') {
      end_line();
    } else if (c == '\t') {
      if (current_.size() <= kMaxBytes) current_.push_back(' ');
    } else if (c >= 0x20 && c != 0x7f) {
      if (current_.size() <= kMaxBytes) current_.push_back(static_cast<char>(c));
    }
  }
}

void LastLine::end_line() {
  if (current_.find_first_not_of(' ') != std::string::npos) last_ = current_;
  current_.clear();
}

std::string LastLine::get() const {
  std::string line = current_.find_first_not_of(' ') != std::string::npos ? current_ : last_;
  const auto first = line.find_first_not_of(' ');
  if (first == std::string::npos) return "";
  line.erase(0, first);
  line.erase(line.find_last_not_of(' ') + 1);
  if (line.size() > kMaxBytes) {
    line.resize(kMaxBytes);
    // Not in the middle of a UTF-8 character: drop its continuation bytes and its lead byte.
    while (!line.empty() && (static_cast<unsigned char>(line.back()) & 0xC0) == 0x80) {
      line.pop_back();
    }
    if (!line.empty() && (static_cast<unsigned char>(line.back()) & 0x80) != 0) line.pop_back();
    line += "…";
  }
  return line;
}

namespace {

// Writes to a pipe whose reader may be gone without dying of SIGPIPE.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t w = ::write(fd, data, n);
  const int err = errno;
  if (w < 0 && err == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return w;
}


const char* getenv_or_null(const char* name) {
  return ::getenv(name);
}  // NOLINT(concurrency-mt-unsafe)

}  // namespace

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

CancelSource::CancelSource() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

CancelSource::~CancelSource() {
  if (fd_ >= 0) ::close(fd_);
}

void CancelSource::cancel() {
  if (cancelled_.exchange(true)) return;
  if (fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(fd_, &one, sizeof one);
  }
}

std::string ProcessOutcome::describe(std::int64_t timeout_ms) const {
  std::string how;
  if (exited) {
    how = "exited with code " + std::to_string(exit_code);
  } else {
    how = "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  if (timed_out) {
    return "timed out" + (timeout_ms > 0 ? " after " + std::to_string(timeout_ms) + " ms" : "") +
           " and was stopped (" + how + ")";
  }
  if (cancelled) return "cancelled (" + how + ")";
  return how;
}

std::vector<std::string> clean_environment(
    const std::vector<std::string>& allow,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string, std::string>> vars;
  auto set = [&](const std::string& name, const std::string& value) {
    for (auto& v : vars) {
      if (v.first == name) {
        v.second = value;
        return;
      }
    }
    vars.emplace_back(name, value);
  };
  const char* path = getenv_or_null("PATH");
  set("PATH", path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::vector<std::string> names = {"HOME", "LANG"};
  names.insert(names.end(), allow.begin(), allow.end());
  for (const auto& name : names) {
    if (name.empty() || name.find('=') != std::string::npos) continue;
    if (const char* value = getenv_or_null(name.c_str())) set(name, value);
  }
  for (const auto& [name, value] : extra) set(name, value);
  std::vector<std::string> env;
  env.reserve(vars.size());
  for (const auto& [name, value] : vars) {
    std::string entry = name;
    entry += '=';
    entry += value;
    env.push_back(std::move(entry));
  }
  return env;
}

Result<ProcessOutcome> run_process(const ProcessSpec& spec, const CancelSource* cancel) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Error::of(
        "no command given: set the command as an argv array, e.g. [\"claude\", \"-p\"]");
  }
  const std::string& cmd = spec.argv[0];
  std::error_code ec;
  if (!fs::is_directory(spec.cwd, ec)) {
    return Error::of("cannot run '" + cmd + "': working directory " + spec.cwd.string() +
                     " does not exist");
  }

  if (spec.log_file.has_parent_path()) fs::create_directories(spec.log_file.parent_path(), ec);
  Fd log(::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log.open()) {
    return Error::of("cannot open log " + spec.log_file.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  const std::uint64_t used =
      ::fstat(log.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  CappedLog out_log(log.get(), used, spec.log_max_bytes);
  LastLine last_line;
  std::optional<UsageReader> usage;
  if (spec.usage_format) usage.emplace(*spec.usage_format);

  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Error::of("pipe: " + errno_text(errno));
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Error::of("pipe: " + errno_text(errno));
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // Found before the child starts, as posix_spawnp would (br's own PATH): the child may
  // only make raw system calls.
  const std::vector<std::string> candidates = executable_candidates(cmd);

  // The child reports a failed exec through this pipe; it closes unread when exec works.
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Error::of("pipe: " + errno_text(errno));
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

  out_log.note("[br] $ " + join_argv(spec.argv) + "   (cwd " + spec.cwd.string() + ")\n");
  std::vector<const char*> candidate_paths;
  candidate_paths.reserve(candidates.size() + 1);
  for (const auto& c : candidates) candidate_paths.push_back(c.c_str());
  candidate_paths.push_back(nullptr);
  ChildArgs child{spec.cwd.c_str(),       in_r.get(),  out_w.get(), err_w.get(), ::getpid(),
                  candidate_paths.data(), argv.data(), envp.data()};
  const auto start = Clock::now();
  SpawnError spawn_error;
  const pid_t pid = spawn_child(child, spawn_error);
  if (pid < 0) {
    return Error::of("cannot run '" + cmd + "': " + spawn_error.call + ": " +
                     errno_text(spawn_error.err));
  }
  err_w.reset();
  int child_errno = 0;
  ssize_t got;
  do {
    got = ::read(err_r.get(), &child_errno, sizeof child_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    int ignored;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    std::string why;
    if (child_errno == ENOENT) {
      why = cmd.find('/') == std::string::npos
                ? "command not found in PATH (" +
                      std::string(getenv_or_null("PATH") ? getenv_or_null("PATH") : "") + ")"
                : "no such file";
    } else if (child_errno == EACCES) {
      why = "permission denied (is it executable?)";
    } else if (child_errno == kChdirFailed) {
      why = "cannot enter its working directory " + spec.cwd.string();
    } else {
      why = errno_text(child_errno);
    }
    out_log.note("[br] cannot run '" + cmd + "': " + why + "\n");
    return Error::of("cannot run '" + cmd + "': " + why +
                     "; check the command in br.toml and that it is installed");
  }
  in_r.reset();
  out_w.reset();
  ::fcntl(in_w.get(), F_SETFL, ::fcntl(in_w.get(), F_GETFL) | O_NONBLOCK);
  ::fcntl(out_r.get(), F_SETFL, ::fcntl(out_r.get(), F_GETFL) | O_NONBLOCK);
  // Without a pidfd (kernel < 5.3) the loop below falls back to polling waitpid every 20 ms.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  ProcessOutcome outcome;
  std::size_t stdin_done = 0;
  if (spec.stdin_text.empty()) in_w.reset();
  const bool has_deadline = spec.timeout_ms > 0;
  const auto deadline =
      start + std::chrono::milliseconds(std::max<std::int64_t>(spec.timeout_ms, 0));
  bool term_sent = false;
  bool kill_sent = false;
  Clock::time_point kill_at{};
  bool reaped = false;
  int status = 0;
  Clock::time_point drain_until{};
  char buf[65536];

  auto stop_group = [&] {
    if (term_sent) return;
    ::kill(-pid, SIGTERM);
    term_sent = true;
    kill_at =
        Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(spec.kill_grace_ms, 0));
  };

  while (!reaped || out_r.open()) {
    if (reaped && Clock::now() >= drain_until) break;
    pollfd fds[4];
    nfds_t n = 0;
    int i_pid = -1, i_out = -1, i_in = -1;
    if (!reaped && pidfd.open()) {
      i_pid = static_cast<int>(n);
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    if (out_r.open()) {
      i_out = static_cast<int>(n);
      fds[n++] = {out_r.get(), POLLIN, 0};
    }
    if (!reaped && in_w.open()) {
      i_in = static_cast<int>(n);
      fds[n++] = {in_w.get(), POLLOUT, 0};
    }
    if (!reaped && cancel != nullptr && !outcome.cancelled && cancel->fd() >= 0) {
      fds[n++] = {cancel->fd(), POLLIN, 0};
    }

    std::int64_t wait_ms = -1;
    auto at_most = [&](std::int64_t ms) { wait_ms = wait_ms < 0 ? ms : std::min(wait_ms, ms); };
    if (!reaped) {
      if (has_deadline && !outcome.timed_out) at_most(ms_until(deadline));
      if (term_sent && !kill_sent) at_most(ms_until(kill_at));
      if (!pidfd.open()) at_most(20);
      if (cancel != nullptr && cancel->fd() < 0) at_most(20);
    } else {
      at_most(ms_until(drain_until));
    }
    const int ready = ::poll(fds, n, static_cast<int>(std::min<std::int64_t>(wait_ms, 1 << 30)));
    if (ready < 0 && errno != EINTR) break;

    if (i_out >= 0 && (fds[i_out].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      while (true) {
        const ssize_t r = ::read(out_r.get(), buf, sizeof buf);
        if (r > 0) {
          out_log.write(buf, static_cast<std::size_t>(r));
          last_line.feed(buf, static_cast<std::size_t>(r));
          if (usage) usage->feed(buf, static_cast<std::size_t>(r));
          continue;
        }
        if (r == 0) out_r.reset();  // every writer is gone
        break;                      // EAGAIN: nothing more for now
      }
    }
    if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t w = write_no_sigpipe(in_w.get(), spec.stdin_text.data() + stdin_done,
                                         spec.stdin_text.size() - stdin_done);
      if (w > 0) stdin_done += static_cast<std::size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || stdin_done >= spec.stdin_text.size()) {
        in_w.reset();  // done, or the child stopped reading
      }
    }
    if (reaped) continue;
    // The flag is the truth; the fd only wakes the poll.
    if (cancel != nullptr && cancel->cancelled() && !outcome.cancelled) {
      outcome.cancelled = true;
      stop_group();
    }
    if (has_deadline && !outcome.timed_out && !outcome.cancelled && Clock::now() >= deadline) {
      outcome.timed_out = true;
      stop_group();
    }
    if (term_sent && !kill_sent && Clock::now() >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_sent = true;
    }
    const bool leader_done = i_pid >= 0 ? (fds[i_pid].revents & POLLIN) != 0 : !pidfd.open();
    if (leader_done) {
      // The leader is a zombie until reaped, so its pid (the group id) cannot be reused yet:
      // kill whatever it left behind in its group, then reap it.
      if (i_pid >= 0) ::kill(-pid, SIGKILL);
      const pid_t w = ::waitpid(pid, &status, pidfd.open() ? 0 : WNOHANG);
      if (w == pid) {
        if (i_pid < 0) ::kill(-pid, SIGKILL);
        reaped = true;
        outcome.duration_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        in_w.reset();
        drain_until = Clock::now() + std::chrono::milliseconds(kDrainAfterExitMs);
      } else if (w < 0 && errno != EINTR) {
        return Error::of("waitpid for '" + cmd + "' failed: " + errno_text(errno) +
                         " (is SIGCHLD ignored in this process?)");
      }
    }
  }

  if (WIFEXITED(status)) {
    outcome.exited = true;
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  outcome.log_truncated = out_log.truncated();
  outcome.last_line = last_line.get();
  if (usage) {
    usage->finish();
    outcome.usage = usage->usage();
    if (const auto& message = usage->final_message()) {
      LastLine of_message;
      of_message.feed(message->data(), message->size());
      if (!of_message.get().empty()) outcome.last_line = of_message.get();
    }
  }
  out_log.note("\n[br] '" + cmd + "' " + outcome.describe(spec.timeout_ms) + " after " +
               std::to_string(outcome.duration_ms) + " ms\n");
  return outcome;
}

Status write_prompt_file(const std::filesystem::path& file, const std::string& text) {
  std::error_code ec;
  if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
  const auto failed = [&](int err) {
    return Error::of("cannot write " + file.string() + ": " + errno_text(err));
  };
  Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.open()) return failed(errno);
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t w = ::write(out.get(), data, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return failed(errno);
    data += w;
    left -= static_cast<std::size_t>(w);
  }
  // A delayed allocation error (NFS, quotas) shows only at close.
  if (::close(out.release()) != 0) return failed(errno);
  return Ok{};
}

Result<ProcessOutcome> run_agent(const AgentConfig& config, const AgentRun& run,
                                 const CancelSource* cancel) {
  if (config.command.empty()) {
    return Error::of(
        "[agent] command is empty: set it in br.toml, e.g. command = [\"claude\", \"-p\"]");
  }
  std::error_code ec;
  const fs::path workspace = fs::absolute(run.workspace, ec);
  const fs::path prompt_file = fs::absolute(run.prompt_file, ec);
  if (!run.prompt_written) {
    if (auto written = write_prompt_file(prompt_file, run.prompt); !written) {
      return written.error();
    }
  }
  std::string ids, attempts;
  for (std::size_t i = 0; i < run.tasks.size(); ++i) {
    if (i > 0) {
      ids += ' ';
      attempts += ' ';
    }
    ids += run.tasks[i].str();
    attempts += std::to_string(i < run.attempts.size() ? run.attempts[i] : 1);
  }
  ProcessSpec spec;
  spec.argv = config.command;
  spec.cwd = workspace;
  spec.env = clean_environment(config.env_allow, {{"BR_PROMPT_FILE", prompt_file.string()},
                                                  {"BR_BATCH_ID", run.batch.str()},
                                                  {"BR_TASK_IDS", ids},
                                                  {"BR_ATTEMPTS", attempts},
                                                  {"BR_WORKSPACE", workspace.string()}});
  spec.stdin_text = run.prompt;
  spec.log_file = run.log_file;
  spec.log_max_bytes = run.log_max_bytes;
  spec.timeout_ms = config.timeout_ms;
  spec.kill_grace_ms = run.kill_grace_ms;
  spec.usage_format = config.output;  // BR-USAGE lines are read in every format
  return run_process(spec, cancel);
}

}  // namespace br
