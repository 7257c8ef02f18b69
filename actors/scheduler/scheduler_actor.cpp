#include "actors/scheduler/scheduler_actor.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "actors/scheduler/ready_queue.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct WaitingSlot {
  WorkerSlot worker;
  std::string name;
};

struct SchedulerState {
  std::shared_ptr<const Plan> plan;
  SchedulerConfig config;
  std::unordered_map<std::string_view, std::uint32_t> index;  // keys view plan's task ids
  Dispatcher graph_actor;
  std::optional<ReadyQueue> ready;   // ready and not yet proposed for dispatch
  std::deque<WaitingSlot> waiting;   // one entry per free worker slot, oldest first
  std::set<std::string> workers;     // every worker slot that has asked for work
  // Every worker actor that has asked for work: all are told when the run is over, also those
  // busy delivering a last result, which would otherwise ask again of a coordinator that has
  // exited and wait out their reconnect window.
  std::set<WorkerSlot> worker_actors;
  bool over = false;
  static inline const char* name = "br.scheduler";
};

using Self = SchedulerActor::stateful_pointer<SchedulerState>;

// Pairs waiting slots with batches of ready tasks, best-ranked batch to the longest-waiting
// slot, and asks the graph to dispatch each.
void dispatch(Self self) {
  auto& st = self->state;
  if (st.over || !st.graph_actor || st.waiting.empty() || st.ready->empty()) return;
  // Batching saves agent sessions, but not at the price of idle slots: when there are fewer
  // than max_tasks ready tasks per slot, batches shrink so the work spreads over every slot
  // (this matters at the end of a level or a run, where one big batch would hold up the rest).
  BatchLimits limits = st.config.limits;
  const std::size_t slots = std::max(st.workers.size(), st.waiting.size());
  limits.max_tasks = std::clamp<std::size_t>(st.ready->size() / std::max<std::size_t>(1, slots),
                                             1, std::max<std::size_t>(1, limits.max_tasks));
  // Only the batches that waiting slots take are formed: O(slots · log n), not O(ready).
  while (!st.waiting.empty() && !st.ready->empty()) {
    const auto group = st.ready->pop_batch(limits);
    WaitingSlot slot = std::move(st.waiting.front());
    st.waiting.pop_front();
    Batch proposal;
    for (std::size_t i : group) {
      BatchTask item;
      item.task.id = st.plan->tasks[i].id;
      proposal.tasks.push_back(std::move(item));
    }
    self->request(st.graph_actor, caf::infinite, dispatch_atom_v, Encoded<Batch>::of(proposal),
                  slot.name)
        .then(
            [=](const Encoded<Batch>& batch) { self->send(slot.worker, batch_atom_v, batch); },
            [=](caf::error& error) {
              // The tasks stopped being ready: the run is ending, or they were cancelled or
              // skipped at the prompt. The slot stays free; in the second case, for other work.
              self->state.waiting.push_front(slot);
              if (error == caf::sec::invalid_argument) dispatch(self);
            });
  }
}

SchedulerActor::behavior_type scheduler_actor(Self self, std::shared_ptr<const Plan> plan,
                                              const std::shared_ptr<const DependencyGraph>& graph,
                                              SchedulerConfig config) {
  auto& st = self->state;
  st.plan = std::move(plan);
  st.config = config;
  const auto& tasks = st.plan->tasks;
  st.index.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    st.index.emplace(tasks[i].id.str(), static_cast<std::uint32_t>(i));
  }
  st.ready.emplace(ready_items(tasks, strategy_ranks(config.strategy, *graph, tasks)));
  return {
      [=](attach_atom, const Dispatcher& graph_actor) {
        self->state.graph_actor = graph_actor;
        dispatch(self);
      },
      [=](ready_atom, const Encoded<ReadyTasks>& bytes) {
        auto& st = self->state;
        auto ready = bytes.decode();
        if (!ready) return;
        const auto push = [&](const std::vector<TaskId>& ids, bool alone) {
          for (const auto& id : ids) {
            auto it = st.index.find(id.str());
            if (it != st.index.end()) st.ready->push(it->second, alone);
          }
        };
        push(ready->tasks, false);
        push(ready->retries, true);  // a retry goes alone (batch_optimizer.hpp, rule 4)
        dispatch(self);
      },
      // The asking worker is the sender (through the front actor, for a remote one).
      [=](work_atom, const Encoded<WorkRequest>& bytes) {
        auto& st = self->state;
        auto worker = caf::actor_cast<WorkerSlot>(self->current_sender());
        auto request = bytes.decode();
        if (!request || !worker) return;
        if (st.over) {
          self->send(worker, run_over_atom_v);
          return;
        }
        // A worker that reconnected asks through a new proxy that compares equal to its old,
        // dead one (same node, same actor id): keep the live one, or run_over goes nowhere and
        // the worker waits out --reconnect-for after the run (seen in integration.tls).
        st.worker_actors.erase(worker);
        st.worker_actors.insert(worker);
        for (std::uint32_t i = 0; i < std::min<std::uint32_t>(request->free_slots, 64); ++i) {
          st.waiting.push_back(WaitingSlot{worker, request->worker});
          st.workers.insert(request->worker + "#" + std::to_string(i));
        }
        dispatch(self);
      },
      [=](lost_atom, const std::string& worker) {
        auto& st = self->state;
        st.waiting.erase(std::remove_if(st.waiting.begin(), st.waiting.end(),
                                        [&](const WaitingSlot& w) { return w.name == worker; }),
                         st.waiting.end());
        // Its handle stays in worker_actors: telling a gone actor the run is over is harmless.
      },
      [=](run_over_atom) {
        auto& st = self->state;
        st.over = true;
        for (const auto& worker : st.worker_actors) self->send(worker, run_over_atom_v);
        st.worker_actors.clear();
        st.waiting.clear();
      },
  };
}

}  // namespace

SchedulerActor spawn_scheduler_actor(caf::actor_system& system, std::shared_ptr<const Plan> plan,
                                     std::shared_ptr<const DependencyGraph> graph,
                                     SchedulerConfig config) {
  return system.spawn(scheduler_actor, std::move(plan), std::move(graph), config);
}

}  // namespace br
