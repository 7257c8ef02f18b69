// What the coordinator's port owes each TCP connection before it has said hello. CAF accepts
// every connection and keeps it for as long as the peer likes, even one that never sends a
// byte, and it counts none of them against `max_connections` (which counts admitted workers):
// 1,100 silent connections took every fd and locked real workers out. The ledger is told, scan
// by scan, which connections the port holds, which peers said a good hello and which sent a
// wrong token, and answers which connections to close:
//   - a connection that has not said hello within `hello_timeout`;
//   - beyond `max_pending` connections without hello, the oldest of them;
//   - a peer after `kMaxBadTokens` wrong tokens, and for a while (doubling with each offence)
//     every new connection from its address.
// It also folds what it closed into one log line per `kSummaryEvery`, so a flood of guesses or
// silent sockets costs one line, not one per connection. Pure: no sockets, no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace br {

struct LedgerLimits {
  std::chrono::milliseconds hello_timeout{5000};  // [network] hello_timeout
  std::size_t max_pending = 64;                   // [network] max_pending
};

// One accepted connection of the port, as a scan found it.
struct SocketSighting {
  std::uint64_t inode = 0;  // tells a reused fd number from the socket it had before
  int fd = -1;
  std::string peer;  // "ADDRESS:PORT", unique among live connections
};

enum class CloseReason { no_hello, too_many_pending, bad_tokens, address_refused };

struct Closing {
  int fd = -1;
  std::uint64_t inode = 0;
  std::string peer;
  CloseReason why = CloseReason::no_hello;
};

// After this many wrong tokens a peer is disconnected and its address refused for a while.
inline constexpr int kMaxBadTokens = 3;
inline constexpr std::chrono::seconds kFirstRefusal{2};
inline constexpr std::chrono::seconds kLongestRefusal{300};
inline constexpr std::chrono::seconds kSummaryEvery{10};
// File descriptors kept free for the run itself (journal, prompts, logs, packs, agents' pipes).
inline constexpr std::size_t kFdReserve = 128;

// "10.0.0.7:4242" → "10.0.0.7"; "[::1]:4242" or "::1:4242" → "::1".
std::string address_of(const std::string& peer);

class ConnectionLedger {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ConnectionLedger(LedgerLimits limits) : limits_(limits) {}

  // A connection was just accepted: whether to keep it, and which other to close to make
  // room. It is refused when `fds_left` (how many more the process may open) is below
  // kFdReserve, so a flood cannot take the fds the run's own files need, or when its address
  // is refused for wrong tokens. When `max_pending` connections already wait for their hello,
  // the newcomer stays (a worker says hello within milliseconds) and the oldest connection of
  // the address that holds the most of them goes: a flood from a few addresses evicts itself.
  struct AcceptDecision {
    bool keep = false;
    std::optional<Closing> evict;
  };
  AcceptDecision accepted(const SocketSighting& socket, std::size_t fds_left,
                          Clock::time_point now);

  // `peer` said a hello that was admitted: its connection stays for as long as it lives.
  void admitted(const std::string& peer, Clock::time_point now);
  // `peer` said a hello with a wrong token: how many it has sent so far. From kMaxBadTokens
  // on it is disconnected (the caller refuses its further hellos outright; the next scan
  // closes it) and its address refused for a while.
  int bad_token(const std::string& peer, Clock::time_point now);
  // Whether hellos from `peer` are to be refused without looking at them: it sent too many
  // wrong tokens, or its address is refused for now.
  bool disconnected(const std::string& peer, Clock::time_point now) const;

  // One scan of the port's connections at `now` (all of them, admitted or not): what to close.
  // A closing is repeated on later scans for as long as the connection is still there.
  std::vector<Closing> observe(Clock::time_point now, const std::vector<SocketSighting>& seen);

  // A line for the log about what was closed or refused since the last one, at most one per
  // kSummaryEvery (the first at once; `last` for the final one, whenever), or nothing when
  // there is nothing new.
  std::optional<std::string> summary(Clock::time_point now, bool last = false);

  std::size_t pending() const;  // connections seen that have not said hello

 private:
  struct Connection {
    std::uint64_t inode = 0;
    int fd = -1;
    Clock::time_point first_seen{};
    bool seen = false;       // by a scan (an admission may come before the first scan)
    bool admitted = false;
    int bad_tokens = 0;
    bool closing = false;    // we asked for it to be closed
    std::optional<CloseReason> why;
  };
  struct Refusal {
    Clock::time_point until{};
    int offences = 0;
  };
  struct Tally {
    std::size_t no_hello = 0, too_many_pending = 0, bad_tokens = 0, address_refused = 0;
    std::size_t refused_at_accept = 0;
    std::size_t left_before_hello = 0;  // closed by the peer (or a failed TLS handshake)
    std::size_t wrong_tokens = 0;
    std::map<std::string, std::size_t> by_address;
    bool empty() const;
  };

  Connection& at(const std::string& peer, Clock::time_point now);
  void close(const std::string& peer, Connection& c, CloseReason why, std::vector<Closing>& out);

  LedgerLimits limits_;
  std::map<std::string, Connection> connections_;  // by peer
  std::map<std::string, Refusal> refused_;         // by address
  Tally tally_;
  std::optional<Clock::time_point> last_summary_;
};

}  // namespace br
