// Random but legal run histories: a plan with dependencies, then records picked at random among
// the transitions RunState allows at each point (ready, dispatch, start, succeed, fail, retry,
// block, cancel, workers coming and going, stop and resume, a replan). For tests that compare
// ways of folding a journal; the same seed gives the same history.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br::test {

// `tasks` tasks in chains of up to four (each depends on the one before), with every field set.
inline Plan history_plan(int tasks, const std::string& prefix = "t") {
  Plan p;
  p.title = "History";
  p.overview = "A plan for random histories.";
  for (int i = 0; i < tasks; ++i) {
    Task t;
    t.id = TaskId(prefix + "/" + std::to_string(i));
    t.feature = FeatureId(prefix + std::to_string(i / 4));
    t.title = "Task " + std::to_string(i);
    t.description = "Build part " + std::to_string(i) + " — ünïcödé";
    t.domain = static_cast<Domain>(i % 7);
    t.complexity = static_cast<Complexity>(i % 3);
    t.minutes = 60 + static_cast<std::uint32_t>(i % 3) * 30;
    t.priority = static_cast<Priority>(i % 4);
    if (i % 4 != 0) t.depends_on = {p.tasks.back().id};
    t.acceptance = criteria_of({"works", "file: src/" + std::to_string(i) + ".py"});
    t.files = {"src/" + std::to_string(i) + ".py"};
    p.tasks.push_back(std::move(t));
  }
  return p;
}

// About `records` records (a few more when the last step emits several) of one run, each legal
// where it stands. Stops early when every task is finished and the run completed.
inline std::vector<RecordBody> random_history(int tasks, std::size_t records, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  RunState state;
  std::vector<RecordBody> out;
  std::int64_t now = 1'700'000'000'000;
  std::uint64_t batches = 0;
  bool replanned = false;
  const auto emit = [&](RecordBody body) {
    now += 1 + static_cast<std::int64_t>(pick(1000));
    JournalRecord r{out.size() + 1, "history", now, body};
    if (!state.apply(r)) throw std::logic_error("random_history made an illegal record");
    out.push_back(std::move(body));
  };
  emit(rec::PlanCreated{history_plan(tasks), "spec.md", "hash-1"});
  emit(rec::WorkerJoined{"w1", 2, "10.0.0.1:7000"});
  emit(rec::WorkerJoined{"w2", 3, std::string(kInProcessAddress)});

  while (out.size() < records) {
    const auto& plan = state.plan();
    const auto& ts = state.tasks();
    const std::size_t i = pick(ts.size());
    const TaskId& id = plan.tasks[i].id;
    const TaskState& t = ts[i];
    const std::string worker = pick(2) == 0 ? "w1" : "w2";
    switch (pick(40)) {
      case 0:
        emit(rec::WorkerLost{worker, "heartbeat missed"});
        continue;
      case 1:
        emit(rec::WorkerJoined{worker, 1 + static_cast<std::uint32_t>(pick(4)), "10.0.0.9:7000"});
        continue;
      case 2:
        if (state.status() == RunStatus::running)
          emit(rec::RunStopped{"interrupted"});
        else
          emit(rec::RunResumed{});
        continue;
      case 3:
        if (t.status == TaskStatus::pending || t.status == TaskStatus::ready) {
          emit(rec::TaskCancelled{id, "cancelled by the user"});
        }
        continue;
      case 4:
        // Once, past the middle: the spec grew two tasks; unfinished tasks start over.
        if (!replanned && out.size() > records / 2) {
          replanned = true;
          Plan revised = plan;
          for (Task& extra : history_plan(2, "extra").tasks) revised.tasks.push_back(extra);
          emit(rec::PlanRevised{std::move(revised), "spec.md", "hash-2"});
        }
        continue;
      case 5: {
        // br retry on a stopped run: a few failed, blocked or cancelled tasks start over.
        if (state.status() != RunStatus::stopped) continue;
        rec::TasksReopened reopened;
        for (std::size_t k = 0; k < ts.size() && reopened.tasks.size() < 3; ++k) {
          const TaskStatus s = ts[k].status;
          if (s == TaskStatus::failed || s == TaskStatus::blocked || s == TaskStatus::cancelled) {
            reopened.tasks.push_back(plan.tasks[k].id);
          }
        }
        if (!reopened.tasks.empty()) emit(std::move(reopened));
        continue;
      }
      default:
        break;
    }
    switch (t.status) {
      case TaskStatus::pending: {
        bool ready = true;
        for (const TaskId& dep : plan.tasks[i].depends_on) {
          const TaskState* d = state.find(dep);
          if (d->status == TaskStatus::blocked || d->status == TaskStatus::cancelled ||
              (d->status == TaskStatus::failed && d->attempt >= 3)) {
            emit(rec::TaskBlocked{id, dep});
            ready = false;
            break;
          }
          ready = ready && d->status == TaskStatus::succeeded;
        }
        if (ready && t.status == TaskStatus::pending) emit(rec::TaskReady{id});
        break;
      }
      case TaskStatus::ready: {
        // A batch of this task and up to two more ready ones.
        rec::BatchDispatched b{
            BatchId("b" + std::to_string(++batches)), worker, {id}, {t.attempt + 1}, now + 600000};
        for (std::size_t k = 0; k < ts.size() && b.tasks.size() < 1 + pick(3); ++k) {
          if (k != i && ts[k].status == TaskStatus::ready) {
            b.tasks.push_back(plan.tasks[k].id);
            b.attempts.push_back(ts[k].attempt + 1);
          }
        }
        emit(std::move(b));
        break;
      }
      case TaskStatus::dispatched:
      case TaskStatus::running: {
        const std::size_t roll = pick(4);
        if (roll == 0 && t.status == TaskStatus::dispatched) {
          emit(rec::TaskStarted{id, t.attempt, t.worker});
        } else {
          // Usage known for two attempts in three, so snapshots carry sums and unknown counts.
          Usage usage;
          usage.known = pick(3) != 0;
          usage.tokens_in = usage.known ? 100 + pick(1000) : 0;
          usage.tokens_out = usage.known ? pick(500) : 0;
          usage.cache_read_tokens = usage.known ? pick(50) : 0;
          usage.cost_known = usage.known;
          usage.cost_micro_usd = usage.known ? pick(100000) : 0;
          if (roll == 1) {
            emit(rec::TaskFailed{id, t.attempt, "check_command exited 1", usage});
          } else {
            rec::TaskSucceeded done{id, t.attempt, t.worker, {"src/" + std::to_string(i) + ".py"}};
            done.usage = usage;
            emit(std::move(done));
          }
        }
        break;
      }
      case TaskStatus::failed:
        if (t.attempt < 3) emit(rec::TaskRetrying{id, t.attempt + 1, now + 2000});
        break;
      case TaskStatus::retrying:
        emit(rec::TaskReady{id});
        break;
      default:
        break;
    }
    if (state.counts().total > 0 && state.status() == RunStatus::running) {
      const ProgressCounts& c = state.counts();
      if (c.succeeded + c.blocked + c.cancelled + c.failed == c.total && c.retrying == 0) {
        bool retry_left = false;
        for (const TaskState& x : ts) retry_left |= x.status == TaskStatus::failed && x.attempt < 3;
        if (!retry_left) {
          emit(rec::RunCompleted{rec::RunOutcome::failed});
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace br::test
