// The file name of an attempt's agent log, shared by the worker that writes it and by
// `br report`, which quotes it: "<batch id made file-safe>-a<attempt>.log".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/ids.hpp"

namespace br {

inline std::string batch_log_name(const BatchId& batch, std::uint32_t attempt) {
  std::string out;
  for (char c : batch.str()) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    out += safe ? c : '_';
  }
  if (out.empty()) out = "batch";
  return out + "-a" + std::to_string(attempt) + ".log";
}

// How the worker ends an attempt's log ("[br] attempt finished: passed" or "failed — why"), so
// that `br logs --follow` knows when to stop.
inline constexpr std::string_view kAttemptEndMarker = "[br] attempt finished:";

}  // namespace br
