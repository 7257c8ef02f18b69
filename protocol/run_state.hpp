// RunState: the state of a run as the fold of its journal records. The task state machine
// (which status may follow which) lives here, so replay, the graph actor and `br status`
// all enforce the same transitions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

enum class TaskStatus : std::uint8_t {
  pending,     // waiting for dependencies
  ready,       // dependencies done, waiting for a worker
  dispatched,  // sent to a worker in a batch, lease running
  running,     // the worker started the agent
  succeeded,   // verified; terminal
  failed,      // attempt failed; terminal unless a retry follows
  retrying,    // waiting out the backoff before becoming ready again
  blocked,     // a dependency failed for good; terminal
  cancelled,   // the run was cancelled; terminal
};

std::string_view to_string(TaskStatus s);
std::optional<TaskStatus> parse_task_status(std::string_view s);

// True when `to` may follow `from` (see the table in run_state.cpp).
bool can_transition(TaskStatus from, TaskStatus to);

// Nothing more will happen to the task in this run. `failed` counts as terminal because the
// graph journals a taskRetrying in the same group commit as a retryable taskFailed.
bool is_terminal(TaskStatus s);

struct TaskState {
  TaskStatus status = TaskStatus::pending;
  std::uint32_t attempt = 0;       // attempts dispatched so far (the current one, 1-based)
  std::string worker;              // worker of the current attempt
  BatchId batch;                   // batch of the current attempt
  std::string reason;              // last failure or block reason
  std::vector<std::string> files;  // produced files (on success)
  std::int64_t ready_ms = 0;       // when it last became ready
  std::int64_t dispatched_ms = 0;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::int64_t lease_until_ms = 0;
  std::int64_t not_before_ms = 0;  // retry backoff end
  std::string commit;              // isolated runs: the commit of the attempt that passed
  // Attempts made before the task last started over (br retry, --replan): the retry budget
  // counts from here, while attempt numbers only grow.
  std::uint32_t attempt_base = 0;
  UsageTotal usage;  // of every finished attempt (taskSucceeded, taskFailed), failed ones included
};

// The address journaled for worker slots that run inside the coordinator's process.
inline constexpr std::string_view kInProcessAddress = "in-process";

struct WorkerState {
  std::string name;
  std::uint32_t slots = 0;
  std::string address;
  bool alive = false;
};

// Field-by-field equality, for tests that compare a state restored from a snapshot (or
// replayed from one) with the fold of every record.
bool operator==(const TaskState& a, const TaskState& b);
bool operator==(const WorkerState& a, const WorkerState& b);
inline bool operator!=(const TaskState& a, const TaskState& b) { return !(a == b); }
inline bool operator!=(const WorkerState& a, const WorkerState& b) { return !(a == b); }

enum class RunStatus : std::uint8_t { empty, running, stopped, succeeded, failed, cancelled };
std::string_view to_string(RunStatus s);

struct ProgressCounts {
  std::size_t total = 0;
  std::size_t pending = 0, ready = 0, dispatched = 0, running = 0, succeeded = 0, failed = 0,
              retrying = 0, blocked = 0, cancelled = 0;
};
bool operator==(const ProgressCounts& a, const ProgressCounts& b);
inline bool operator!=(const ProgressCounts& a, const ProgressCounts& b) { return !(a == b); }

// A plan with its index by task id. Immutable once built and shared by every copy of a
// RunState (the graph actor's, the live view's, the journal's): copying the state of a
// 400,000-task run copies task states, not the plan. The index's keys view the plan's ids,
// so an IndexedPlan is never copied or moved.
struct IndexedPlan {
  // Indexes `plan`; a duplicate task id is an error naming it, after `prefix` (the source).
  static Result<std::shared_ptr<const IndexedPlan>> make(Plan plan, std::string_view prefix);
  IndexedPlan() = default;
  IndexedPlan(const IndexedPlan&) = delete;
  IndexedPlan& operator=(const IndexedPlan&) = delete;

  Plan plan;
  std::unordered_map<std::string_view, std::size_t> index;
};

class RunState {
 public:
  // Everything a RunState holds, for snapshots: restore() rebuilds the state from it so that
  // replay can start after last_seq. A snapshot is read back from disk, so restore() checks
  // what it can (one task state per plan task, no duplicate task or worker ids, attempts
  // consistent with statuses), rebuilds the index and recounts the progress counts.
  struct Parts {
    std::string run_id;
    RunStatus status = RunStatus::empty;
    std::uint64_t last_seq = 0;
    bool has_plan = false;
    Plan plan;
    std::uint64_t plan_seq = 0;  // see plan_seq()
    bool plan_apart = false;     // a snapshot that names its plan by plan_seq: plan is empty
    std::string spec_path, spec_hash;
    std::string branch, base_commit, head, repo;
    std::vector<TaskState> tasks;  // in plan order
    std::vector<WorkerState> workers;
  };
  static Result<RunState> restore(Parts parts);

