// HOST:PORT, as br's addresses are written ([network] listen, --listen, --connect, [metrics]
// listen): parsed once into a host and a port, by the one parser every binary and the config
// use, so that they accept and refuse the same text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace br {

struct Endpoint {
  std::string host;  // without the brackets of an IPv6 literal ("[::1]:7420" → "::1")
  std::uint16_t port = 0;

  // "host:port", an IPv6 host in brackets again.
  std::string str() const;
};

// Port 0 asks the OS for a free port: right for a listener, wrong for a peer to connect to.
enum class PortZero : std::uint8_t { allowed, refused };

// nullopt unless `text` is HOST:PORT: a non-empty host, a colon, and a port of 1 to 5 decimal
// digits up to 65535 (and not 0 when `zero` is refused). The last colon separates the port, so
// an IPv6 host needs brackets.
std::optional<Endpoint> parse_endpoint(std::string_view text, PortZero zero);

// The hosts for which listening needs no token.
bool is_loopback(std::string_view host);

}  // namespace br
