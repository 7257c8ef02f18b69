#include "node/network_setup.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace br {

Status take_env_token(NetworkConfig& network, const char* env_token) {
  if (env_token == nullptr || *env_token == '\0') return Ok{};
  network.token = env_token;
  if (network.token.size() < kMinTokenLength) {
    return Error::of("BR_TOKEN: a token needs at least " + std::to_string(kMinTokenLength) +
                     " characters (make one with `openssl rand -hex 16`)");
  }
  return Ok{};
}

Result<bool> tls_enabled(const NetworkConfig& network, NodeRole role, const std::string& where) {
  const std::string prefix = where.empty() ? "" : where + ": ";
  if (network.tls_cert.empty() != network.tls_key.empty()) {
    return Error::of(prefix + "[network] tls_cert and tls_key go together: set both for TLS, or "
                              "neither");
  }
  const bool tls = !network.tls_cert.empty();
  if (role == NodeRole::worker && !network.tls_peer_name.empty() &&
      (!tls || network.tls_ca.empty())) {
    return Error::of(prefix + "[network] tls_peer_name needs TLS with a CA: set tls_cert, "
                              "tls_key and tls_ca too");
  }
  return tls;
}

Status check_can_listen(const Endpoint& at) {
  const std::string where = "cannot listen on " + at.str() + ": ";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(at.port);
  if (const int rc = ::getaddrinfo(at.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Error::of(where + at.host + " is not an address of this host (" + gai_strerror(rc) +
                         "); set [network] listen or --listen to one",
                     ErrorCategory::bad_input);
  }
  int error = 0;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    const bool bound = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0;
    error = bound ? 0 : errno;
    ::close(fd);
    if (bound) break;
  }
  ::freeaddrinfo(found);
  if (error == 0) return Ok{};
  std::string why = std::strerror(error);
  if (error == EADDRINUSE) {
    why = "another program holds port " + port + " (ss -ltnp shows which)";
  } else if (error == EADDRNOTAVAIL) {
    why = at.host + " is not an address of this host";
  } else if (error == EACCES) {
    why = "ports below 1024 need privileges; pick a port from 1024 to 65535";
  }
  return Error::of(where + why + "; set [network] listen or --listen to another",
                   ErrorCategory::bad_input);
}

}  // namespace br
