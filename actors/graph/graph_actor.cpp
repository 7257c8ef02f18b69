#include "actors/graph/graph_actor.hpp"

#include <chrono>
#include <functional>
#include <random>
#include <set>

#include "actors/graph/run_tracker.hpp"
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
  JournalActor journal;
  SchedulerActor scheduler;
  ListenerActor listener;
  std::mt19937_64 rng;
  std::uint64_t batches = 0;
  bool stopping = false;    // a runStopped or runCompleted is on its way to the journal
  std::string over_budget;  // why nothing more is dispatched (run_budget_reached), once it is
  static inline const char* name = "br.graph";

  double unit_random() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
};

// Retries and leases are checked on a tick the actor sends itself; nobody else sends it.
using GraphActorImpl = GraphActor::extend<caf::reacts_to<tick_atom>>;
using Self = GraphActorImpl::stateful_pointer<GraphActorState>;

// Tells everyone the run is over. `status` is the RunStatus as int, or kBroken.
void finish(Self self, int status) {
  auto& st = self->state;
  self->send(st.scheduler, run_over_atom_v);
  self->send(st.listener, run_over_atom_v, status);
  self->quit();
}

void finish(Self self, RunStatus status) { finish(self, static_cast<int>(status)); }

void check_completion(Self self);

// Applies `bodies` to the projected state, journals them, and once they are durable tells the
// listener, hands newly ready tasks to the scheduler and runs `then`.
void commit(Self self, std::vector<RecordBody> bodies, const std::function<void()>& then = {}) {
  auto& st = self->state;
  if (bodies.empty()) {
    if (then) then();
    return;
  }
  EncodedRecords encoded;
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
    encoded.push_back(Encoded<JournalRecord>::of(record));
  }
  const ReadyTasks ready_tasks = st.tracker->ready_tasks(st.state, ready);
  self->request(st.journal, caf::infinite, append_atom_v, encoded)
      .then(
          [=](std::uint64_t) {
            auto& st = self->state;
            self->send(st.listener, progress_atom_v, encoded);
            if (!ready.empty()) {
              self->send(st.scheduler, ready_atom_v, Encoded<ReadyTasks>::of(ready_tasks));
            }
            if (then) then();
            check_completion(self);
          },
          [=](caf::error& error) {
            self->send(self->state.listener, note_atom_v,
                       "the journal failed, stopping: " + error_text(error));
            finish(self, kRunBroken);
          });
}

void check_completion(Self self) {
  auto& st = self->state;
  if (st.stopping) return;
  auto records = st.tracker->completion(st.state);
  if (!records.empty()) {
    st.stopping = true;
    commit(self, std::move(records), [self] { finish(self, self->state.state.status()); });
    return;
  }
  if (st.over_budget.empty()) {
    st.over_budget = run_budget_reached(st.state.usage(), st.config.max_cost_micro_usd);
    if (!st.over_budget.empty()) {
      self->send(st.listener, note_atom_v,
                 st.over_budget + "; dispatching nothing more, running attempts finish");
    }
  }
  // Attempts already paid for are let finish: killing them would waste what they cost.
  if (st.over_budget.empty() || !st.state.in_flight().empty()) return;
  st.stopping = true;
  commit(self,
         st.tracker->on_stop(st.state, st.config.keep_remote_inflight, st.over_budget,
                             unix_now_ms()),
         [self] { finish(self, RunStatus::stopped); });
}

// Fails every in-flight attempt of `worker` that `keep` does not hold. One commit each: a
// failure can block dependents, and the next decision must see that.
void lose_attempts_of(Self self, const std::string& worker,
                      const std::set<std::pair<TaskId, std::uint32_t>>& keep,
                      const std::string& reason) {
  auto& st = self->state;
  for (const auto& [id, attempt] : st.tracker->attempts_lost_with(st.state, worker, keep)) {
    auto outcome =
        st.tracker->on_attempt_lost(st.state, id, attempt, reason, unix_now_ms(), st.unit_random());
    commit(self, std::move(outcome.records));
  }
}

