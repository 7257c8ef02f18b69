#include "coordinator/connection_ledger.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace br {

std::string address_of(const std::string& peer) {
  const auto colon = peer.rfind(':');
  std::string address = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  return address;
}

ConnectionLedger::Connection& ConnectionLedger::at(const std::string& peer,
                                                   Clock::time_point now) {
  auto [it, fresh] = connections_.try_emplace(peer);
  if (fresh) it->second.first_seen = now;
  return it->second;
}

ConnectionLedger::AcceptDecision ConnectionLedger::accepted(const SocketSighting& socket,
                                                           std::size_t fds_left,
                                                           Clock::time_point now) {
  AcceptDecision decision;
  if (fds_left < kFdReserve || disconnected(socket.peer, now)) {
    ++tally_.refused_at_accept;
    ++tally_.by_address[address_of(socket.peer)];
    return decision;
  }
  // The waiting connections by address: the one holding the most loses its oldest.
  std::map<std::string, std::pair<std::size_t, std::pair<Clock::time_point, std::string>>> waiting;
  std::size_t total = 0;
  for (const auto& [peer, c] : connections_) {
    if (!c.seen || c.admitted || c.closing) continue;
    ++total;
    auto [it, fresh] = waiting.try_emplace(address_of(peer), 0, std::make_pair(c.first_seen, peer));
    ++it->second.first;
    if (!fresh && c.first_seen < it->second.second.first) it->second.second = {c.first_seen, peer};
  }
  if (total >= limits_.max_pending) {
    const auto most = std::max_element(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
      return a.second.first < b.second.first;
    });
    const std::string victim = most->second.second.second;
    std::vector<Closing> out;
    close(victim, connections_.at(victim), CloseReason::too_many_pending, out);
    decision.evict = out.front();
  }
  Connection& c = at(socket.peer, now);
  if (c.seen && c.inode != socket.inode) {
    c = Connection{};  // a connection from the same peer address that is gone
    c.first_seen = now;
  }
  c.seen = true;
  c.inode = socket.inode;
  c.fd = socket.fd;
  decision.keep = true;
  return decision;
}

void ConnectionLedger::admitted(const std::string& peer, Clock::time_point now) {
  at(peer, now).admitted = true;
}

int ConnectionLedger::bad_token(const std::string& peer, Clock::time_point now) {
  Connection& c = at(peer, now);
  ++tally_.wrong_tokens;
  ++tally_.by_address[address_of(peer)];
  if (++c.bad_tokens != kMaxBadTokens) return c.bad_tokens;
  ++tally_.bad_tokens;  // disconnected now: refused unread, and closed at the next scan
  // Each offence doubles how long the address is refused: a guesser gets kMaxBadTokens
  // guesses per connection and ever fewer connections.
  Refusal& refusal = refused_[address_of(peer)];
  const auto length = std::min<std::chrono::seconds>(
      kFirstRefusal * (1 << std::min(refusal.offences, 16)), kLongestRefusal);
  ++refusal.offences;
  refusal.until = now + length;
  return c.bad_tokens;
}

bool ConnectionLedger::disconnected(const std::string& peer, Clock::time_point now) const {
  auto c = connections_.find(peer);
  if (c != connections_.end() && c->second.bad_tokens >= kMaxBadTokens) return true;
  auto r = refused_.find(address_of(peer));
  return r != refused_.end() && r->second.until > now;
}

void ConnectionLedger::close(const std::string& peer, Connection& c, CloseReason why,
                             std::vector<Closing>& out) {
  if (!c.closing) {
    c.closing = true;
    c.why = why;
    switch (why) {
      case CloseReason::no_hello: ++tally_.no_hello; break;
      case CloseReason::too_many_pending: ++tally_.too_many_pending; break;
      case CloseReason::bad_tokens: break;  // counted when it crossed kMaxBadTokens
      case CloseReason::address_refused: ++tally_.address_refused; break;
    }
    if (why != CloseReason::bad_tokens) ++tally_.by_address[address_of(peer)];
  }
  out.push_back({c.fd, c.inode, peer, *c.why});
}

