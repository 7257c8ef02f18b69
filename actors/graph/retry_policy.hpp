// When a failed attempt is tried again: at most `max_attempts` attempts per task, the n-th
// retry waiting base·2^(n-1) (capped at max) with ± jitter so that many tasks failing together
// do not retry in lockstep. The randomness comes from the caller, so tests choose it.
#pragma once

#include <cstdint>

#include "protocol/result.hpp"

namespace br {

struct RetryPolicy {
  std::uint32_t max_attempts = 3;
  std::int64_t base_delay_ms = 1000;
  std::int64_t max_delay_ms = 60000;
  double jitter = 0.2;  // fraction of the delay, 0..1
};

// A clear error naming the first bad field.
Status validate(const RetryPolicy& policy);

// May a task whose attempt number `failed_attempt` (1-based) just failed try again?
bool should_retry(const RetryPolicy& policy, std::uint32_t failed_attempt);

// Delay before the attempt after `failed_attempt`; `unit_random` in [0,1) picks the jitter
// (0.5 means none). Never negative, never above max_delay_ms·(1 + jitter).
std::int64_t backoff_ms(const RetryPolicy& policy, std::uint32_t failed_attempt,
                        double unit_random);

}  // namespace br
