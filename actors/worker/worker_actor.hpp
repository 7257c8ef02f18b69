// The worker actor: one slot of agent work. It asks the scheduler for work, runs each batch it
// receives (batch_runner, blocking, on this actor's own thread), reports progress and results
// to the graph actor, and asks again. The same actor runs in `br run` and in `br-worker`.
// Results are kept until the graph acknowledges them (once durable): a remote worker whose
// coordinator went away finishes its batch, and when br-worker reconnects (connect_atom with
// the new front) it says hello again, naming the attempts it holds, and delivers them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "actors/worker/attempt_cancels.hpp"
#include "actors/worker/batch_runner.hpp"
#include "protocol/actor_messages.hpp"

namespace br {

struct WorkerActorConfig {
  BatchRunnerConfig runner;
  std::filesystem::path context_dir;  // where this worker's context survives restarts
  const CancelSource* cancel = nullptr;
  // Each attempt's own cancel source, so one can be killed (br cancel): the slots of a process
  // share one; a remote worker's kill switch cancels through it.
  std::shared_ptr<AttemptCancels> attempts;
  KillSwitch kill_switch;  // remote: given to the coordinator with each hello
  // A remote worker says hello (with this token) to its coordinator's front actor before
  // asking for work; a refusal is passed to `on_refused` and the actor stops.
  std::string token;
  std::function<void(const std::string&)> on_refused;
  // A br-worker on another host: `runner.workspace` is its own repository; the objects of a
  // batch's base it lacks are fetched from the front, and a passed attempt's commit goes back
  // as a pack of at most `change_max_bytes`.
  bool ship_commits = false;
  std::uint64_t change_max_bytes = std::uint64_t{8} << 20;
};

// An in-process worker: asks `scheduler` for work and reports to `graph`.
WorkerActor spawn_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                               WorkSource scheduler, ResultSink graph);

// A remote worker (br-worker): says hello to `front`, then asks it for work and reports to it.
WorkerActor spawn_remote_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                                      FrontActor front);

}  // namespace br
