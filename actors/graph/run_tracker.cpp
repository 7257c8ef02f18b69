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

// The same, with a few tasks (one batch) assumed done.
bool all_succeeded_but(const RunState& state, const DependencyGraph& graph, std::size_t task,
                       const std::vector<std::size_t>& assumed_done) {
  for (std::size_t dep : graph.dependencies(task)) {
    if (state.tasks()[dep].status != TaskStatus::succeeded &&
        std::find(assumed_done.begin(), assumed_done.end(), dep) == assumed_done.end()) {
      return false;
    }
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

// Fails as interrupted, and retries at once, the attempts in flight that will never report.
static void interrupt_in_flight(const RunState& state, bool keep_remote_inflight, const char* reason,
                         std::int64_t now_ms, std::vector<RecordBody>& out) {
  for (std::uint32_t i : state.in_flight()) {
    const TaskState& t = state.tasks()[i];
    if (keep_remote_inflight) {
      auto w = state.workers().find(t.worker);
      if (w != state.workers().end() && w->second.address != kInProcessAddress) continue;
    }
    out.push_back(rec::TaskFailed{id_of(state, i), t.attempt, reason});
    out.push_back(rec::TaskRetrying{id_of(state, i), t.attempt + 1, now_ms, /*uncharged=*/true});
  }
}

std::vector<RecordBody> RunTracker::on_stop(const RunState& state, bool keep_remote_inflight,
                                            const std::string& reason,
                                            std::int64_t now_ms) const {
  std::vector<RecordBody> out;
  interrupt_in_flight(state, keep_remote_inflight, "interrupted: the run was stopped", now_ms,
                      out);
  out.push_back(rec::RunStopped{reason});
  return out;
}

std::vector<RecordBody> RunTracker::on_start(const RunState& state, bool keep_remote_inflight,
                                             std::int64_t now_ms) const {
  std::vector<RecordBody> out;
  if (state.status() == RunStatus::stopped) out.push_back(rec::RunResumed{});
  interrupt_in_flight(state, keep_remote_inflight, "interrupted: the coordinator stopped", now_ms,
                      out);
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
    const TaskState& t = state.tasks()[index];
    batch.tasks.push_back(BatchTask{plan.tasks[index], d.attempts[i],
                                    d.attempts[i] > 1 ? t.reason : std::string()});
    batch.domain = plan.tasks[index].domain;
    for (std::size_t dep : graph_.dependencies(index)) deps.insert(dep);
  }
  for (std::size_t dep : deps) {
    batch.completed.push_back(
        CompletedWork{plan.tasks[dep].id, plan.tasks[dep].title, state.tasks()[dep].files});
  }
  batch.base = state.head();
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
    Outcome stale{{},
                  "stale result for '" + result.task.str() + "' attempt " +
                      std::to_string(result.attempt) + " (task is " +
                      std::string(to_string(t.status)) + " at attempt " +
                      std::to_string(t.attempt) + ")"};
    stale.settled_by_batch = state.isolated() && result.success &&
                             t.status == TaskStatus::succeeded && result.attempt == t.attempt &&
                             !t.commit.empty() && result.commit == t.commit;
    return stale;
  }
  // Only the worker the attempt went to can settle it: another admitted worker (a rogue one,
  // or one under a stolen name) must not mark work done that is still running elsewhere.
  if (result.worker != t.worker) {
    return {{},
            "result for '" + result.task.str() + "' attempt " + std::to_string(result.attempt) +
                " from worker '" + result.worker + "': that attempt was dispatched to '" +
                t.worker + "'"};
  }
  if (!result.success && result.infrastructure) {
    Outcome out;
    out.records.push_back(
        rec::TaskFailed{result.task, result.attempt, result.reason, result.usage, result.agent});
    out.records.push_back(
        rec::TaskRetrying{result.task, result.attempt + 1, now_ms, /*uncharged=*/true});
    // A remote worker's files are on its own host: the user must know which one to fix.
    const auto w = state.workers().find(result.worker);
    const bool remote = w != state.workers().end() && w->second.address != kInProcessAddress;
    out.stop = (remote ? "on worker " + result.worker + ", " : std::string()) + result.reason;
    return out;
  }
  if (!result.success) {
    return fail(state, *index, result.attempt, result.reason, now_ms, unit_random,
                result.usage, result.agent);
  }
  rec::TaskSucceeded done{result.task, result.attempt, result.worker, result.files};
  done.usage = result.usage;
  done.agent = result.agent;
  std::vector<std::size_t> settled{*index};
  Outcome out;
  if (state.isolated() && !result.commit.empty()) {
    if (integration_ == nullptr) {
      return fail(state, *index, result.attempt, "no integration for the run's branch", now_ms,
                  unit_random, result.usage, result.agent);
    }
    auto integrated = integration_->integrate(state.head(), result);
    if (!integrated) {
      return fail(state, *index, result.attempt, integrated.error().str(), now_ms, unit_random,
                  result.usage, result.agent);
    }
    done.commit = result.commit;
    done.head = integrated->head;
    done.files = std::move(integrated->files);  // what the commit really changed
    out.records.push_back(done);
    // An isolated batch passes as a whole, as one commit: once it is merged, every task of the
    // batch is done, in the same group. Their own results may never come (the coordinator can
    // stop between them), and a retry on a head that already holds their work changes nothing.
    // Their own results, and the usage shares in them, come too late to count, so each takes
    // this result's share: one agent run's usage is split evenly over its batch (the first
    // task also takes the rounding remainder), so the run's total is off by at most a token or
    // a micro-dollar per task, where dropping the shares undercounted it by (n-1)/n.
    for (std::uint32_t i : state.in_flight()) {
      const TaskState& sibling = state.tasks()[i];
      if (i == *index || sibling.batch != t.batch) continue;
      settled.push_back(i);
      rec::TaskSucceeded also{id_of(state, i), sibling.attempt, result.worker,
                              done.files,      done.commit,     done.head};
      also.usage = result.usage;
      also.agent = result.agent;  // the same agent run did its work
      out.records.push_back(std::move(also));
    }
  } else {
    out.records.push_back(std::move(done));
  }
  // Dependents whose last missing dependencies were these tasks become ready in the same group.
  std::set<std::size_t> released;
  for (std::size_t task : settled) {
    for (std::size_t dependent : graph_.dependents(task)) {
      if (state.tasks()[dependent].status == TaskStatus::pending &&
          all_succeeded_but(state, graph_, dependent, settled) &&
          released.insert(dependent).second) {
        out.records.push_back(rec::TaskReady{id_of(state, dependent)});
      }
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
  // Judged here, for the worker the attempt went to.
  if (const TaskState* t = state.find(task)) lost.worker = t->worker;
  return on_result(state, lost, now_ms, unit_random);
}

RunTracker::Outcome RunTracker::fail(const RunState& state, std::size_t index,
                                     std::uint32_t attempt, const std::string& reason,
                                     std::int64_t now_ms, double unit_random,
                                     const Usage& usage, const AttemptAgent& agent) const {
  Outcome out;
  const TaskId& id = id_of(state, index);
  out.records.push_back(rec::TaskFailed{id, attempt, reason, usage, agent});
  // The budget counts the attempts since the task last started over (br retry, --replan).
  const std::uint32_t counted = attempt - std::min(attempt, state.tasks()[index].attempt_base);
  if (should_retry(policy_, counted)) {
    out.records.push_back(
        rec::TaskRetrying{id, attempt + 1, now_ms + backoff_ms(policy_, counted, unit_random)});
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

Result<rec::TasksReopened> RunTracker::reopen(const RunState& state,
                                              const RetrySelection& selection) const {
  if (state.status() == RunStatus::running) {
    return Error::of("the run is still running; stop it first (Ctrl-C, or br stop)");
  }
  const auto reopenable = [&](std::size_t i) {
    const TaskStatus s = state.tasks()[i].status;
    return s == TaskStatus::failed || s == TaskStatus::blocked || s == TaskStatus::cancelled;
  };
  std::vector<char> chosen(state.tasks().size(), 0);
  std::vector<std::size_t> work;
  const auto choose = [&](std::size_t i) {
    if (!chosen[i] && reopenable(i)) {
      chosen[i] = 1;
      work.push_back(i);
    }
  };
  for (const TaskId& id : selection.tasks) {
    const auto index = state.index_of(id);
    if (!index) return Error::of("no task '" + id.str() + "' in this run");
    const TaskStatus s = state.tasks()[*index].status;
    if (s == TaskStatus::succeeded) {
      return Error::of(id.str() + " already succeeded; finished tasks stay finished");
    }
    if (!reopenable(*index)) {
      return Error::of(id.str() + " is " + std::string(to_string(s)) + ", not failed, blocked "
                       "or cancelled: nothing to retry");
    }
    choose(*index);
  }
  bool feature_found = selection.feature.empty();
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskStatus s = state.tasks()[i].status;
    if (selection.failed && (s == TaskStatus::failed || s == TaskStatus::cancelled)) choose(i);
    if (!selection.feature.empty() && state.plan().tasks[i].feature.str() == selection.feature) {
      feature_found = true;
      choose(i);
    }
  }
  if (!feature_found) return Error::of("no feature '" + selection.feature + "' in this run");
  // Downstream, what the chosen tasks blocked; upstream, what they wait on that did not succeed.
  while (!work.empty()) {
    const std::size_t i = work.back();
    work.pop_back();
    // Everything downstream of a failure is blocked, so this walk reaches all of it, and
    // each task is visited once.
    for (std::size_t d : graph_.dependents(i)) {
      if (state.tasks()[d].status == TaskStatus::blocked) choose(d);
    }
    for (std::size_t dep : graph_.dependencies(i)) choose(dep);
  }
  rec::TasksReopened out;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (chosen[i]) out.tasks.push_back(id_of(state, i));
  }
  return out;  // empty when --failed or --feature found nothing to reopen
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

RunTracker::Cancellation RunTracker::cancel_tasks(const RunState& state,
                                                 const std::vector<TaskId>& tasks,
                                                 const std::string& reason,
                                                 std::int64_t now_ms) const {
  Cancellation out;
  std::set<std::size_t> cancelled;
  std::set<std::string> batches;
  for (const TaskId& id : tasks) {
    const auto index = state.index_of(id);
    if (!index) {
      out.refused.push_back("no task '" + id.str() + "' in this run");
      continue;
    }
    const TaskState& t = state.tasks()[*index];
    if (is_terminal(t.status)) {
      out.refused.push_back(id.str() + " is already " + std::string(to_string(t.status)));
      continue;
    }
    if (!cancelled.insert(*index).second) continue;
    out.records.push_back(rec::TaskCancelled{id, reason});
    if ((t.status == TaskStatus::dispatched || t.status == TaskStatus::running) &&
        batches.insert(t.batch.str()).second) {
      out.kill.push_back({t.batch, t.worker});
    }
  }
  // The other tasks of a killed batch lose their attempt through no fault of theirs.
  for (std::uint32_t i : state.in_flight()) {
    if (cancelled.count(i) != 0 || batches.count(state.tasks()[i].batch.str()) == 0) continue;
    const TaskState& t = state.tasks()[i];
    out.records.push_back(
        rec::TaskFailed{id_of(state, i), t.attempt, "interrupted: a task of its batch was cancelled"});
    out.records.push_back(rec::TaskRetrying{id_of(state, i), t.attempt + 1, now_ms, /*uncharged=*/true});
  }
  std::set<std::size_t> blocked;
  for (std::size_t c : cancelled) {
    for (std::size_t d : graph_.descendants(c)) {
      if (cancelled.count(d) == 0 && !is_terminal(state.tasks()[d].status) &&
          blocked.insert(d).second) {
        out.records.push_back(rec::TaskBlocked{id_of(state, d), id_of(state, c)});
      }
    }
  }
  return out;
}

}  // namespace br
