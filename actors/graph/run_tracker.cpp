#include "actors/graph/run_tracker.hpp"

#include <algorithm>
#include <iterator>
#include <set>

namespace br {
namespace {

bool all_succeeded_except(const RunState& state, const DependencyGraph& graph, std::size_t task,
                          std::size_t assumed_done) {
  for (std::size_t dep : graph.dependencies(task)) {
    if (dep != assumed_done && state.tasks()[dep].status != TaskStatus::succeeded) return false;
  }
  return true;
}

const TaskId& id_of(const RunState& state, std::size_t i) { return state.plan().tasks[i].id; }

}  // namespace

std::vector<RecordBody> RunTracker::release_ready(const RunState& state) const {
  std::vector<RecordBody> out;
  const std::size_t none = state.tasks().size();
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    if (state.tasks()[i].status == TaskStatus::pending &&
        all_succeeded_except(state, graph_, i, none)) {
      out.push_back(rec::TaskReady{id_of(state, i)});
    }
  }
  return out;
}

std::vector<RecordBody> RunTracker::on_start(const RunState& state, bool keep_remote_inflight,
                                             std::int64_t now_ms) const {
  std::vector<RecordBody> out;
  if (state.status() == RunStatus::stopped) out.push_back(rec::RunResumed{});
  for (std::uint32_t i : state.in_flight()) {
    const TaskState& t = state.tasks()[i];
    if (keep_remote_inflight) {
      auto w = state.workers().find(t.worker);
      if (w != state.workers().end() && w->second.address != kInProcessAddress) continue;
    }
    out.push_back(rec::TaskFailed{id_of(state, i), t.attempt, "interrupted: the coordinator stopped"});
    out.push_back(rec::TaskRetrying{id_of(state, i), t.attempt + 1, now_ms});
  }
  // Interrupted tasks are retrying now, not pending, so this sees what it would after them.
  auto ready = release_ready(state);
  std::move(ready.begin(), ready.end(), std::back_inserter(out));
  return out;
}

Result<rec::BatchDispatched> RunTracker::dispatch(const RunState& state,
                                                  const std::vector<TaskId>& tasks, BatchId batch,
                                                  const std::string& worker, std::int64_t now_ms,
                                                  std::int64_t lease_ms) const {
  if (tasks.empty()) return Error::of("empty batch");
  rec::BatchDispatched d;
  d.batch = std::move(batch);
  d.worker = worker;
  d.lease_until_ms = lease_ms > 0 ? now_ms + lease_ms : 0;
  for (const TaskId& id : tasks) {
    const TaskState* t = state.find(id);
    if (!t || t->status != TaskStatus::ready) {
      return Error::of("task '" + id.str() + "' is not ready");
    }
    if (std::find(d.tasks.begin(), d.tasks.end(), id) != d.tasks.end()) {
      return Error::of("task '" + id.str() + "' is in the batch twice");
    }
    d.tasks.push_back(id);
    d.attempts.push_back(t->attempt + 1);
  }
  return d;
}

Batch RunTracker::assemble(const RunState& state, const rec::BatchDispatched& d,
                           std::int64_t lease_ms, std::size_t max_project_bytes) const {
  const Plan& plan = state.plan();
  Batch batch;
  batch.id = d.batch;
  batch.lease_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(lease_ms, 0));
  batch.project = plan.title + "\n\n" + plan.overview.substr(0, max_project_bytes);
  std::set<std::size_t> deps;
  for (std::size_t i = 0; i < d.tasks.size(); ++i) {
    const std::size_t index = *state.index_of(d.tasks[i]);
    batch.tasks.push_back(BatchTask{plan.tasks[index], d.attempts[i]});
    batch.domain = plan.tasks[index].domain;
    for (std::size_t dep : graph_.dependencies(index)) deps.insert(dep);
  }
  for (std::size_t dep : deps) {
    batch.completed.push_back(
        CompletedWork{plan.tasks[dep].id, plan.tasks[dep].title, state.tasks()[dep].files});
  }
  return batch;
}

ReadyTasks RunTracker::ready_tasks(const RunState& state, const std::vector<TaskId>& ready) const {
  ReadyTasks out;
  for (const TaskId& id : ready) {
    const TaskState* t = state.find(id);
    (t && t->attempt > 0 ? out.retries : out.tasks).push_back(id);
  }
  return out;
}

std::vector<std::pair<TaskId, std::uint32_t>> RunTracker::attempts_lost_with(
    const RunState& state, const std::string& worker,
    const std::set<std::pair<TaskId, std::uint32_t>>& keep) const {
  std::vector<std::pair<TaskId, std::uint32_t>> out;
  for (std::uint32_t i : state.in_flight()) {
    const TaskState& t = state.tasks()[i];
    if (t.worker == worker && !keep.count({id_of(state, i), t.attempt})) {
      out.emplace_back(id_of(state, i), t.attempt);
    }
  }
  return out;
}