// Interactive mode: shows the batch (as its worker will get it) to the listener, and
// dispatches it, cancels its tasks or refuses it as the user answers. Checked again after the
// answer: the run may have moved on while the user read.
caf::result<Encoded<Batch>> ask_then_dispatch(Self self, const rec::BatchDispatched& proposed,
                                              const std::vector<TaskId>& ids,
                                              const std::string& worker) {
  auto& st = self->state;
  auto promise = self->make_response_promise<Encoded<Batch>>();
  const Batch preview =
      st.tracker->assemble(st.state, proposed, st.config.lease_ms, kMaxProjectBytes);
  self->request(st.listener, caf::infinite, approve_atom_v, Encoded<Batch>::of(preview))
      .then(
          [=](const std::string& answer) mutable {
            auto& st = self->state;
            if (st.stopping) {
              promise.deliver(caf::make_error(caf::sec::runtime_error, "run is over"));
              return;
            }
            if (answer == "skip") {
              auto skipped = st.tracker->cancel_tasks(st.state, ids, "skipped at br run's prompt",
                                                      unix_now_ms());
              commit(self, std::move(skipped.records));
              // invalid_argument: the scheduler offers the slot other work.
              promise.deliver(caf::make_error(caf::sec::invalid_argument, "skipped"));
              return;
            }
            if (answer.rfind("run", 0) != 0) {  // quit: the listener stops the run
              promise.deliver(caf::make_error(caf::sec::runtime_error, "quit"));
              return;
            }
            const std::int64_t now = unix_now_ms();
            auto d = st.tracker->dispatch(st.state, ids, proposed.batch, worker, now,
                                          st.config.lease_ms);
            if (!d) {
              promise.deliver(caf::make_error(caf::sec::invalid_argument, d.error().str()));
              return;
            }
            const std::string edited = answer.size() > 4 ? answer.substr(4) : std::string();
            commit(self, {*d}, [self, promise, d = *d, edited]() mutable {
              const auto& st = self->state;
              Batch batch = st.tracker->assemble(st.state, d, st.config.lease_ms, kMaxProjectBytes);
              batch.prompt = edited;
              promise.deliver(Encoded<Batch>::of(batch));
            });
          },
          [=](caf::error& error) mutable { promise.deliver(std::move(error)); });
  return promise;
}

