#include "node/network_setup.hpp"

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

}  // namespace br
