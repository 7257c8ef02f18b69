// What `br run` shows while it works. It folds the same durable journal records the graph
// actor wrote into its own RunState, so what it shows is exactly what survives a crash.
// Off a TTY: one plain line per transition. On a TTY: a few lines redrawn in place.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

class ProgressView {
 public:
  // `graph` is the plan's (levels, remaining critical path); null draws no levels and
  // estimates from the work left alone. `slots`: workers running at once, for the ETA.
  ProgressView(RunState state, std::shared_ptr<const DependencyGraph> graph, std::uint32_t slots,
               std::int64_t started_ms, bool verbose = false);

  // Applies durable records; returns the plain lines describing them (one per transition
  // worth showing: ready tasks only when verbose, everything else always).
  std::vector<std::string> apply(const std::vector<JournalRecord>& records);

  // Time left: the longer of the remaining critical path and the remaining work spread over
  // the slots, in planned minutes, converted at the pace finished attempts have shown (real
  // milliseconds per planned minute). Negative until an attempt has finished.
  std::int64_t eta_ms() const;

  // The live block for a TTY (no trailing newline), given the time now.
  std::string live_block(std::int64_t now_ms, std::size_t width) const;

  // The final summary: counts, time, and every task that did not succeed with its reason.
  // `br` is the command that reads this run (`br --state-dir DIR`), for the pointer to the
  // tasks a long list leaves out.
  std::string summary(std::int64_t now_ms, const std::string& br = "br") const;

  const RunState& state() const { return state_; }

  // ANSI colour in lines, the live block and the summary: failures red, successes and
  // recoveries green, retries yellow (br's --color, NO_COLOR).
  void set_colour(bool on) { colour_ = on; }

 private:
  std::string describe(const JournalRecord& record) const;
  std::string blocked_summary(const std::string& br) const;
  std::uint32_t current_level() const;

  RunState state_;
  std::shared_ptr<const DependencyGraph> graph_;
  std::vector<std::vector<std::uint32_t>> levels_;  // graph_->levels(), computed once
  std::uint32_t slots_;
  std::int64_t started_ms_;
  bool verbose_;
  std::int64_t busy_ms_ = 0;            // sum of finished attempt durations, for the ETA
  std::uint64_t busy_planned_min_ = 0;  // the planned minutes of those attempts
  struct Event {
    std::string task;
    std::string text;        // without the [done/total] prefix
    bool recovered = false;  // the task has succeeded since
  };
  std::deque<Event> recent_;  // the latest failures and retries, for the live view
  bool colour_ = false;
};

// Whether to colour output: --color `always`/`never`, or `auto` (and anything else): a
// terminal (`is_tty`) whose TERM is not "dumb", and no NO_COLOR (https://no-color.org).
bool use_colour(const std::string& flag, bool is_tty, const char* no_color_env,
                const char* term_env);

std::string format_duration(std::int64_t ms);

}  // namespace br
