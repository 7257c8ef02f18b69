// The worker actor: one slot of agent work. It asks the scheduler for work, runs each batch it
// receives (batch_runner, blocking, on this actor's own thread), reports progress and results
// to the graph actor, and asks again. The same actor runs in `br run` and in `br-worker`.
// Results are kept until the graph acknowledges them (once durable): a remote worker whose
// coordinator went away finishes its batch, and when br-worker reconnects (connect_atom with
// the new front) it says hello again, naming the attempts it holds, and delivers them.
#pragma once

#include <caf/fwd.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "actors/worker/batch_runner.hpp"

namespace br {

struct WorkerActorConfig {
  BatchRunnerConfig runner;
  std::filesystem::path context_dir;  // where this worker's context survives restarts
  const CancelSource* cancel = nullptr;
  // Remote workers say hello (with this token) to `scheduler`, their coordinator's front
  // actor, before asking for work; a refusal is passed to `on_refused` and the actor stops.
  // In-process workers skip it.
  bool say_hello = false;
  std::string token;
  std::function<void(const std::string&)> on_refused;
};

caf::actor spawn_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                              caf::actor scheduler, caf::actor graph);

}  // namespace br
