// RunTracker: the graph actor's decisions, as pure functions of the run state. Given what
// happened (a result, a lost worker, the clock), it says which journal records to write:
// success, failure with a retry after backoff, failure for good with the dependents it
// blocks, tasks that became ready, the end of the run. It never applies them itself: the
// actor journals them and applies them to the RunState once durable (write-ahead).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "actors/graph/retry_policy.hpp"
#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

class RunTracker {
 public:
  // `graph` must be built from `state.plan().tasks` (same order).
  RunTracker(const DependencyGraph& graph, RetryPolicy policy)
      : graph_(graph), policy_(policy) {}

  // taskReady for every pending task whose dependencies all succeeded.
  std::vector<RecordBody> release_ready(const RunState& state) const;

  // What a worker's result means. A result for anything but the task's current, in-flight
  // attempt is stale: no records, and `ignored` says why (for the log).
  struct Outcome {
    std::vector<RecordBody> records;
    std::string ignored;
  };
  // `unit_random` in [0,1) feeds the backoff jitter.
  Outcome on_result(const RunState& state, const TaskResult& result, std::int64_t now_ms,
                    double unit_random) const;

  // A dispatched or running attempt that will never report (its worker died, its lease
  // expired): fails like any other attempt, with `reason`.
  Outcome on_attempt_lost(const RunState& state, const TaskId& task, std::uint32_t attempt,
                          const std::string& reason, std::int64_t now_ms,
                          double unit_random) const;

  // taskReady for retrying tasks whose backoff has ended.
  std::vector<RecordBody> release_retries(const RunState& state, std::int64_t now_ms) const;
  // Earliest backoff end among retrying tasks, or 0 if none.
  std::int64_t next_retry_ms(const RunState& state) const;

  // Attempts whose lease ended before `now_ms`.
  std::vector<std::pair<TaskId, std::uint32_t>> expired_leases(const RunState& state,
                                                               std::int64_t now_ms) const;

  // runCompleted once every task is terminal (succeeded, failed, blocked or cancelled).
  std::vector<RecordBody> completion(const RunState& state) const;

  // taskCancelled for every task not yet terminal (the run was cancelled).
  std::vector<RecordBody> cancel_all(const RunState& state, const std::string& reason) const;

 private:
  Outcome fail(const RunState& state, std::size_t index, std::uint32_t attempt,
               const std::string& reason, std::int64_t now_ms, double unit_random) const;

  const DependencyGraph& graph_;
  RetryPolicy policy_;
};

}  // namespace br
