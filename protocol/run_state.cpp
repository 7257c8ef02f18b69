// The fold of journal records into a RunState, the task state machine, and the checks a
// state restored from a snapshot must pass.
#include "protocol/run_state.hpp"

#include <algorithm>
#include <array>
#include <tuple>

namespace br {
namespace {

constexpr std::array<std::string_view, 9> kStatusNames = {
    "pending", "ready", "dispatched", "running", "succeeded",
    "failed",  "retrying", "blocked", "cancelled"};

std::string quoted(const TaskId& id) { return "'" + id.str() + "'"; }

}  // namespace

std::string_view to_string(TaskStatus s) { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<TaskStatus> parse_task_status(std::string_view s) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == s) return static_cast<TaskStatus>(i);
  }
  return std::nullopt;
}

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::empty: return "empty";
    case RunStatus::running: return "running";
    case RunStatus::stopped: return "stopped";
    case RunStatus::succeeded: return "succeeded";
    case RunStatus::failed: return "failed";
    case RunStatus::cancelled: return "cancelled";
  }
  return "empty";
}

// The legal transitions. A failed attempt goes through `failed` (journaled with its reason)
// before `retrying`; a lost or expired lease is a failed attempt like any other.
bool can_transition(TaskStatus from, TaskStatus to) {
  using S = TaskStatus;
  switch (from) {
    case S::pending: return to == S::ready || to == S::blocked || to == S::cancelled;
    case S::ready: return to == S::dispatched || to == S::blocked || to == S::cancelled;
    case S::dispatched:
      // A worker may report a result whose taskStarted never reached the coordinator.
      return to == S::running || to == S::succeeded || to == S::failed || to == S::cancelled;
    case S::running: return to == S::succeeded || to == S::failed || to == S::cancelled;
    case S::failed: return to == S::retrying;
    case S::retrying: return to == S::ready || to == S::cancelled;
    case S::succeeded:
    case S::blocked:
    case S::cancelled: return false;
  }
  return false;
}

bool is_terminal(TaskStatus s) {
  return s == TaskStatus::succeeded || s == TaskStatus::failed || s == TaskStatus::blocked ||
         s == TaskStatus::cancelled;
}

const TaskState* RunState::find(const TaskId& id) const {
  auto it = plan_->index.find(id.str());
  return it == plan_->index.end() ? nullptr : &tasks_[it->second];
}

std::optional<std::size_t> RunState::index_of(const TaskId& id) const {
  auto it = plan_->index.find(id.str());
  if (it == plan_->index.end()) return std::nullopt;
  return it->second;
}

namespace {

std::size_t& slot(ProgressCounts& c, TaskStatus s) {
  switch (s) {
    case TaskStatus::pending: return c.pending;
    case TaskStatus::ready: return c.ready;
    case TaskStatus::dispatched: return c.dispatched;
    case TaskStatus::running: return c.running;
    case TaskStatus::succeeded: return c.succeeded;
    case TaskStatus::failed: return c.failed;
    case TaskStatus::retrying: return c.retrying;
    case TaskStatus::blocked: return c.blocked;
    case TaskStatus::cancelled: return c.cancelled;
  }
  return c.pending;
}

}  // namespace

bool operator==(const TaskState& a, const TaskState& b) {
  return std::tie(a.status, a.attempt, a.worker, a.batch, a.reason, a.files, a.ready_ms,
                  a.dispatched_ms, a.started_ms, a.finished_ms, a.lease_until_ms,
                  a.not_before_ms, a.commit, a.attempt_base, a.usage.attempts,
                  a.usage.unknown_attempts, a.usage.tokens_in, a.usage.tokens_out,
                  a.usage.cache_write_tokens, a.usage.cache_read_tokens,
                  a.usage.cost_micro_usd) ==
         std::tie(b.status, b.attempt, b.worker, b.batch, b.reason, b.files, b.ready_ms,
                  b.dispatched_ms, b.started_ms, b.finished_ms, b.lease_until_ms,
                  b.not_before_ms, b.commit, b.attempt_base, b.usage.attempts,
                  b.usage.unknown_attempts, b.usage.tokens_in, b.usage.tokens_out,
                  b.usage.cache_write_tokens, b.usage.cache_read_tokens,
                  b.usage.cost_micro_usd);
}

bool operator==(const WorkerState& a, const WorkerState& b) {
  return std::tie(a.name, a.slots, a.address, a.alive) ==
         std::tie(b.name, b.slots, b.address, b.alive);
}