GraphActorImpl::behavior_type graph_actor(Self self, RunState state,
                                          std::shared_ptr<const DependencyGraph> graph,
                                          const GraphActorConfig& config, JournalActor journal,
                                          SchedulerActor scheduler, ListenerActor listener) {
  auto& st = self->state;
  st.state = std::move(state);
  st.config = config;
  st.graph = std::move(graph);
  st.tracker = std::make_unique<RunTracker>(*st.graph, config.retry, config.integration);
  st.journal = std::move(journal);
  st.scheduler = std::move(scheduler);
  st.listener = std::move(listener);
  st.rng.seed(config.seed);
  self->send(st.scheduler, attach_atom_v, Dispatcher{caf::actor_cast<GraphActorImpl>(self)});

  // Tasks that were already ready when the run stopped are durable: hand them over now.
  std::vector<TaskId> already_ready;
  for (std::size_t i = 0; i < st.state.tasks().size(); ++i) {
    if (st.state.tasks()[i].status == TaskStatus::ready) {
      already_ready.push_back(st.state.plan().tasks[i].id);
    }
  }
  if (!already_ready.empty()) {
    self->send(st.scheduler, ready_atom_v,
               Encoded<ReadyTasks>::of(st.tracker->ready_tasks(st.state, already_ready)));
  }
  commit(self, st.tracker->on_start(st.state, config.keep_remote_inflight, unix_now_ms()));
  check_completion(self);
  self->send(self, tick_atom_v);

  return {
      [=](dispatch_atom, const Encoded<Batch>& proposal,
          const std::string& worker) -> caf::result<Encoded<Batch>> {
        auto& st = self->state;
        auto batch = proposal.decode();
        if (!batch) return caf::make_error(caf::sec::invalid_argument, batch.error().str());
        if (st.stopping) return caf::make_error(caf::sec::runtime_error, "run is over");
        // The projected state: a result whose record is still on its way to the journal has
        // spent its cost already, and a dispatch must not slip in before its commit returns.
        if (!st.over_budget.empty() ||
            !run_budget_reached(st.state.usage(), st.config.max_cost_micro_usd).empty()) {
          return caf::make_error(caf::sec::runtime_error, "the run reached its budget");
        }
        // A task cancelled while the scheduler held it is no longer ready: the rest go.
        std::vector<TaskId> ids;
        for (const auto& item : batch->tasks) {
          const TaskState* t = st.state.find(item.task.id);
          if (t == nullptr || t->status != TaskStatus::cancelled) ids.push_back(item.task.id);
        }
        if (ids.empty()) return caf::make_error(caf::sec::invalid_argument, "cancelled");
        const std::int64_t now = unix_now_ms();
        auto d = st.tracker->dispatch(
            st.state, ids, BatchId("b" + std::to_string(now) + "-" + std::to_string(st.batches++)),
            worker, now, st.config.lease_ms);
        if (!d) return caf::make_error(caf::sec::invalid_argument, d.error().str());
        if (st.config.approve) return ask_then_dispatch(self, *d, ids, worker);
        auto promise = self->make_response_promise<Encoded<Batch>>();
        commit(self, {*d}, [self, promise, d = *d]() mutable {
          const auto& st = self->state;
          promise.deliver(Encoded<Batch>::of(
              st.tracker->assemble(st.state, d, st.config.lease_ms, kMaxProjectBytes)));
        });
        return promise;
      },
      [=](started_atom, const Encoded<TaskProgress>& bytes) {
        auto& st = self->state;
        auto progress = bytes.decode();
        if (!progress || st.stopping) return;
        const TaskState* t = st.state.find(progress->task);
        if (t && t->status == TaskStatus::dispatched && t->attempt == progress->attempt &&
            t->worker == progress->worker) {
          commit(self, {rec::TaskStarted{progress->task, progress->attempt, progress->worker}});
        }
      },
      // Answered once settled, so the worker can forget it; a result that arrives while the
      // run is stopping gets an error and the worker keeps it for the next coordinator.
      [=](result_atom, const Encoded<TaskResult>& bytes) -> caf::result<ack_atom> {
        auto& st = self->state;
        // Bounded already: by the front actor's [limits] for a remote worker (whose result
        // may carry a pack up to limits.change_max_bytes), by br itself for a local one.
        DecodeLimits limits;
        limits.max_bytes = std::size_t{1} << 30;
        auto result = bytes.decode(limits);
        if (!result) {
          self->send(st.listener, note_atom_v, "ignored a malformed result: " + result.error().str());
          return ack_atom_v;
        }
        if (st.stopping) return caf::make_error(caf::sec::runtime_error, "the run is stopping");
        auto outcome = st.tracker->on_result(st.state, *result, unix_now_ms(), st.unit_random());
        if (!outcome.ignored.empty()) {
          if (!outcome.settled_by_batch) {
            self->send(st.listener, note_atom_v, "ignored a " + outcome.ignored);
          }
          return ack_atom_v;
        }
        auto promise = self->make_response_promise<ack_atom>();
        commit(self, std::move(outcome.records), [promise]() mutable { promise.deliver(ack_atom_v); });
        if (!outcome.stop.empty()) {
          // Every attempt would fail alike: dispatching more only spins. The stop sees the
          // failed attempt retrying already (committed above), so it is not interrupted twice.
          st.stopping = true;
          commit(self,
                 st.tracker->on_stop(st.state, st.config.keep_remote_inflight, outcome.stop,
                                     unix_now_ms()),
                 [self] { finish(self, kRunStoppedByInfrastructure); });
        }
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
      [=](hello_atom, const Encoded<WorkerHello>& bytes, const std::string& address) {
        auto& st = self->state;
        auto hello = bytes.decode();
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
      [=](cancel_atom, const std::set<std::string>& names, const std::string& reason) {
        auto& st = self->state;
        if (st.stopping) return;
        std::vector<TaskId> tasks(names.begin(), names.end());
        auto cancellation = st.tracker->cancel_tasks(st.state, tasks, reason, unix_now_ms());
        for (const auto& why : cancellation.refused) {
          self->send(st.listener, note_atom_v, "br cancel: " + why);
        }
        // Applied to the state before the kill, so the killed attempts' results are stale.
        commit(self, std::move(cancellation.records));
        if (st.config.kill_attempt) {
          for (const auto& kill : cancellation.kill) st.config.kill_attempt(kill.batch, kill.worker);
        }
      },
      [=](stop_atom, const std::string& reason) {
        auto& st = self->state;
        if (st.stopping) return;
        st.stopping = true;
        commit(self,
               st.tracker->on_stop(st.state, st.config.keep_remote_inflight, reason,
                                   unix_now_ms()),
               [self] { finish(self, RunStatus::stopped); });
      },
  };
}

}  // namespace

GraphActor spawn_graph_actor(caf::actor_system& system, RunState state,
                             std::shared_ptr<const DependencyGraph> graph,
                             GraphActorConfig config, JournalActor journal,
                             SchedulerActor scheduler, ListenerActor listener) {
  return system.spawn(graph_actor, std::move(state), std::move(graph), config,
                      std::move(journal), std::move(scheduler), std::move(listener));
}

}  // namespace br
