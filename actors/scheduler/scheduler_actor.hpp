// The scheduler actor: keeps the ready tasks (a ReadyQueue, ordered by strategy and grouped
// by domain) and the workers waiting for work (pull), forms one batch per waiting slot, and
// asks the graph actor to dispatch each one; once the graph says the dispatch is durable, it hands the batch to the
// worker. Independent tasks run in parallel up to the number of waiting worker slots; batches
// shrink (down to one task) when there are too few ready tasks to give every waiting slot work.
#pragma once

#include <memory>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "actors/scheduler/batch_optimizer.hpp"
#include "actors/scheduler/strategy.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/model.hpp"

namespace br {

struct SchedulerConfig {
  Strategy strategy = Strategy::critical_path;
  BatchLimits limits;
};

// `plan` is the run's plan and `graph` its dependency graph (for strategy scores); the
// scheduler shares the plan, it does not copy it.
SchedulerActor spawn_scheduler_actor(caf::actor_system& system, std::shared_ptr<const Plan> plan,
                                     std::shared_ptr<const DependencyGraph> graph,
                                     SchedulerConfig config);

}  // namespace br
