// What `br report` writes: one self-contained HTML file about a run, from its journal. A
// timeline (Gantt) of every attempt per worker, the critical path, failures with their reasons
// and log excerpts, and totals. The page embeds its data as JSON and draws the timeline with a
// few lines of script: no network, no external files.
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

// One attempt's fields as `br report --json` and `br task show --json` give them: worker,
// batch, times, outcome, reason, commit.
nlohmann::json attempt_json(const AttemptSpan& attempt);

// `br report --json` (docs/cli.md): every attempt with its times and outcome.
nlohmann::json attempts_json(const RunState& state, const std::vector<AttemptSpan>& attempts);

// `log_excerpt(batch, attempt)` gives the tail of that attempt's agent log, or "" when it is
// not on this host. `now_ms` ends the bars of unfinished attempts.
std::string report_html(const RunState& state, const DependencyGraph& graph,
                        const std::vector<AttemptSpan>& attempts,
                        const std::function<std::string(const std::string&, std::uint32_t)>&
                            log_excerpt,
                        std::int64_t now_ms);

}  // namespace br