bool operator==(const ProgressCounts& a, const ProgressCounts& b) {
  return std::tie(a.total, a.pending, a.ready, a.dispatched, a.running, a.succeeded, a.failed,
                  a.retrying, a.blocked, a.cancelled) ==
         std::tie(b.total, b.pending, b.ready, b.dispatched, b.running, b.succeeded, b.failed,
                  b.retrying, b.blocked, b.cancelled);
}

bool operator==(const RunState& a, const RunState& b) {
  // The index follows from the plan (and so do the counts from the tasks, compared anyway).
  return std::tie(a.run_id_, a.status_, a.last_seq_, a.has_plan_, a.plan_->plan, a.spec_path_,
                  a.spec_hash_, a.branch_, a.base_commit_, a.head_, a.repo_, a.tasks_, a.workers_,
                  a.counts_) ==
         std::tie(b.run_id_, b.status_, b.last_seq_, b.has_plan_, b.plan_->plan, b.spec_path_,
                  b.spec_hash_, b.branch_, b.base_commit_, b.head_, b.repo_, b.tasks_, b.workers_,
                  b.counts_);
}

std::shared_ptr<const IndexedPlan> RunState::empty_plan() {
  static const std::shared_ptr<const IndexedPlan> empty = std::make_shared<IndexedPlan>();
  return empty;
}

Result<std::shared_ptr<const IndexedPlan>> IndexedPlan::make(Plan plan, std::string_view prefix) {
  auto out = std::make_shared<IndexedPlan>();
  out->plan = std::move(plan);
  out->index.reserve(out->plan.tasks.size());
  for (std::size_t i = 0; i < out->plan.tasks.size(); ++i) {
    if (!out->index.emplace(out->plan.tasks[i].id.str(), i).second) {
      return Error::of(std::string(prefix) + " duplicate task id " +
                       quoted(out->plan.tasks[i].id));
    }
  }
  return std::shared_ptr<const IndexedPlan>(std::move(out));
}

Result<RunState> RunState::restore(Parts parts) {
  if (parts.tasks.size() != parts.plan.tasks.size()) {
    return Error::of("snapshot has " + std::to_string(parts.tasks.size()) + " task states for " +
                     std::to_string(parts.plan.tasks.size()) + " tasks");
  }
  if (!parts.has_plan && !parts.tasks.empty()) return Error::of("snapshot has tasks but no plan");
  RunState s;
  for (std::size_t i = 0; i < parts.plan.tasks.size(); ++i) {
    // Only a batchDispatched gives a task an attempt, and every status below follows one.
    const TaskState& t = parts.tasks[i];
    const bool dispatched_once = t.status == TaskStatus::dispatched ||
                                 t.status == TaskStatus::running ||
                                 t.status == TaskStatus::succeeded ||
                                 t.status == TaskStatus::failed || t.status == TaskStatus::retrying;
    if (dispatched_once && t.attempt == 0) {
      return Error::of("snapshot has task " + quoted(parts.plan.tasks[i].id) + " " +
                       std::string(to_string(t.status)) + " without an attempt");
    }
  }
  for (auto& w : parts.workers) {
    const std::string name = w.name;
    if (!s.workers_.emplace(name, std::move(w)).second) {
      return Error::of("snapshot has duplicate worker '" + name + "'");
    }
  }
  s.run_id_ = std::move(parts.run_id);
  s.status_ = parts.status;
  s.last_seq_ = parts.last_seq;
  s.has_plan_ = parts.has_plan;
  s.plan_seq_ = parts.plan_seq;
  auto indexed = IndexedPlan::make(std::move(parts.plan), "snapshot has");
  if (!indexed) return indexed.error();
  s.plan_ = std::move(indexed).value();
  s.spec_path_ = std::move(parts.spec_path);
  s.spec_hash_ = std::move(parts.spec_hash);
  s.branch_ = std::move(parts.branch);
  s.base_commit_ = std::move(parts.base_commit);
  s.head_ = std::move(parts.head);
  s.repo_ = std::move(parts.repo);
  s.tasks_ = std::move(parts.tasks);
  s.rebuild_derived();  // recounted, not trusted
  return s;
}

namespace {
bool is_in_flight(TaskStatus s) { return s == TaskStatus::dispatched || s == TaskStatus::running; }
}  // namespace

