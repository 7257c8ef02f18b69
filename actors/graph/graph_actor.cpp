#include "actors/graph/graph_actor.hpp"

#include <chrono>
#include <functional>
#include <random>
#include <set>

#include "actors/graph/run_tracker.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"
#include "protocol/wall_clock.hpp"

namespace br {
namespace {

using namespace br::atoms;


// Project context sent with every batch; the prompt builder trims it further to its budget.
constexpr std::size_t kMaxProjectBytes = std::size_t{8} * 1024;

struct GraphActorState {
  // The projected state: every decided record is applied here at once, so later decisions
  // see it; nothing outside this actor hears of a record before it is durable.
  RunState state;
  std::shared_ptr<const DependencyGraph> graph;
  std::unique_ptr<RunTracker> tracker;
  GraphActorConfig config;
  caf::actor journal, scheduler, listener;
  std::mt19937_64 rng;
  std::uint64_t batches = 0;
  bool stopping = false;    // a runStopped or runCompleted is on its way to the journal
  static inline const char* name = "br.graph";

  double unit_random() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
};

using Self = caf::stateful_actor<GraphActorState>;

// Tells everyone the run is over. `status` is the RunStatus as int, or kBroken.
void finish(Self* self, int status) {
  auto& st = self->state;
  self->send(st.scheduler, run_over_atom_v);
  self->send(st.listener, run_over_atom_v, status);
  self->quit();
}

void finish(Self* self, RunStatus status) { finish(self, static_cast<int>(status)); }

void check_completion(Self* self);

// Applies `bodies` to the projected state, journals them, and once they are durable tells the
// listener, hands newly ready tasks to the scheduler and runs `then`.
void commit(Self* self, std::vector<RecordBody> bodies, const std::function<void()>& then = {}) {
  auto& st = self->state;
  if (bodies.empty()) {
    if (then) then();
    return;
  }
  std::vector<std::string> encoded;
  std::vector<TaskId> ready;
  const std::int64_t time = unix_now_ms();
  for (auto& body : bodies) {
    JournalRecord record{0, st.state.run_id(), time, std::move(body)};
    if (auto applied = st.state.apply(record); !applied) {
      // RunTracker proposed a transition the state machine forbids: a bug, not bad input.
      self->send(st.listener, note_atom_v, "internal error: " + applied.error().str());
      finish(self, kRunBroken);
      return;
    }
    if (const auto* r = std::get_if<rec::TaskReady>(&record.body)) ready.push_back(r->task);
    encoded.push_back(encode(record));
  }
  const ReadyTasks ready_tasks = st.tracker->ready_tasks(st.state, ready);
  self->request(st.journal, caf::infinite, append_atom_v, encoded)
      .then(
          [=](std::uint64_t) {
            auto& st = self->state;
            self->send(st.listener, progress_atom_v, encoded);
            if (!ready.empty()) self->send(st.scheduler, ready_atom_v, encode(ready_tasks));
            if (then) then();
            check_completion(self);
          },
          [=](caf::error& error) {
            self->send(self->state.listener, note_atom_v,
                       "the journal failed, stopping: " + error_text(error));
            finish(self, kRunBroken);
          });
}

void check_completion(Self* self) {
  auto& st = self->state;
  if (st.stopping) return;
  auto records = st.tracker->completion(st.state);
  if (records.empty()) return;
  st.stopping = true;
  commit(self, std::move(records), [self] { finish(self, self->state.state.status()); });
}

// Fails every in-flight attempt of `worker` that `keep` does not hold. One commit each: a
// failure can block dependents, and the next decision must see that.
void lose_attempts_of(Self* self, const std::string& worker,
                      const std::set<std::pair<TaskId, std::uint32_t>>& keep,
                      const std::string& reason) {
  auto& st = self->state;
  for (const auto& [id, attempt] : st.tracker->attempts_lost_with(st.state, worker, keep)) {
    auto outcome =
        st.tracker->on_attempt_lost(st.state, id, attempt, reason, unix_now_ms(), st.unit_random());
    commit(self, std::move(outcome.records));
  }
}

caf::behavior graph_actor(Self* self, RunState state, std::shared_ptr<const DependencyGraph> graph,
                          GraphActorConfig config, caf::actor journal, caf::actor scheduler,
                          caf::actor listener) {
  auto& st = self->state;
  st.state = std::move(state);
  st.config = config;
  st.graph = std::move(graph);
  st.tracker = std::make_unique<RunTracker>(*st.graph, config.retry);
  st.journal = std::move(journal);
  st.scheduler = std::move(scheduler);
  st.listener = std::move(listener);
  st.rng.seed(config.seed);
  self->send(st.scheduler, attach_atom_v, caf::actor_cast<caf::actor>(self));

  // Tasks that were already ready when the run stopped are durable: hand them over now.
  std::vector<TaskId> already_ready;
  for (std::size_t i = 0; i < st.state.tasks().size(); ++i) {
    if (st.state.tasks()[i].status == TaskStatus::ready) {
      already_ready.push_back(st.state.plan().tasks[i].id);
    }
  }
  if (!already_ready.empty()) {
    self->send(st.scheduler, ready_atom_v,
               encode(st.tracker->ready_tasks(st.state, already_ready)));
  }
  commit(self, st.tracker->on_start(st.state, config.keep_remote_inflight, unix_now_ms()));
  check_completion(self);
  self->send(self, tick_atom_v);

  return {
      [=](dispatch_atom, const std::string& proposal,
          const std::string& worker) -> caf::result<std::string> {
        auto& st = self->state;
        auto batch = decode<Batch>(proposal);
        if (!batch) return caf::make_error(caf::sec::invalid_argument, batch.error().str());
        if (st.stopping) return caf::make_error(caf::sec::runtime_error, "run is over");
        std::vector<TaskId> ids;
        for (const auto& item : batch->tasks) ids.push_back(item.task.id);
        const std::int64_t now = unix_now_ms();
        auto d = st.tracker->dispatch(
            st.state, ids, BatchId("b" + std::to_string(now) + "-" + std::to_string(st.batches++)),
            worker, now, st.config.lease_ms);
        if (!d) return caf::make_error(caf::sec::invalid_argument, d.error().str());
        auto promise = self->make_response_promise<std::string>();
        commit(self, {*d}, [self, promise, d = *d]() mutable {
          const auto& st = self->state;
          promise.deliver(encode(st.tracker->assemble(st.state, d, st.config.lease_ms,
                                                      kMaxProjectBytes)));
        });
        return promise;
      },
      [=](started_atom, const std::string& bytes) {
        auto& st = self->state;
        auto progress = decode<TaskProgress>(bytes);
        if (!progress || st.stopping) return;
        const TaskState* t = st.state.find(progress->task);
        if (t && t->status == TaskStatus::dispatched && t->attempt == progress->attempt) {
          commit(self, {rec::TaskStarted{progress->task, progress->attempt, progress->worker}});
        }
      },
      // Answered once settled, so the worker can forget it; a result that arrives while the
      // run is stopping gets an error and the worker keeps it for the next coordinator.
      [=](result_atom, const std::string& bytes) -> caf::result<ack_atom> {
        auto& st = self->state;
        auto result = decode<TaskResult>(bytes);
        if (!result) {
          self->send(st.listener, note_atom_v, "ignored a malformed result: " + result.error().str());
          return ack_atom_v;
        }
        if (st.stopping) return caf::make_error(caf::sec::runtime_error, "the run is stopping");
        auto outcome = st.tracker->on_result(st.state, *result, unix_now_ms(), st.unit_random());
        if (!outcome.ignored.empty()) {
          self->send(st.listener, note_atom_v, "ignored a " + outcome.ignored);
          return ack_atom_v;
        }
        auto promise = self->make_response_promise<ack_atom>();
        commit(self, std::move(outcome.records), [promise]() mutable { promise.deliver(ack_atom_v); });
        return promise;
      },
      [=](tick_atom) {
        auto& st = self->state;
        if (st.stopping) return;
        const std::int64_t now = unix_now_ms();
        commit(self, st.tracker->release_retries(st.state, now));
        for (const auto& [task, attempt] : st.tracker->expired_leases(st.state, now)) {
          auto outcome = st.tracker->on_attempt_lost(
              st.state, task, attempt, "lease expired: no result from the worker in time", now,
              st.unit_random());
          commit(self, std::move(outcome.records));
        }
        self->delayed_send(self, std::chrono::milliseconds(st.config.tick_ms), tick_atom_v);
      },
      // A remote worker was admitted (from the front actor). If it worked for this run before
      // (this coordinator restarted, or its connection dropped), the in-flight attempts its
      // hello does not hold will never report.
      [=](hello_atom, const std::string& bytes, const std::string& address) {
        auto& st = self->state;
        auto hello = decode<WorkerHello>(bytes);
        if (!hello || st.stopping) return;
        commit(self, {rec::WorkerJoined{hello->name, hello->slots, address}});
        std::set<std::pair<TaskId, std::uint32_t>> held;
        for (std::size_t i = 0; i < hello->held_tasks.size(); ++i) {
          held.emplace(hello->held_tasks[i], hello->held_attempts[i]);
        }
        lose_attempts_of(self, hello->name, held,
                         "worker " + hello->name + " came back without this attempt");
      },
      // A worker's connection dropped: its attempts in flight will never report.
      [=](lost_atom, const std::string& worker) {
        auto& st = self->state;
        if (st.stopping) return;
        lose_attempts_of(self, worker, {}, "worker " + worker + " lost");
        commit(self, {rec::WorkerLost{worker, "connection lost"}});
      },
      [=](stop_atom, const std::string& reason) {
        auto& st = self->state;
        if (st.stopping) return;
        st.stopping = true;
        commit(self, {rec::RunStopped{reason}}, [self] { finish(self, RunStatus::stopped); });
      },
  };
}

}  // namespace

caf::actor spawn_graph_actor(caf::actor_system& system, RunState state,
                             std::shared_ptr<const DependencyGraph> graph,
                             GraphActorConfig config, caf::actor journal, caf::actor scheduler,
                             caf::actor listener) {
  return system.spawn(graph_actor, std::move(state), std::move(graph), config, journal,
                      scheduler, listener);
}

}  // namespace br
