// Whether a TCP connection to HOST:PORT can be opened within a time limit. CAF 0.17's
// remote_actor connects with a blocking connect(), which waits out the kernel's SYN retries
// (about two minutes) when nothing answers, whatever the caller's deadline; a probe first
// keeps `br-worker --reconnect-for` a bound on the whole attempt. No CAF here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace br {

// Ok when a connection was opened (and closed at once); otherwise why not, e.g.
// "no answer within 2000 ms" or "Connection refused".
struct ProbeResult {
  bool reachable = false;
  std::string why;
};
ProbeResult probe_tcp(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout);

// The same connect, keeping the socket: a connected, non-blocking fd the caller closes, or -1
// with `result` saying why.
int connect_tcp(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                ProbeResult& result);

}  // namespace br
