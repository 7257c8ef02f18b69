// RunTracker: the graph actor's decisions, as pure functions of the run state. Given what
// happened (a result, a lost worker, the clock), it says which journal records to write:
// success, failure with a retry after backoff, failure for good with the dependents it
// blocks, tasks that became ready, the end of the run. It never applies them itself: the
// actor journals them and applies them to the RunState once durable (write-ahead).
#pragma once

#include <cstdint>
#include <set>
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

  // taskReady for every pending task whose dependencies all succeeded. O(tasks): at start.
  std::vector<RecordBody> release_ready(const RunState& state) const;

  // What a coordinator does with the journal's state when it starts: a stopped run resumes;
  // attempts in flight are failed as interrupted and retried at once (not charged against
  // max_attempts: the attempt did not fail, its process went away), except those of remote
  // workers when `keep_remote_inflight` (their worker may still report); then every task
  // whose dependencies are done becomes ready.
  std::vector<RecordBody> on_start(const RunState& state, bool keep_remote_inflight,
                                   std::int64_t now_ms) const;

  // Validates a proposed batch (every task ready, none twice, not empty) and numbers its
  // attempts: the batchDispatched record to journal, or why the proposal is refused.
  Result<rec::BatchDispatched> dispatch(const RunState& state, const std::vector<TaskId>& tasks,
                                        BatchId batch, const std::string& worker,
                                        std::int64_t now_ms, std::int64_t lease_ms) const;
  // The batch a worker receives for a durable batchDispatched: the tasks at their attempts,
  // project context (title and overview, up to `max_project_bytes`), and the finished work
  // of the tasks they depend on.
  Batch assemble(const RunState& state, const rec::BatchDispatched& d, std::int64_t lease_ms,
                 std::size_t max_project_bytes) const;
  // Sorts tasks that became ready into first-time ones and retries (which go alone).
  ReadyTasks ready_tasks(const RunState& state, const std::vector<TaskId>& ready) const;

  // The attempts in flight on `worker` that `keep` does not hold: they will never report.
  std::vector<std::pair<TaskId, std::uint32_t>> attempts_lost_with(
      const RunState& state, const std::string& worker,
      const std::set<std::pair<TaskId, std::uint32_t>>& keep) const;

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

  // taskReady for retrying tasks whose backoff has ended: O(released · log n).
  std::vector<RecordBody> release_retries(const RunState& state, std::int64_t now_ms) const;
  // Earliest backoff end among retrying tasks, or 0 if none.
  std::int64_t next_retry_ms(const RunState& state) const;

  // Attempts whose lease ended before `now_ms`: O(attempts in flight).
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
