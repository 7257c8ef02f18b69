#include "worker/tcp_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace br {
namespace {

struct AddrInfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// One non-blocking connect to `addr`, waited for at most `timeout_ms`: the connected socket
// (non-blocking), or -1 and why not.
int try_address(const addrinfo& addr, int timeout_ms, ProbeResult& out) {
  const int fd = ::socket(addr.ai_family, addr.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          addr.ai_protocol);
  if (fd < 0) {
    out = {false, std::strerror(errno)};
    return -1;
  }
  if (::connect(fd, addr.ai_addr, addr.ai_addrlen) == 0) {
    out.reachable = true;
  } else if (errno != EINPROGRESS) {
    out.why = std::strerror(errno);
  } else {
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready == 0) {
      out.why = "no answer within " + std::to_string(timeout_ms) + " ms";
    } else if (ready < 0) {
      out.why = std::strerror(errno);
    } else {
      int error = 0;
      socklen_t size = sizeof error;
      (void)::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
      out.reachable = error == 0;
      if (error != 0) out.why = std::strerror(error);
    }
  }
  if (out.reachable) return fd;
  ::close(fd);
  return -1;
}

}  // namespace

int connect_tcp(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                ProbeResult& result) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw); rc != 0) {
    result = {false, gai_strerror(rc)};
    return -1;
  }
  const std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  result = {false, "no address for " + host};
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    result = {};
    const int fd = try_address(*a, static_cast<int>(left.count()), result);
    if (fd >= 0) return fd;
  }
  return -1;
}

ProbeResult probe_tcp(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout) {
  ProbeResult result;
  const int fd = connect_tcp(host, port, timeout, result);
  if (fd >= 0) ::close(fd);
  return result;
}

}  // namespace br
