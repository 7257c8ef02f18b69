#include "actors/graph/run_tracker.hpp"

#include <algorithm>

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
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskState& t = state.tasks()[i];
    if (t.status == TaskStatus::retrying && t.not_before_ms <= now_ms) {
      out.push_back(rec::TaskReady{id_of(state, i)});
    }
  }
  return out;
}

std::int64_t RunTracker::next_retry_ms(const RunState& state) const {
  std::int64_t next = 0;
  for (const TaskState& t : state.tasks()) {
    if (t.status == TaskStatus::retrying && (next == 0 || t.not_before_ms < next)) {
      next = t.not_before_ms;
    }
  }
  return next;
}

std::vector<std::pair<TaskId, std::uint32_t>> RunTracker::expired_leases(
    const RunState& state, std::int64_t now_ms) const {
  std::vector<std::pair<TaskId, std::uint32_t>> out;
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskState& t = state.tasks()[i];
    const bool in_flight = t.status == TaskStatus::dispatched || t.status == TaskStatus::running;
    if (in_flight && t.lease_until_ms > 0 && t.lease_until_ms < now_ms) {
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