  // Applies one record. An illegal transition, an unknown task or a record of another run
  // is an error and leaves the state unchanged.
  Status apply(const JournalRecord& record);
  // The same for a record that is not needed afterwards: a plan it carries is moved, not
  // copied (a replay's planCreated of a 39k-task run holds ~60 MiB of strings).
  Status apply(JournalRecord&& record);

  const std::string& run_id() const { return run_id_; }
  RunStatus status() const { return status_; }
  std::uint64_t last_seq() const { return last_seq_; }
  bool has_plan() const { return has_plan_; }
  // The journal record (planCreated or planRevised) that gave the run its plan; 0 when not
  // known (records applied before the journal numbered them). Not compared by ==.
  std::uint64_t plan_seq() const { return plan_seq_; }
  const Plan& plan() const { return plan_->plan; }
  // The same plan, for holders that outlive this state (the scheduler); never null.
  std::shared_ptr<const Plan> shared_plan() const {
    return std::shared_ptr<const Plan>(plan_, &plan_->plan);
  }
  const std::string& spec_path() const { return spec_path_; }
  const std::string& spec_hash() const { return spec_hash_; }
  // Isolated runs (all empty otherwise): the integration branch, the commit the run started
  // from, and the integration head, which every taskSucceeded with a merge moves.
  const std::string& branch() const { return branch_; }
  const std::string& base_commit() const { return base_commit_; }
  const std::string& head() const { return head_; }
  const std::string& repo() const { return repo_; }
  bool isolated() const { return !base_commit_.empty(); }
  // What the run's finished attempts cost, summed over its tasks (a task a replan dropped is
  // no longer counted). Folded from taskSucceeded/taskFailed records, each applied once; kept
  // as they apply, since the graph checks it against the budget after every commit.
  const UsageTotal& usage() const { return usage_; }

  // Tasks in plan order; index i of tasks() matches plan().tasks[i].
  const std::vector<TaskState>& tasks() const { return tasks_; }
  const TaskState* find(const TaskId& id) const;
  std::optional<std::size_t> index_of(const TaskId& id) const;
  const std::map<std::string, WorkerState>& workers() const { return workers_; }

  // Kept up to date by apply(): O(1).
  const ProgressCounts& counts() const { return counts_; }
  // Indices of the tasks dispatched or running (a few per worker slot), kept by apply(), so
  // that lease checks and a lost worker's sweep look at attempts in flight, not every task.
  const std::set<std::uint32_t>& in_flight() const { return in_flight_; }
  // Retrying tasks as (backoff end, index), earliest first, kept by apply().
  const std::set<std::pair<std::int64_t, std::uint32_t>>& retry_queue() const {
    return retry_queue_;
  }

  // Every field equal (the index and counts follow from the rest, and are compared too).
  friend bool operator==(const RunState& a, const RunState& b);
  friend bool operator!=(const RunState& a, const RunState& b) { return !(a == b); }

 private:
  static std::shared_ptr<const IndexedPlan> empty_plan();
  void rebuild_derived();  // counts, in_flight_ and retry_queue_ from tasks_
  void set_status(TaskState& task, TaskStatus status);
  Status apply_body(const JournalRecord& record, Plan* movable_plan);
  Status apply_checked(const JournalRecord& record, Plan* movable_plan);
  Result<TaskState*> task_for(const TaskId& id, TaskStatus to, std::string_view kind);

  std::string run_id_;
  RunStatus status_ = RunStatus::empty;
  std::uint64_t last_seq_ = 0;
  bool has_plan_ = false;
  std::uint64_t plan_seq_ = 0;
  std::shared_ptr<const IndexedPlan> plan_ = empty_plan();
  std::string spec_path_;
  std::string spec_hash_;
  std::string branch_, base_commit_, head_, repo_;
  std::vector<TaskState> tasks_;
  std::map<std::string, WorkerState> workers_;
  ProgressCounts counts_;
  UsageTotal usage_;  // the sum of tasks_[i].usage
  std::set<std::uint32_t> in_flight_;
  std::set<std::pair<std::int64_t, std::uint32_t>> retry_queue_;
};

}  // namespace br
