#include "actors/scheduler/scheduler_actor.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_map>

#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct WaitingSlot {
  caf::actor worker;
  std::string name;
};

struct SchedulerState {
  std::vector<Task> tasks;
  std::shared_ptr<const DependencyGraph> graph;
  SchedulerConfig config;
  std::unordered_map<TaskId, std::size_t> index;
  caf::actor graph_actor;
  std::set<std::size_t> ready;       // ready and not yet proposed for dispatch
  std::vector<bool> seen_ready;      // became ready before: ready again means a retry
  std::vector<bool> alone;           // retries, batched by themselves
  std::deque<WaitingSlot> waiting;   // one entry per free worker slot, oldest first
  std::set<std::string> workers;     // every worker slot that has asked for work
  // Every worker actor that has asked for work: all are told when the run is over, also those
  // busy delivering a last result, which would otherwise ask again of a coordinator that has
  // exited and wait out their reconnect window.
  std::set<caf::actor> worker_actors;
  bool over = false;
  static inline const char* name = "br.scheduler";
};

using Self = caf::stateful_actor<SchedulerState>;

// Pairs waiting slots with batches of ready tasks, best-ranked batch to the longest-waiting
// slot, and asks the graph to dispatch each.
void dispatch(Self* self) {
  auto& st = self->state;
  if (st.over || !st.graph_actor || st.waiting.empty() || st.ready.empty()) return;
  const std::vector<std::size_t> ready(st.ready.begin(), st.ready.end());
  const auto ordered = order_ready(ready, st.config.strategy, *st.graph, st.tasks);
  // Batching saves agent sessions, but not at the price of idle slots: when there are fewer
  // than max_tasks ready tasks per slot, batches shrink so the work spreads over every slot
  // (this matters at the end of a level or a run, where one big batch would hold up the rest).
  BatchLimits limits = st.config.limits;
  const std::size_t slots = std::max(st.workers.size(), st.waiting.size());
  limits.max_tasks = std::clamp<std::size_t>(ready.size() / std::max<std::size_t>(1, slots), 1,
                                             std::max<std::size_t>(1, limits.max_tasks));
  const auto batches = form_batches(ordered, st.tasks, limits, st.alone);
  for (const auto& group : batches) {
    if (st.waiting.empty()) break;
    WaitingSlot slot = std::move(st.waiting.front());
    st.waiting.pop_front();
    Batch proposal;
    for (std::size_t i : group) {
      st.ready.erase(i);
      BatchTask item;
      item.task.id = st.tasks[i].id;
      proposal.tasks.push_back(std::move(item));
    }
    self->request(st.graph_actor, caf::infinite, dispatch_atom_v, encode(proposal), slot.name)
        .then(
            [=](const std::string& batch) { self->send(slot.worker, batch_atom_v, batch); },
            [=](caf::error&) {
              // The tasks stopped being ready (the run is ending); the slot stays free.
              self->state.waiting.push_front(slot);
            });
  }
}

caf::behavior scheduler_actor(Self* self, std::vector<Task> tasks,
                              std::shared_ptr<const DependencyGraph> graph,
                              SchedulerConfig config) {
  auto& st = self->state;
  st.tasks = std::move(tasks);
  st.graph = std::move(graph);
  st.config = config;
  for (std::size_t i = 0; i < st.tasks.size(); ++i) st.index.emplace(st.tasks[i].id, i);
  st.seen_ready.assign(st.tasks.size(), false);
  st.alone.assign(st.tasks.size(), false);
  return {
      [=](attach_atom, const caf::actor& graph_actor) {
        self->state.graph_actor = graph_actor;
        dispatch(self);
      },
      [=](ready_atom, const std::string& bytes) {
        auto& st = self->state;
        auto ready = decode<ReadyTasks>(bytes);
        if (!ready) return;
        for (const auto& id : ready->tasks) {
          auto it = st.index.find(id);
          if (it == st.index.end()) continue;
          if (st.seen_ready[it->second]) st.alone[it->second] = true;
          st.seen_ready[it->second] = true;
          st.ready.insert(it->second);
        }
        dispatch(self);
      },
      [=](work_atom, const std::string& bytes) {
        auto& st = self->state;
        auto worker = caf::actor_cast<caf::actor>(self->current_sender());
        auto request = decode<WorkRequest>(bytes);
        if (!request || !worker) return;
        if (st.over) {
          self->send(worker, run_over_atom_v);
          return;
        }
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

caf::actor spawn_scheduler_actor(caf::actor_system& system, std::vector<Task> tasks,
                                 std::shared_ptr<const DependencyGraph> graph,
                                 SchedulerConfig config) {
  return system.spawn(scheduler_actor, std::move(tasks), std::move(graph), config);
}

}  // namespace br
