// The wall clock, as journal records, leases and results count it: Unix epoch milliseconds.
// Only shells (actors, the run loop, the batch runner) read it; pure logic takes the time as
// an argument so tests can choose it.
#pragma once

#include <chrono>
#include <cstdint>

namespace br {

inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace br
