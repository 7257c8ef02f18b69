#include "protocol/endpoint.hpp"

#include <algorithm>

namespace br {

std::string Endpoint::str() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, PortZero zero) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (host.empty() || !digits) return std::nullopt;
  const unsigned long number = std::stoul(std::string(port));
  if (number > 65535 || (number == 0 && zero == PortZero::refused)) return std::nullopt;
  return Endpoint{std::string(host), static_cast<std::uint16_t>(number)};
}

bool is_loopback(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace br
