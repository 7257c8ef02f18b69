#include "coordinator/worker_admission.hpp"

#include <algorithm>
#include <string_view>

namespace br {

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (std::size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool is_local_worker_name(const std::string& name) {
  constexpr std::string_view prefix = "local-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

bool token_accepted(const WorkerHello& hello, const std::string& token) {
  return token.empty() || constant_time_equal(hello.token, token);
}

HelloReply admit(const WorkerHello& hello, const std::string& token, const std::string& run_id) {
  HelloReply reply;
  reply.run_id = run_id;
  if (hello.protocol_version != kProtocolVersion) {
    reply.reason = "protocol version " + std::to_string(hello.protocol_version) +
                   " is not this coordinator's " + std::to_string(kProtocolVersion) +
                   "; run the same br version on coordinator and workers";
    return reply;
  }
  if (hello.slots == 0 || hello.slots > 1024) {
    reply.reason = "slots must be 1 to 1024, not " + std::to_string(hello.slots);
    return reply;
  }
  if (hello.held_tasks.size() > kMaxHeldAttempts) {
    reply.reason = "a worker may hold at most " + std::to_string(kMaxHeldAttempts) +
                   " attempts, not " + std::to_string(hello.held_tasks.size());
    return reply;
  }
  if (hello.name.empty() || hello.name.size() > 200) {
    reply.reason = "a worker needs a name of 1 to 200 characters";
    return reply;
  }
  if (is_local_worker_name(hello.name)) {
    reply.reason = "'" + hello.name + "' is the name of one of the coordinator's own slots";
    return reply;
  }
  if (!token_accepted(hello, token)) {
    reply.reason = "wrong or missing token (set BR_TOKEN to the coordinator's token)";
    return reply;
  }
  reply.accepted = true;
  return reply;
}

}  // namespace br
