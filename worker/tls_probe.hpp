// A TLS handshake with the coordinator made by br itself, with OpenSSL, for what CAF 0.17's
// openssl module neither does nor tells: it checks no name in the peer's certificate (any
// certificate from the CA is accepted), and when a handshake fails its caller learns only
// that the connection failed. br-worker makes this handshake before connecting when
// `[network] tls_peer_name` is set, and after a failed connect to say why. No CAF here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "worker/tcp_probe.hpp"

namespace br {

struct TlsFiles {
  std::string cert, key, ca;  // [network] tls_cert, tls_key, tls_ca
};

// Ok when a TLS session with HOST:PORT could be set up as CAF's would (this host's
// certificate, the peer's verified against the CA) and, if `peer_name` is not empty, the peer's
// certificate is for that name; otherwise why not, in OpenSSL's words.
ProbeResult probe_tls(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout, const TlsFiles& files,
                      const std::string& peer_name);

}  // namespace br
