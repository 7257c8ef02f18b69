#include <catch2/catch.hpp>

#include <algorithm>

#include "coordinator/connection_ledger.hpp"

using namespace br;
using namespace std::chrono_literals;
using Clock = ConnectionLedger::Clock;

namespace {

SocketSighting socket_of(int fd, std::string peer) {
  return {static_cast<std::uint64_t>(1000 + fd), fd, std::move(peer)};
}

std::vector<std::string> peers(const std::vector<Closing>& closings) {
  std::vector<std::string> out;
  for (const auto& c : closings) out.push_back(c.peer);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a connection that says no hello within the timeout is closed; one that does stays") {
  ConnectionLedger ledger({5s, 64});
  const auto t0 = Clock::now();
  const std::vector<SocketSighting> seen = {socket_of(7, "10.0.0.1:1000"),
                                            socket_of(8, "10.0.0.2:2000")};
  CHECK(ledger.observe(t0, seen).empty());
  ledger.admitted("10.0.0.2:2000", t0 + 1s);
  CHECK(ledger.observe(t0 + 4900ms, seen).empty());
  const auto closings = ledger.observe(t0 + 5s, seen);
  REQUIRE(closings.size() == 1);
  CHECK(closings[0].fd == 7);
  CHECK(closings[0].inode == 1007);
  CHECK(closings[0].why == CloseReason::no_hello);
  // Asked again while the socket is still there, counted once.
  CHECK(ledger.observe(t0 + 6s, seen).size() == 1);
  CHECK(ledger.observe(t0 + 7s, {seen[1]}).empty());
  CHECK(ledger.pending() == 0);
  const auto line = ledger.summary(t0 + 7s);
  REQUIRE(line);
  CHECK(*line == "closed 1 connection that said no hello within 5000 ms (from 10.0.0.1 ×1)");
  CHECK_FALSE(ledger.summary(t0 + 8s));  // nothing new
}

TEST_CASE("an admission that comes before the first scan keeps the connection") {
  ConnectionLedger ledger({1s, 64});
  const auto t0 = Clock::now();
  ledger.admitted("10.0.0.3:3000", t0);
  CHECK(ledger.observe(t0 + 100ms, {socket_of(9, "10.0.0.3:3000")}).empty());
  CHECK(ledger.observe(t0 + 10s, {socket_of(9, "10.0.0.3:3000")}).empty());
}

TEST_CASE("a new socket from a peer address seen before starts its own clock") {
  ConnectionLedger ledger({1s, 64});
  const auto t0 = Clock::now();
  ledger.admitted("10.0.0.4:4000", t0);
  CHECK(ledger.observe(t0, {socket_of(5, "10.0.0.4:4000")}).empty());
  // Same peer address, another socket (inode): not the admitted one.
  SocketSighting other{9999, 5, "10.0.0.4:4000"};
  CHECK(ledger.observe(t0 + 2s, {other}).empty());
  CHECK(ledger.observe(t0 + 3s, {other}).size() == 1);
}

TEST_CASE("beyond max_pending connections without hello, the oldest are closed") {
  ConnectionLedger ledger({5s, 2});
  const auto t0 = Clock::now();
  CHECK(ledger.observe(t0, {socket_of(1, "a:1"), socket_of(2, "a:2")}).empty());
  const std::vector<SocketSighting> more = {socket_of(1, "a:1"), socket_of(2, "a:2"),
                                            socket_of(3, "a:3"), socket_of(4, "a:4")};
  const auto closings = ledger.observe(t0 + 1s, more);
  CHECK(peers(closings) == std::vector<std::string>{"a:1", "a:2"});
  CHECK(closings[0].why == CloseReason::too_many_pending);
  // Admitted connections do not count against the cap.
  ledger.admitted("a:5", t0 + 1s);
  CHECK(ledger.observe(t0 + 2s, {socket_of(3, "a:3"), socket_of(4, "a:4"), socket_of(5, "a:5")})
            .empty());
}

TEST_CASE("wrong tokens: a peer is disconnected after three, its address refused for a while") {
  ConnectionLedger ledger({5s, 64});
  const auto t0 = Clock::now();
  const std::vector<SocketSighting> seen = {socket_of(3, "10.9.9.9:50000")};
  CHECK(ledger.observe(t0, seen).empty());
  CHECK(ledger.bad_token("10.9.9.9:50000", t0) == 1);
  CHECK(ledger.bad_token("10.9.9.9:50000", t0) == 2);
  CHECK_FALSE(ledger.disconnected("10.9.9.9:50000", t0));
  CHECK(ledger.bad_token("10.9.9.9:50000", t0) == kMaxBadTokens);
  CHECK(ledger.disconnected("10.9.9.9:50000", t0));
  CHECK(ledger.bad_token("10.9.9.9:50000", t0) == 4);
  CHECK(ledger.disconnected("10.9.9.9:50000", t0));  // still
  auto closings = ledger.observe(t0 + 100ms, seen);
  REQUIRE(closings.size() == 1);
  CHECK(closings[0].why == CloseReason::bad_tokens);
  // A new connection from the same address is refused until the refusal ends…
  CHECK(ledger.disconnected("10.9.9.9:50001", t0 + 1s));
  closings = ledger.observe(t0 + 1s, {socket_of(4, "10.9.9.9:50001")});
  REQUIRE(closings.size() == 1);
  CHECK(closings[0].why == CloseReason::address_refused);
  // …which is kFirstRefusal the first time, and doubles with the next offence.
  CHECK_FALSE(ledger.disconnected("10.9.9.9:50002", t0 + kFirstRefusal + 1ms));
  CHECK(ledger.disconnected("10.0.0.1:1", t0) == false);  // other addresses are not touched
  const auto t1 = t0 + 10s;
  for (int i = 0; i < kMaxBadTokens; ++i) ledger.bad_token("10.9.9.9:50003", t1);
  CHECK(ledger.disconnected("10.9.9.9:50004", t1 + kFirstRefusal + 1ms));
  CHECK_FALSE(ledger.disconnected("10.9.9.9:50004", t1 + 2 * kFirstRefusal + 1ms));
  const auto line = ledger.summary(t1);
  REQUIRE(line);
  CHECK(*line ==
        "refused 7 hellos with a wrong token; disconnected 2 connections after 3 wrong tokens; "
        "closed 1 connection from addresses refused for wrong tokens (from 10.9.9.9 ×8)");
}

TEST_CASE("the summary is one line per period, however many connections it covers") {
  ConnectionLedger ledger({1s, 1000});
  const auto t0 = Clock::now();
  std::vector<SocketSighting> seen;
  for (int i = 0; i < 500; ++i) seen.push_back(socket_of(i, "10.1.0." + std::to_string(i % 5) + ":" + std::to_string(i)));
  ledger.observe(t0, seen);
  CHECK(ledger.observe(t0 + 1s, seen).size() == 500);
  auto line = ledger.summary(t0 + 1s);
  REQUIRE(line);
  CHECK_THAT(*line, Catch::StartsWith("closed 500 connections that said no hello within 1000 ms "
                                      "(from 10.1.0.4 ×100, 10.1.0.3 ×100, 10.1.0.2 ×100 and 2 "
                                      "more addresses)"));
  // Connections that leave on their own before hello are counted too, in the next line.
  ledger.observe(t0 + 2s, {});
  ledger.observe(t0 + 2s, {socket_of(1, "10.2.0.1:9")});
  ledger.observe(t0 + 3s, {});
  CHECK_FALSE(ledger.summary(t0 + 3s));  // within kSummaryEvery of the last
  line = ledger.summary(t0 + 1s + kSummaryEvery);
  REQUIRE(line);
  CHECK_THAT(*line, Catch::StartsWith("1 connection closed before saying hello"));
}

TEST_CASE("address_of takes the port off a peer") {
  CHECK(address_of("10.0.0.1:80") == "10.0.0.1");
  CHECK(address_of("::1:80") == "::1");
  CHECK(address_of("[::1]:80") == "::1");
}

TEST_CASE("at max_pending, a newcomer stays and the address holding the most waiting loses one") {
  ConnectionLedger ledger({5s, 3});
  const auto t0 = Clock::now();
  CHECK(ledger.accepted(socket_of(1, "flood:1"), 1000, t0).keep);
  CHECK(ledger.accepted(socket_of(2, "flood:2"), 1000, t0 + 1ms).keep);
  CHECK(ledger.accepted(socket_of(3, "other:1"), 1000, t0 + 2ms).keep);
  auto decision = ledger.accepted(socket_of(4, "worker:1"), 1000, t0 + 3ms);
  CHECK(decision.keep);
  REQUIRE(decision.evict);
  CHECK(decision.evict->peer == "flood:1");  // the oldest of the address with the most
  CHECK(decision.evict->fd == 1);
  CHECK(decision.evict->why == CloseReason::too_many_pending);
  ledger.admitted("worker:1", t0 + 4ms);
  decision = ledger.accepted(socket_of(5, "flood:3"), 1000, t0 + 5ms);
  CHECK(decision.keep);
  CHECK_FALSE(decision.evict);  // the worker said hello: two wait
  decision = ledger.accepted(socket_of(7, "flood:4"), 1000, t0 + 5ms);
  CHECK(decision.keep);
  REQUIRE(decision.evict);
  CHECK(decision.evict->peer == "flood:2");
  // Few fds left: refused, whoever it is.
  decision = ledger.accepted(socket_of(6, "worker:2"), kFdReserve - 1, t0 + 6ms);
  CHECK_FALSE(decision.keep);
  CHECK_FALSE(decision.evict);
  // Known from the moment it was accepted: one that goes before its hello is counted, even if
  // no scan ever saw it (a failed TLS handshake takes milliseconds).
  CHECK(ledger.observe(t0 + 10ms, {socket_of(4, "worker:1"), socket_of(5, "flood:3"),
                                   socket_of(7, "flood:4")})
            .empty());
  const auto line = ledger.summary(t0 + 10ms);
  REQUIRE(line);
  CHECK(*line ==
        "closed 2 connections over the cap of 3 waiting for hello (network.max_pending); closed "
        "1 connection as soon as accepted (few fds left, or an address refused for wrong "
        "tokens); 1 connection closed before saying hello (br-worker's reachability probe, "
        "another program, or a failed TLS handshake: with TLS, check both sides' certificates "
        "and CA) (from flood ×2, worker ×1, other ×1)");
}

TEST_CASE("an address refused for wrong tokens is refused as it connects") {
  ConnectionLedger ledger({5s, 64});
  const auto t0 = Clock::now();
  for (int i = 0; i < kMaxBadTokens; ++i) ledger.bad_token("10.0.0.9:1", t0);
  CHECK_FALSE(ledger.accepted(socket_of(5, "10.0.0.9:2"), 1000, t0 + 1s).keep);
  CHECK(ledger.accepted(socket_of(6, "10.0.0.8:2"), 1000, t0 + 1s).keep);
}
