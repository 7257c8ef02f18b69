#include <catch2/catch.hpp>

#include "protocol/endpoint.hpp"

using namespace br;

TEST_CASE("HOST:PORT parses into its host and port") {
  const auto e = parse_endpoint("10.0.0.1:7420", PortZero::refused);
  REQUIRE(e);
  CHECK(e->host == "10.0.0.1");
  CHECK(e->port == 7420);
  CHECK(e->str() == "10.0.0.1:7420");
}

TEST_CASE("an IPv6 host is written in brackets, which the host leaves out") {
  const auto e = parse_endpoint("[::1]:7420", PortZero::refused);
  REQUIRE(e);
  CHECK(e->host == "::1");
  CHECK(e->port == 7420);
  CHECK(e->str() == "[::1]:7420");
  CHECK(is_loopback(e->host));
}

TEST_CASE("port 0 is a listener's free port, refused where a peer is to be reached") {
  CHECK(parse_endpoint("127.0.0.1:0", PortZero::allowed)->port == 0);
  CHECK_FALSE(parse_endpoint("127.0.0.1:0", PortZero::refused));
  CHECK(parse_endpoint("127.0.0.1:65535", PortZero::refused)->port == 65535);
}

TEST_CASE("text that is not HOST:PORT is refused") {
  const char* const bad[] = {
      "127.0.0.1:65536",  // beyond the port range
      "127.0.0.1:99999",  // five digits, still beyond
      "127.0.0.1:123456", "127.0.0.1:http", "127.0.0.1:74x0", "127.0.0.1: 7420",
      "127.0.0.1:+7420",  "127.0.0.1:-1",   "127.0.0.1:",      "127.0.0.1",  // no colon
      ":7420",                                                               // no host
      "[]:7420",          "",
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_endpoint(text, PortZero::allowed));
  }
}

TEST_CASE("loopback hosts are the three names of this machine") {
  CHECK(is_loopback("127.0.0.1"));
  CHECK(is_loopback("localhost"));
  CHECK(is_loopback("::1"));
  CHECK_FALSE(is_loopback("0.0.0.0"));
  CHECK_FALSE(is_loopback("10.0.0.1"));
  CHECK_FALSE(is_loopback("[::1]"));
}
