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
#include "actors/graph/integration.hpp"
#include "actors/graph/retry_policy.hpp"
#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

// What `br retry` names: tasks, every failed (and cancelled) task, the tasks of a feature.
struct RetrySelection {
  std::vector<TaskId> tasks;
  bool failed = false;
  std::string feature;
};

class RunTracker {
 public:
  // `graph` must be built from `state.plan().tasks` (same order). `integration` joins passed
  // attempts' commits to the branch of an isolated run; it is needed only for one.
  RunTracker(const DependencyGraph& graph, RetryPolicy policy,
             Integration* integration = nullptr)
      : graph_(graph), policy_(policy), integration_(integration) {}

  // taskReady for every pending task whose dependencies all succeeded. O(tasks): at start.
  std::vector<RecordBody> release_ready(const RunState& state) const;

  // What a coordinator does with the journal's state when it starts: a stopped run resumes;
  // attempts in flight are failed as interrupted and retried at once (uncharged: not counted
  // against max_attempts, the attempt did not fail, its process went away), except those of remote
  // workers when `keep_remote_inflight` (their worker may still report); then every task
  // whose dependencies are done becomes ready.
  std::vector<RecordBody> on_start(const RunState& state, bool keep_remote_inflight,
                                   std::int64_t now_ms) const;

  // What a stop (Ctrl-C, br stop) journals: the attempts in flight on in-process workers,
  // whose agents die with the run, failed as interrupted and retrying, so that the stopped
  // run shows nothing running; those of remote workers too unless `keep_remote_inflight`
  // (their worker may still report); then runStopped with `reason`.
  std::vector<RecordBody> on_stop(const RunState& state, bool keep_remote_inflight,
                                  const std::string& reason, std::int64_t now_ms) const;

  // Validates a proposed batch (every task ready, none twice, not empty) and numbers its
  // attempts: the batchDispatched record to journal, or why the proposal is refused.
  Result<rec::BatchDispatched> dispatch(const RunState& state, const std::vector<TaskId>& tasks,
                                        BatchId batch, const std::string& worker,
                                        std::int64_t now_ms, std::int64_t lease_ms) const;
  // The batch a worker receives for a durable batchDispatched: the tasks at their attempts,
  // project context (title and overview, up to `max_project_bytes`), the finished work of
  // the tasks they depend on, the commit to start from (the integration head, which holds
  // all of that work) and why each task's previous attempt failed.
  Batch assemble(const RunState& state, const rec::BatchDispatched& d, std::int64_t lease_ms,
                 std::size_t max_project_bytes) const;
  // Sorts tasks that became ready into first-time ones and retries (which go alone).
  ReadyTasks ready_tasks(const RunState& state, const std::vector<TaskId>& ready) const;

  // The attempts in flight on `worker` that `keep` does not hold: they will never report.
  std::vector<std::pair<TaskId, std::uint32_t>> attempts_lost_with(
      const RunState& state, const std::string& worker,
      const std::set<std::pair<TaskId, std::uint32_t>>& keep) const;

  // What a worker's result means. A result for anything but the task's current, in-flight
  // attempt is stale: no records, and `ignored` says why (for the log). In an isolated run a
  // passed attempt's commit is integrated first; if it cannot be, the attempt fails. An
  // infrastructure failure (TaskResult::infrastructure) is the task's failed attempt retried
  // uncharged, as an interrupted one, and `stop` says why the run must stop.
  struct Outcome {
    std::vector<RecordBody> records;
    std::string ignored;
    // The result of a task that its batch's merged commit settled already (its sibling's
    // result came first): expected, so not worth a note.
    bool settled_by_batch = false;
    // Not empty: br could not write its own files for the attempt (a full disk), which every
    // attempt would meet. The run is to stop (on_stop) with this reason, resumable.
    std::string stop = {};
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

  // `br retry` on a stopped or finished run: the tasksReopened record for `selection`, with
  // what must run again with it — the tasks it blocked, and any failed, blocked or cancelled
  // task it waits on (else it would wait forever). Succeeded tasks stay succeeded: naming one
  // is an error that says so. Empty when --failed or --feature match nothing to reopen.
  // O(tasks reopened and their edges), plus one pass over the tasks for --failed/--feature.
  Result<rec::TasksReopened> reopen(const RunState& state, const RetrySelection& selection) const;

  // runCompleted once every task is terminal (succeeded, failed, blocked or cancelled).
  std::vector<RecordBody> completion(const RunState& state) const;

  // taskCancelled for every task not yet terminal (the run was cancelled).
  std::vector<RecordBody> cancel_all(const RunState& state, const std::string& reason) const;

  // `br cancel`: each named task not yet terminal is cancelled and its descendants blocked
  // (they can never run; br retry reopens them). A cancelled task's attempt in flight is to be
  // killed: its batch is in `kill`, with the worker it runs on, and the other tasks of that
  // batch are interrupted (retried
  // without charge), as on a stop. Names that are unknown or already terminal are refused,
  // with why, and change nothing.
  struct Kill {
    BatchId batch;
    std::string worker;
  };
  struct Cancellation {
    std::vector<RecordBody> records;
    std::vector<Kill> kill;
    std::vector<std::string> refused;
  };
  Cancellation cancel_tasks(const RunState& state, const std::vector<TaskId>& tasks,
                            const std::string& reason, std::int64_t now_ms) const;

 private:
  Outcome fail(const RunState& state, std::size_t index, std::uint32_t attempt,
               const std::string& reason, std::int64_t now_ms, double unit_random,
               const Usage& usage = {}, const AttemptAgent& agent = {}) const;

  const DependencyGraph& graph_;
  RetryPolicy policy_;
  Integration* integration_ = nullptr;
};

}  // namespace br