std::vector<Closing> ConnectionLedger::observe(Clock::time_point now,
                                               const std::vector<SocketSighting>& seen) {
  std::map<std::string, const SocketSighting*> present;
  for (const auto& s : seen) present.emplace(s.peer, &s);

  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection& c = it->second;
    auto found = present.find(it->first);
    if (found == present.end()) {
      if (c.seen) {
        if (!c.admitted && !c.closing) {
          ++tally_.left_before_hello;
          ++tally_.by_address[address_of(it->first)];
        }
        it = connections_.erase(it);
        continue;
      }
      // Told about before any scan found it: it went before a scan came, or never was.
      if (now - c.first_seen > limits_.hello_timeout) {
        it = connections_.erase(it);
        continue;
      }
    } else if (c.seen && c.inode != found->second->inode) {
      c = Connection{};  // the same peer address on a new socket: a new connection
      c.first_seen = now;
    }
    if (found != present.end() && !c.seen) {
      c.seen = true;
      c.inode = found->second->inode;
      c.fd = found->second->fd;
    }
    ++it;
  }
  for (const auto& s : seen) {
    Connection& c = at(s.peer, now);
    if (!c.seen) {
      c.seen = true;
      c.inode = s.inode;
      c.fd = s.fd;
    }
  }

  std::vector<Closing> out;
  std::vector<std::pair<Clock::time_point, const std::string*>> waiting;
  for (auto& [peer, c] : connections_) {
    if (!c.seen || c.admitted) continue;
    if (c.closing) {
      close(peer, c, *c.why, out);
    } else if (c.bad_tokens >= kMaxBadTokens) {
      close(peer, c, CloseReason::bad_tokens, out);
    } else if (disconnected(peer, now)) {
      close(peer, c, CloseReason::address_refused, out);
    } else if (now - c.first_seen >= limits_.hello_timeout) {
      close(peer, c, CloseReason::no_hello, out);
    } else {
      waiting.emplace_back(c.first_seen, &peer);
    }
  }
  if (waiting.size() > limits_.max_pending) {
    // The oldest go: they have waited longest without a word, and a worker that just
    // connected is about to say hello.
    std::sort(waiting.begin(), waiting.end());
    const std::size_t excess = waiting.size() - limits_.max_pending;
    for (std::size_t i = 0; i < excess; ++i) {
      close(*waiting[i].second, connections_.at(*waiting[i].second),
            CloseReason::too_many_pending, out);
    }
  }
  for (auto it = refused_.begin(); it != refused_.end();) {
    // An address is forgotten once its refusal is long over, so the map stays small.
    it = now - it->second.until > kLongestRefusal ? refused_.erase(it) : std::next(it);
  }
  return out;
}

std::size_t ConnectionLedger::pending() const {
  return static_cast<std::size_t>(std::count_if(
      connections_.begin(), connections_.end(),
      [](const auto& entry) { return entry.second.seen && !entry.second.admitted; }));
}

bool ConnectionLedger::Tally::empty() const {
  return no_hello + too_many_pending + bad_tokens + address_refused + left_before_hello +
             wrong_tokens + refused_at_accept ==
         0;
}

std::optional<std::string> ConnectionLedger::summary(Clock::time_point now, bool last) {
  if (tally_.empty()) return std::nullopt;
  if (!last && last_summary_ && now - *last_summary_ < kSummaryEvery) return std::nullopt;
  last_summary_ = now;
  std::vector<std::string> parts;
  const auto count = [](std::size_t n, const char* one, const char* many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
  };
  if (tally_.no_hello) {
    parts.push_back(fmt::format("closed {} that said no hello within {} ms",
                                count(tally_.no_hello, "connection", "connections"),
                                limits_.hello_timeout.count()));
  }
  if (tally_.too_many_pending) {
    parts.push_back(fmt::format("closed {} over the cap of {} waiting for hello "
                                "(network.max_pending)",
                                count(tally_.too_many_pending, "connection", "connections"),
                                limits_.max_pending));
  }
  if (tally_.refused_at_accept) {
    parts.push_back(fmt::format("closed {} as soon as accepted (few fds left, or an address "
                                "refused for wrong tokens)",
                                count(tally_.refused_at_accept, "connection", "connections")));
  }
  if (tally_.wrong_tokens) {
    parts.push_back(fmt::format("refused {} with a wrong token",
                                count(tally_.wrong_tokens, "hello", "hellos")));
  }
  if (tally_.bad_tokens) {
    parts.push_back(fmt::format("disconnected {} after {} wrong tokens",
                                count(tally_.bad_tokens, "connection", "connections"),
                                kMaxBadTokens));
  }
  if (tally_.address_refused) {
    parts.push_back(fmt::format("closed {} from addresses refused for wrong tokens",
                                count(tally_.address_refused, "connection", "connections")));
  }
  if (tally_.left_before_hello) {
    parts.push_back(fmt::format("{} closed before saying hello (br-worker's reachability "
                                "probe, another program, or a failed TLS handshake: with "
                                "TLS, check both sides' certificates and CA)",
                                count(tally_.left_before_hello, "connection", "connections")));
  }
  std::string line;
  for (const auto& part : parts) line += (line.empty() ? "" : "; ") + part;
  // The addresses that account for most of it, so an operator knows where to look.
  std::vector<std::pair<std::size_t, std::string>> top;
  for (const auto& [address, n] : tally_.by_address) top.emplace_back(n, address);
  std::sort(top.rbegin(), top.rend());
  line += " (from ";
  for (std::size_t i = 0; i < std::min<std::size_t>(top.size(), 3); ++i) {
    line += (i ? ", " : "") + top[i].second + " ×" + std::to_string(top[i].first);
  }
  if (top.size() > 3) line += fmt::format(" and {} more addresses", top.size() - 3);
  line += ")";
  tally_ = Tally{};
  return line;
}

}  // namespace br
