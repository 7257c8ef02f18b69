#include "actors/graph/retry_policy.hpp"

#include <algorithm>
#include <cmath>

namespace br {

Status validate(const RetryPolicy& p) {
  if (p.max_attempts < 1) return Error::of("retry: max_attempts must be at least 1");
  if (p.base_delay_ms < 0) return Error::of("retry: base delay must not be negative");
  if (p.max_delay_ms < p.base_delay_ms) {
    return Error::of("retry: max delay must not be below the base delay");
  }
  if (!(p.jitter >= 0.0 && p.jitter <= 1.0)) return Error::of("retry: jitter must be in 0..1");
  return Ok{};
}

bool should_retry(const RetryPolicy& policy, std::uint32_t failed_attempt) {
  return failed_attempt < policy.max_attempts;
}

std::int64_t backoff_ms(const RetryPolicy& policy, std::uint32_t failed_attempt,
                        double unit_random) {
  // Doubling from the base; past 62 doublings (or the cap) the cap is all that matters.
  const std::uint32_t doublings = failed_attempt == 0 ? 0 : failed_attempt - 1;
  std::int64_t delay = policy.max_delay_ms;
  if (doublings < 62) {
    const std::int64_t factor = std::int64_t{1} << doublings;
    if (policy.base_delay_ms <= policy.max_delay_ms / std::max<std::int64_t>(factor, 1)) {
      delay = policy.base_delay_ms * factor;
    }
  }
  delay = std::min(delay, policy.max_delay_ms);
  const double unit = std::clamp(unit_random, 0.0, 1.0);
  const double scale = 1.0 + policy.jitter * (2.0 * unit - 1.0);
  return std::max<std::int64_t>(0, std::llround(static_cast<double>(delay) * scale));
}

}  // namespace br
