// Who may work for this coordinator: a WorkerHello is accepted when it speaks our protocol
// version and carries the right token. Pure; the front actor applies it.
#pragma once

#include <string>

#include "protocol/model.hpp"

namespace br {

// Compares in time independent of where the strings differ (only their lengths leak).
bool constant_time_equal(const std::string& a, const std::string& b);

// A slot holds one batch (at most a few tasks) at a time; anything far beyond is not a worker.
inline constexpr std::size_t kMaxHeldAttempts = 64;

// The coordinator's own slots are "local-0", "local-1", …; no remote worker may take such a
// name, since results are accepted from the worker an attempt went to, by name.
inline std::string local_worker_name(std::size_t slot) { return "local-" + std::to_string(slot); }
bool is_local_worker_name(const std::string& name);

// Whether the hello carries `token` (any does when `token` is empty).
bool token_accepted(const WorkerHello& hello, const std::string& token);

// accepted, or refused with a reason the worker can act on. An empty `token` accepts any.
HelloReply admit(const WorkerHello& hello, const std::string& token, const std::string& run_id);

}  // namespace br
