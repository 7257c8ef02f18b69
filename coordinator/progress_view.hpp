// What `br run` shows while it works. It folds the same durable journal records the graph
// actor wrote into its own RunState, so what it shows is exactly what survives a crash.
// Off a TTY: one plain line per transition. On a TTY: a few lines redrawn in place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

class ProgressView {
 public:
  // `levels[i]` is the execution level of plan task i (0-based).
  ProgressView(RunState state, std::vector<std::uint32_t> levels, std::uint32_t slots,
               std::int64_t started_ms);

  // Applies durable records; returns the plain lines describing them (one per transition
  // worth showing: ready tasks are not, everything else is).
  std::vector<std::string> apply(const std::vector<JournalRecord>& records);

  // The live block for a TTY (no trailing newline), given the time now.
  std::string live_block(std::int64_t now_ms, std::size_t width) const;

  // The final summary: counts, time, and every task that did not succeed with its reason.
  std::string summary(std::int64_t now_ms) const;

  const RunState& state() const { return state_; }

 private:
  std::string describe(const JournalRecord& record) const;
  std::uint32_t current_level() const;

  RunState state_;
  std::vector<std::uint32_t> levels_;
  std::uint32_t slots_;
  std::int64_t started_ms_;
  std::int64_t busy_ms_ = 0;       // sum of finished attempt durations, for the ETA
  std::uint32_t finished_attempts_ = 0;
};

std::string format_duration(std::int64_t ms);

}  // namespace br
