#include "coordinator/connection_watch.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace br {
namespace {

// The watch the accept hook asks, if one is watching (at most one per process).
std::mutex g_watch_mutex;
ConnectionWatch* g_watch = nullptr;

std::size_t open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::size_t{1} << 20;
  }
  return static_cast<std::size_t>(limit.rlim_cur);
}

std::uint16_t local_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
  if (local.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
  }
  return 0;
}

// The peer of a connected INET socket whose local port is `port`, or "" for anything else.
std::string peer_if_ours(int fd, std::uint16_t port) {
  if (local_port(fd) != port) return "";
  int listening = 0;
  socklen_t length = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening) {
    return "";
  }
  sockaddr_storage remote{};
  length = sizeof remote;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &length) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (remote.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(remote);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    return peer_name(text, ntohs(in.sin_port));
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(remote);
  ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
  return peer_name(text, ntohs(in6.sin6_port));
}

}  // namespace

bool keep_accepted(int listener, int fd) {
  std::lock_guard<std::mutex> lock(g_watch_mutex);
  if (!g_watch) return true;
  return g_watch->on_accept(listener, fd);
}

std::string peer_name(std::string address, std::uint16_t port) {
  constexpr std::string_view mapped = "::ffff:";
  if (address.size() > mapped.size() && address.compare(0, mapped.size(), mapped) == 0 &&
      address.find('.') != std::string::npos) {
    address.erase(0, mapped.size());
  }
  return address + ":" + std::to_string(port);
}

std::vector<SocketSighting> scan_own_sockets(std::uint16_t port, DIR* dir) {
  std::vector<SocketSighting> out;
  if (!dir) return out;
  ::rewinddir(dir);  // procfs lists the fds as they are now
  const int own = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    std::string peer = peer_if_ours(static_cast<int>(fd), port);
    if (peer.empty()) continue;
    out.push_back({static_cast<std::uint64_t>(st.st_ino), static_cast<int>(fd), std::move(peer)});
  }
  return out;
}

void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &limit);
}

ConnectionWatch::ConnectionWatch(LedgerLimits limits, Log log)
    : log_(std::move(log)), ledger_(limits) {}

void ConnectionWatch::watch(std::uint16_t port) {
  if (thread_.joinable()) return;
  port_ = port;
  fd_limit_ = open_file_limit();
  {
    std::lock_guard<std::mutex> lock(g_watch_mutex);
    g_watch = this;
  }
  // Opened once, now: when silent connections have taken every fd, opening it for a scan
  // would fail just when the scan is needed.
  fds_ = ::opendir("/proc/self/fd");
  thread_ = std::thread([this] { run(); });
}

ConnectionWatch::~ConnectionWatch() { (void)stop(); }

std::optional<std::string> ConnectionWatch::stop() {
  {
    std::lock_guard<std::mutex> lock(g_watch_mutex);
    if (g_watch == this) g_watch = nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fds_) ::closedir(fds_);
  fds_ = nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  return ledger_.summary(ConnectionLedger::Clock::now(), /*last=*/true);
}

void ConnectionWatch::shut_down(const Closing& c) {
  // The fd must still be the socket the ledger knows: CAF may have closed it meanwhile and the
  // number been reused. (A reuse in the instant between this check and shutdown() would cost
  // that newcomer its connection, which a worker survives by reconnecting.)
  struct stat st {};
  if (::fstat(c.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != c.inode) return;
  (void)::shutdown(c.fd, SHUT_RDWR);
}

bool ConnectionWatch::on_accept(int listener, int fd) {
  if (port_ == 0 || local_port(listener) != port_) return true;  // not the port we watch
  struct stat st {};
  std::string peer = peer_if_ours(fd, port_);
  if (peer.empty() || ::fstat(fd, &st) != 0) return true;
  // The kernel hands out the lowest free fd: none is free below this one, so at most
  // fd_limit_ - fd - 1 are left above it.
  const std::size_t left = static_cast<std::size_t>(fd) + 1 < fd_limit_
                               ? fd_limit_ - static_cast<std::size_t>(fd) - 1
                               : 0;
  ConnectionLedger::AcceptDecision decision;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    decision = ledger_.accepted({static_cast<std::uint64_t>(st.st_ino), fd, std::move(peer)},
                                left, ConnectionLedger::Clock::now());
  }
  if (decision.evict) shut_down(*decision.evict);
  return decision.keep;
}

void ConnectionWatch::admitted(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  ledger_.admitted(peer, ConnectionLedger::Clock::now());
}

int ConnectionWatch::bad_token(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  return ledger_.bad_token(peer, ConnectionLedger::Clock::now());
}

bool ConnectionWatch::disconnected(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  return ledger_.disconnected(peer, ConnectionLedger::Clock::now());
}

void ConnectionWatch::scan_now() {
  if (port_ == 0 || !fds_) return;
  // The scan runs without the lock (it makes a few syscalls per socket); only the ledger
  // needs it.
  const std::vector<SocketSighting> seen = scan_own_sockets(port_, fds_);
  std::vector<Closing> closings;
  std::optional<std::string> line;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = ConnectionLedger::Clock::now();
    closings = ledger_.observe(now, seen);
    line = ledger_.summary(now);
  }
  for (const Closing& c : closings) shut_down(c);
  if (line && log_) log_(*line);
}

void ConnectionWatch::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_for(lock, kScanEvery, [this] { return stopping_; })) break;
    lock.unlock();
    scan_now();
    lock.lock();
  }
}

}  // namespace br

// CAF 0.17 accepts every connection its listening socket offers, as fast as they come, and
// offers no hook: this definition of accept() in br's own executables comes before libc's in
// symbol lookup, so CAF's doorman (plain and TLS) calls it. It passes every call to libc's
// accept(); a connection on the watched port that the ConnectionWatch will not keep (too many
// waiting for hello, few fds left, an address refused for wrong tokens) is closed at once and
// CAF is told "no connection yet" (EAGAIN), which both its TCP and its TLS acceptor take as
// "nothing to do". Every kept connection is known to the watch from its first moment, so
// those that close before saying hello (a failed TLS handshake) are counted, however brief.
extern "C" int accept(int listener, sockaddr* address, socklen_t* length) {
  using Accept = int (*)(int, sockaddr*, socklen_t*);
  static const auto libc_accept = reinterpret_cast<Accept>(::dlsym(RTLD_NEXT, "accept"));
  if (!libc_accept) {
    errno = ENOSYS;
    return -1;
  }
  const int fd = libc_accept(listener, address, length);
  if (fd < 0 || br::keep_accepted(listener, fd)) return fd;
  ::close(fd);
  errno = EAGAIN;
  return -1;
}
