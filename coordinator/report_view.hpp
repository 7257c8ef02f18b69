// What `br report` writes: one self-contained HTML file about a run, from its journal. The
// tasks that finally failed first (recovered ones folded), a timeline (Gantt) of every attempt
// per task with the times the run was stopped, the critical path, costs and totals. The page
// embeds its data as JSON and draws the timeline with a few lines of script: no network, no
// external files.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

// One attempt of one task, as the journal tells it.
struct AttemptSpan {
  std::size_t task = 0;  // index in the plan
  std::uint32_t attempt = 0;
  std::string worker;
  std::string batch;
  std::int64_t dispatched_ms = 0;
  std::int64_t started_ms = 0;   // 0: never reported started
  std::int64_t finished_ms = 0;  // 0: no result (in flight when the journal ends, or lost)
  std::string outcome;           // "succeeded", "failed" or "unfinished"
  std::string reason;            // why it failed
  // Failed through no fault of the task's own (a stop, a coordinator restart, br unable to
  // write its own files, a cancelled batch-mate): retried uncharged (TaskRetrying.uncharged).
  bool interrupted = false;
  std::string commit;            // isolated runs: the passed attempt's commit
  std::vector<std::string> files;  // and the files it changed
  Usage usage;                     // what its agent reported (unknown while unfinished)
  AttemptAgent agent;              // the route and command that ran it (known once finished)
};

// What the finished attempts cost: the run's total, per feature (by id), and the costliest
// tasks (plan indices, at most `top`, costliest first). Failed attempts count too.
struct CostSummary {
  UsageTotal run;
  std::vector<std::pair<std::string, UsageTotal>> features;
  std::vector<std::pair<std::size_t, UsageTotal>> top_tasks;
};
CostSummary cost_summary(const RunState& state, const std::vector<AttemptSpan>& attempts,
                         std::size_t top = 10);

// Every attempt in the records, in dispatch order.
std::vector<AttemptSpan> attempts_of(const std::vector<JournalRecord>& records,
                                     const RunState& state);

// A time the run was not going on: stopped (Ctrl-C, `br stop`, a budget, br's own files) and
// later resumed, as the journal's runStopped and runResumed records say. Idle time between
// attempts is not a gap; a run that is still stopped has no gap yet.
struct RunGap {
  std::int64_t stopped_ms = 0;
  std::int64_t resumed_ms = 0;
  std::string reason;  // why it stopped
};

// Every stop that was followed by a resume, in journal order.
std::vector<RunGap> run_gaps(const std::vector<JournalRecord>& records);

// One attempt's fields as `br report --json` and `br task show --json` give them: worker,
// batch, times, outcome, reason, commit.
nlohmann::json attempt_json(const AttemptSpan& attempt);

// `br report --json` (docs/cli.md): every attempt with its times and outcome.
nlohmann::json attempts_json(const RunState& state, const std::vector<AttemptSpan>& attempts);

// `log_excerpt(batch, attempt)` gives the tail of that attempt's agent log, or "" when it is
// not on this host. `gaps` are drawn as marked bands on the timeline. `now_ms` ends the bars
// of unfinished attempts.
std::string report_html(const RunState& state, const DependencyGraph& graph,
                        const std::vector<AttemptSpan>& attempts,
                        const std::vector<RunGap>& gaps,
                        const std::function<std::string(const std::string&, std::uint32_t)>&
                            log_excerpt,
                        std::int64_t now_ms);

}  // namespace br