void RunState::rebuild_derived() {
  counts_ = ProgressCounts{};
  counts_.total = tasks_.size();
  usage_ = UsageTotal{};
  in_flight_.clear();
  retry_queue_.clear();
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const TaskState& t = tasks_[i];
    ++slot(counts_, t.status);
    usage_.add(t.usage);
    if (is_in_flight(t.status)) in_flight_.insert(static_cast<std::uint32_t>(i));
    if (t.status == TaskStatus::retrying) {
      retry_queue_.emplace(t.not_before_ms, static_cast<std::uint32_t>(i));
    }
  }
}

// The one place a task's status changes, so the derived counts and sets stay exact. A task
// going to retrying must have its not_before_ms set first.
void RunState::set_status(TaskState& task, TaskStatus status) {
  const auto i = static_cast<std::uint32_t>(&task - tasks_.data());
  if (task.status == TaskStatus::retrying) retry_queue_.erase({task.not_before_ms, i});
  if (is_in_flight(task.status)) in_flight_.erase(i);
  --slot(counts_, task.status);
  ++slot(counts_, status);
  task.status = status;
  if (status == TaskStatus::retrying) retry_queue_.emplace(task.not_before_ms, i);
  if (is_in_flight(status)) in_flight_.insert(i);
}

Result<TaskState*> RunState::task_for(const TaskId& id, TaskStatus to, std::string_view kind) {
  auto it = plan_->index.find(id.str());
  if (it == plan_->index.end()) {
    return Error::of(std::string(kind) + " names unknown task " + quoted(id));
  }
  TaskState& t = tasks_[it->second];
  if (!can_transition(t.status, to)) {
    return Error::of(std::string(kind) + ": task " + quoted(id) + " cannot go from " +
                     std::string(to_string(t.status)) + " to " + std::string(to_string(to)));
  }
  return &t;
}

Status RunState::apply(const JournalRecord& record) { return apply_checked(record, nullptr); }

Status RunState::apply(JournalRecord&& record) {
  Plan* plan = nullptr;
  if (auto* created = std::get_if<rec::PlanCreated>(&record.body)) plan = &created->plan;
  if (auto* revised = std::get_if<rec::PlanRevised>(&record.body)) plan = &revised->plan;
  return apply_checked(record, plan);
}

Status RunState::apply_checked(const JournalRecord& record, Plan* movable_plan) {
  if (record.seq != 0 && last_seq_ != 0 && record.seq != last_seq_ + 1) {
    return Error::of("journal gap: record " + std::to_string(record.seq) + " follows record " +
                     std::to_string(last_seq_));
  }
  if (!run_id_.empty() && record.run_id != run_id_) {
    return Error::of("record " + std::to_string(record.seq) + " belongs to run '" +
                     record.run_id + "', not to this journal's run '" + run_id_ + "'");
  }
  auto status = apply_body(record, movable_plan);
  if (!status) return status;
  if (run_id_.empty()) run_id_ = record.run_id;
  if (record.seq != 0) last_seq_ = record.seq;
  return Ok{};
}