RunTracker::Outcome RunTracker::on_result(const RunState& state, const TaskResult& result,
                                          std::int64_t now_ms, double unit_random) const {
  const auto index = state.index_of(result.task);
  if (!index) return {{}, "result for unknown task '" + result.task.str() + "'"};
  const TaskState& t = state.tasks()[*index];
  const bool in_flight = t.status == TaskStatus::dispatched || t.status == TaskStatus::running;
  if (!in_flight || result.attempt != t.attempt) {
    return {{},
            "stale result for '" + result.task.str() + "' attempt " +
                std::to_string(result.attempt) + " (task is " + std::string(to_string(t.status)) +
                " at attempt " + std::to_string(t.attempt) + ")"};
  }
  if (!result.success) {
    return fail(state, *index, result.attempt, result.reason, now_ms, unit_random);
  }
  Outcome out;
  out.records.push_back(
      rec::TaskSucceeded{result.task, result.attempt, result.worker, result.files});
  // Dependents whose last missing dependency was this task become ready in the same group.
  for (std::size_t dependent : graph_.dependents(*index)) {
    if (state.tasks()[dependent].status == TaskStatus::pending &&
        all_succeeded_except(state, graph_, dependent, *index)) {
      out.records.push_back(rec::TaskReady{id_of(state, dependent)});
    }
  }
  return out;
}

RunTracker::Outcome RunTracker::on_attempt_lost(const RunState& state, const TaskId& task,
                                                std::uint32_t attempt, const std::string& reason,
                                                std::int64_t now_ms, double unit_random) const {
  TaskResult lost;
  lost.task = task;
  lost.attempt = attempt;
  lost.success = false;
  lost.reason = reason;
  return on_result(state, lost, now_ms, unit_random);
}

RunTracker::Outcome RunTracker::fail(const RunState& state, std::size_t index,
                                     std::uint32_t attempt, const std::string& reason,
                                     std::int64_t now_ms, double unit_random) const {
  Outcome out;
  const TaskId& id = id_of(state, index);
  out.records.push_back(rec::TaskFailed{id, attempt, reason});
  if (should_retry(policy_, attempt)) {
    out.records.push_back(
        rec::TaskRetrying{id, attempt + 1, now_ms + backoff_ms(policy_, attempt, unit_random)});
    return out;
  }
  // Failed for good: everything downstream can never run.
  for (std::size_t d : graph_.descendants(index)) {
    if (!is_terminal(state.tasks()[d].status)) {
      out.records.push_back(rec::TaskBlocked{id_of(state, d), id});
    }
  }
  return out;
}

std::vector<RecordBody> RunTracker::release_retries(const RunState& state,
                                                    std::int64_t now_ms) const {
  std::vector<RecordBody> out;
  for (const auto& [not_before_ms, i] : state.retry_queue()) {
    if (not_before_ms > now_ms) break;
    out.push_back(rec::TaskReady{id_of(state, i)});
  }
  return out;
}

std::int64_t RunTracker::next_retry_ms(const RunState& state) const {
  return state.retry_queue().empty() ? 0 : state.retry_queue().begin()->first;
}

std::vector<std::pair<TaskId, std::uint32_t>> RunTracker::expired_leases(
    const RunState& state, std::int64_t now_ms) const {
  std::vector<std::pair<TaskId, std::uint32_t>> out;
  for (std::uint32_t i : state.in_flight()) {
    const TaskState& t = state.tasks()[i];
    if (t.lease_until_ms > 0 && t.lease_until_ms < now_ms) {
      out.emplace_back(id_of(state, i), t.attempt);
    }
  }
  return out;
}

std::vector<RecordBody> RunTracker::completion(const RunState& state) const {
  if (state.status() != RunStatus::running) return {};
  const ProgressCounts& c = state.counts();
  if (c.succeeded + c.failed + c.blocked + c.cancelled < c.total) return {};
  return {rec::RunCompleted{c.succeeded == c.total ? rec::RunOutcome::succeeded
                                                   : rec::RunOutcome::failed}};
}

std::vector<RecordBody> RunTracker::cancel_all(const RunState& state,
                                               const std::string& reason) const {
  std::vector<RecordBody> out;
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskStatus s = state.tasks()[i].status;
    if (!is_terminal(s) && can_transition(s, TaskStatus::cancelled)) {
      out.push_back(rec::TaskCancelled{id_of(state, i), reason});
    }
  }
  return out;
}

}  // namespace br
