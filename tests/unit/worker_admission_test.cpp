#include <catch2/catch.hpp>

#include "coordinator/worker_admission.hpp"

using namespace br;

namespace {

WorkerHello hello(std::string name, std::uint32_t slots, std::uint32_t version, std::string token) {
  WorkerHello h;
  h.name = std::move(name);
  h.slots = slots;
  h.protocol_version = version;
  h.token = std::move(token);
  return h;
}

}  // namespace

TEST_CASE("a worker with our protocol version and the right token is admitted") {
  const HelloReply reply = admit(hello("host-1", 2, kProtocolVersion, "s3cret"), "s3cret", "r1");
  CHECK(reply.accepted);
  CHECK(reply.reason.empty());
  CHECK(reply.run_id == "r1");
}

TEST_CASE("a worker is refused with a reason it can act on") {
  struct Case {
    WorkerHello hello;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {hello("h", 1, kProtocolVersion + 1, "t"),
       "protocol version " + std::to_string(kProtocolVersion + 1) +
           " is not this coordinator's " + std::to_string(kProtocolVersion) +
           "; run the same br version on coordinator and workers"},
      {hello("h", 1, kProtocolVersion, "wrong"),
       "wrong or missing token (set BR_TOKEN to the coordinator's token)"},
      {hello("h", 1, kProtocolVersion, ""),
       "wrong or missing token (set BR_TOKEN to the coordinator's token)"},
      {hello("h", 1, kProtocolVersion, std::string("t\0x", 3)),
       "wrong or missing token (set BR_TOKEN to the coordinator's token)"},
      {hello("h", 0, kProtocolVersion, "t"), "slots must be 1 to 1024, not 0"},
      {hello("", 1, kProtocolVersion, "t"), "a worker needs a name of 1 to 200 characters"},
      {hello("local-0", 1, kProtocolVersion, "t"),
       "'local-0' is the name of one of the coordinator's own slots"},
      {[] {
         WorkerHello h = hello("h", 1, kProtocolVersion, "t");
         h.held_tasks.assign(kMaxHeldAttempts + 1, TaskId("x/01-api"));
         h.held_attempts.assign(kMaxHeldAttempts + 1, 1);
         return h;
       }(),
       "a worker may hold at most 64 attempts, not 65"},
  };
  for (const auto& c : cases) {
    INFO(c.hello.name << " " << c.hello.token);
    const HelloReply reply = admit(c.hello, "t", "r");
    CHECK_FALSE(reply.accepted);
    CHECK(reply.reason == c.reason);
  }
}

TEST_CASE("without a token, any worker of our version is admitted") {
  CHECK(admit(hello("h", 1, kProtocolVersion, "anything"), "", "r").accepted);
}

TEST_CASE("token comparison is exact, whatever the lengths") {
  CHECK(constant_time_equal("abc", "abc"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK_FALSE(constant_time_equal("abcd", "abc"));
  CHECK_FALSE(constant_time_equal("", "a"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("the coordinator's own slot names are reserved, and only those") {
  CHECK(local_worker_name(3) == "local-3");
  CHECK(is_local_worker_name(local_worker_name(0)));
  CHECK(is_local_worker_name("local-12"));
  CHECK_FALSE(is_local_worker_name("local-"));
  CHECK_FALSE(is_local_worker_name("local-dev/0"));
  CHECK_FALSE(is_local_worker_name("local-1x"));
  CHECK_FALSE(is_local_worker_name("host/local-1"));
  CHECK(admit(hello("local-dev/0", 1, kProtocolVersion, "t"), "t", "r").accepted);
}