Status RunState::apply_body(const JournalRecord& record, Plan* movable_plan) {
  const std::int64_t now = record.time_ms;
  struct Visitor {
    RunState& s;
    std::int64_t now;
    std::uint64_t seq;
    Plan* movable_plan;  // the record's plan, when it may be moved from

    // Both branches are Plan rvalues, so the first plainly moves. `cond ? std::move(p) :
    // v.plan` has type `const Plan`, whose move is left to conversion rules (clang-tidy's
    // performance-move-const-arg flags it).
    Plan taken_plan(const Plan& record_plan) const {
      return movable_plan ? std::move(*movable_plan) : Plan(record_plan);
    }

    void adopt(std::shared_ptr<const IndexedPlan> plan, const std::string& spec_path,
               const std::string& spec_hash, std::vector<TaskState> tasks) {
      s.plan_ = std::move(plan);
      s.spec_path_ = spec_path;
      s.spec_hash_ = spec_hash;
      s.tasks_ = std::move(tasks);
      s.rebuild_derived();
      s.has_plan_ = true;
      s.plan_seq_ = seq;
      s.status_ = RunStatus::running;
    }
    Status operator()(const rec::PlanCreated& v) {
      if (s.has_plan_) return Error::of("planCreated: the run already has a plan");
      auto indexed = IndexedPlan::make(taken_plan(v.plan), "planCreated:");
      if (!indexed) return indexed.error();
      const std::size_t tasks = (*indexed)->plan.tasks.size();  // v.plan may be moved from
      adopt(std::move(indexed).value(), v.spec_path, v.spec_hash, std::vector<TaskState>(tasks));
      s.branch_ = v.branch;
      s.base_commit_ = v.base_commit;
      s.head_ = v.base_commit;
      s.repo_ = v.repo;
      return Ok{};
    }
    Status operator()(const rec::PlanRevised& v) {
      if (!s.has_plan_) return Error::of("planRevised: the run has no plan to revise");
      auto indexed = IndexedPlan::make(taken_plan(v.plan), "planRevised:");
      if (!indexed) return indexed.error();
      const Plan& plan = (*indexed)->plan;  // v.plan may be moved from
      std::vector<TaskState> tasks(plan.tasks.size());
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        const TaskState* old = s.find(plan.tasks[i].id);
        if (!old) continue;
        if (old->status == TaskStatus::succeeded) {
          tasks[i] = *old;
        } else {
          // Starts over, but attempt numbers only grow: an attempt still out on a worker
          // must never match a new one.
          tasks[i].attempt = old->attempt;
          tasks[i].usage = old->usage;  // what its attempts cost was spent all the same
          tasks[i].attempt_base = old->attempt;  // and it gets the whole retry budget again
        }
      }
      adopt(std::move(indexed).value(), v.spec_path, v.spec_hash, std::move(tasks));
      return Ok{};
    }
    Status operator()(const rec::TaskReady& v) {
      auto t = s.task_for(v.task, TaskStatus::ready, "taskReady");
      if (!t) return t.error();
      s.set_status(**t, TaskStatus::ready);
      (*t)->ready_ms = now;
      return Ok{};
    }
    Status operator()(const rec::BatchDispatched& v) {
      if (v.tasks.size() != v.attempts.size() || v.tasks.empty()) {
        return Error::of("batchDispatched " + v.batch.str() + ": " +
                         std::to_string(v.tasks.size()) + " tasks but " +
                         std::to_string(v.attempts.size()) + " attempts");
      }
      // Check every task before changing any, so a bad record leaves the state as it was.
      std::vector<TaskState*> targets;
      for (std::size_t i = 0; i < v.tasks.size(); ++i) {
        auto t = s.task_for(v.tasks[i], TaskStatus::dispatched, "batchDispatched");
        if (!t) return t.error();
        if (v.attempts[i] <= (*t)->attempt) {
          return Error::of("batchDispatched: task " + quoted(v.tasks[i]) + " attempt " +
                           std::to_string(v.attempts[i]) + " was already dispatched");
        }
        targets.push_back(*t);
      }
      for (std::size_t i = 0; i < targets.size(); ++i) {
        TaskState& t = *targets[i];
        s.set_status(t, TaskStatus::dispatched);
        t.attempt = v.attempts[i];
        t.worker = v.worker;
        t.batch = v.batch;
        t.dispatched_ms = now;
        t.lease_until_ms = v.lease_until_ms;
        t.started_ms = 0;
        t.finished_ms = 0;
      }
      return Ok{};
    }
    Status check_attempt(const TaskState& t, const TaskId& id, std::uint32_t attempt,
                         std::string_view kind) {
      if (attempt != t.attempt) {
        return Error::of(std::string(kind) + ": task " + quoted(id) + " attempt " +
                         std::to_string(attempt) + " is not its current attempt " +
                         std::to_string(t.attempt));
      }
      return Ok{};
    }
    Status operator()(const rec::TaskStarted& v) {
      auto t = s.task_for(v.task, TaskStatus::running, "taskStarted");
      if (!t) return t.error();
      if (auto ok = check_attempt(**t, v.task, v.attempt, "taskStarted"); !ok) return ok;
      s.set_status(**t, TaskStatus::running);
      (*t)->worker = v.worker;
      (*t)->started_ms = now;
      return Ok{};
    }
    Status operator()(const rec::TaskSucceeded& v) {
      auto t = s.task_for(v.task, TaskStatus::succeeded, "taskSucceeded");
      if (!t) return t.error();
      if (auto ok = check_attempt(**t, v.task, v.attempt, "taskSucceeded"); !ok) return ok;
      s.set_status(**t, TaskStatus::succeeded);
      (*t)->worker = v.worker;
      (*t)->files = v.files;
      (*t)->commit = v.commit;
      if (!v.head.empty()) s.head_ = v.head;
      (*t)->reason.clear();
      (*t)->finished_ms = now;
      (*t)->usage.add(v.usage);
      s.usage_.add(v.usage);
      return Ok{};
    }
    Status operator()(const rec::TaskFailed& v) {
      auto t = s.task_for(v.task, TaskStatus::failed, "taskFailed");
      if (!t) return t.error();
      if (auto ok = check_attempt(**t, v.task, v.attempt, "taskFailed"); !ok) return ok;
      s.set_status(**t, TaskStatus::failed);
      (*t)->reason = v.reason;
      (*t)->finished_ms = now;
      (*t)->usage.add(v.usage);
      s.usage_.add(v.usage);
      return Ok{};
    }
    Status operator()(const rec::TaskRetrying& v) {
      auto t = s.task_for(v.task, TaskStatus::retrying, "taskRetrying");
      if (!t) return t.error();
      if (v.next_attempt <= (*t)->attempt) {
        return Error::of("taskRetrying: task " + quoted(v.task) + " next attempt " +
                         std::to_string(v.next_attempt) + " is not after attempt " +
                         std::to_string((*t)->attempt));
      }
      (*t)->not_before_ms = v.not_before_ms;  // before set_status, which queues it by this
      s.set_status(**t, TaskStatus::retrying);
      if (v.uncharged) (*t)->attempt_base = std::min((*t)->attempt_base + 1, (*t)->attempt);
      return Ok{};
    }
    Status operator()(const rec::TaskBlocked& v) {
      auto t = s.task_for(v.task, TaskStatus::blocked, "taskBlocked");
      if (!t) return t.error();
      s.set_status(**t, TaskStatus::blocked);
      const TaskState* cause = s.find(v.cause);
      (*t)->reason = "dependency '" + v.cause.str() + "' " +
                     (cause && cause->status == TaskStatus::cancelled ? "was cancelled" : "failed");
      (*t)->finished_ms = now;
      return Ok{};
    }
    Status operator()(const rec::TaskCancelled& v) {
      auto t = s.task_for(v.task, TaskStatus::cancelled, "taskCancelled");
      if (!t) return t.error();
      s.set_status(**t, TaskStatus::cancelled);
      (*t)->reason = v.reason;
      (*t)->finished_ms = now;
      return Ok{};
    }
    Status operator()(const rec::WorkerJoined& v) {
      s.workers_[v.worker] = WorkerState{v.worker, v.slots, v.address, true};
      return Ok{};
    }
    Status operator()(const rec::WorkerLost& v) {
      auto& w = s.workers_[v.worker];
      w.name = v.worker;
      w.alive = false;
      return Ok{};
    }
    Status operator()(const rec::RunStopped&) {
      s.status_ = RunStatus::stopped;
      return Ok{};
    }
    Status operator()(const rec::RunResumed&) {
      s.status_ = RunStatus::running;
      return Ok{};
    }
    Status operator()(const rec::TasksReopened& v) {
      if (s.status_ == RunStatus::running) {
        return Error::of("tasksReopened: the run is running; only a stopped or finished run's "
                         "tasks are reopened");
      }
      std::vector<TaskState*> targets;
      for (const TaskId& id : v.tasks) {
        auto index = s.index_of(id);
        if (!index) return Error::of("tasksReopened names unknown task " + quoted(id));
        TaskState& t = s.tasks_[*index];
        if (t.status != TaskStatus::failed && t.status != TaskStatus::blocked &&
            t.status != TaskStatus::cancelled) {
          return Error::of("tasksReopened: task " + quoted(id) + " is " +
                           std::string(to_string(t.status)) + ", not failed, blocked or cancelled");
        }
        targets.push_back(&t);
      }
      for (TaskState* t : targets) {
        s.set_status(*t, TaskStatus::pending);
        t->attempt_base = t->attempt;
        t->reason.clear();
        t->not_before_ms = 0;
        t->finished_ms = 0;
      }
      if (!v.tasks.empty() && s.status_ != RunStatus::stopped) s.status_ = RunStatus::stopped;
      return Ok{};
    }
    Status operator()(const rec::RunCompleted& v) {
      switch (v.outcome) {
        case rec::RunOutcome::succeeded: s.status_ = RunStatus::succeeded; break;
        case rec::RunOutcome::failed: s.status_ = RunStatus::failed; break;
        case rec::RunOutcome::cancelled: s.status_ = RunStatus::cancelled; break;
      }
      return Ok{};
    }
  };
  return std::visit(Visitor{*this, now, record.seq, movable_plan}, record.body);
}


}  // namespace br
