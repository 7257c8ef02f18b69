// The graph actor: owns the run's state and decides every transition (through RunTracker),
// journals it, and only once it is durable tells anyone: ready tasks to the scheduler,
// dispatched batches back to it, each durable group of records to the listener, and the end
// of the run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "actors/graph/dependency_graph.hpp"
#include "actors/graph/integration.hpp"
#include "actors/graph/retry_policy.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/run_state.hpp"

namespace br {

inline constexpr int kRunBroken = -1;
// The run stopped (journaled, resumable) because br could not write its own files for an
// attempt; the runStopped record says which and why.
inline constexpr int kRunStoppedByInfrastructure = -2;

struct GraphActorConfig {
  RetryPolicy retry;
  std::int64_t lease_ms = 0;         // how long a dispatched attempt may go without a result
  std::int64_t tick_ms = 250;        // how often retries and leases are checked
  // Attempts in flight when a previous coordinator stopped. Those of in-process workers died
  // with it and are retried at once. Those of remote workers are kept when this coordinator
  // serves workers: their worker may reconnect and report; a hello that does not list an
  // attempt, or the end of its lease, makes it retry. Without serving, nobody can report them.
  bool keep_remote_inflight = false;
  std::uint64_t seed = 0;            // backoff jitter
  // Merges passed attempts of an isolated run (not owned; outlives the actor). Called on the
  // actor's thread only.
  Integration* integration = nullptr;
  // Kills the agent of an attempt (br cancel): the batch, and the worker it runs on (one of
  // this process's slots, or a remote worker reached through the front).
  std::function<void(const BatchId&, const std::string& worker)> kill_attempt;
  // Interactive mode (br run without --auto): the listener approves each batch before its
  // dispatch is journaled; a skipped batch's tasks are cancelled.
  bool approve = false;
  // [agent] max_cost_usd in micro-USD (0: none). Once the journaled cost reaches it nothing
  // more is dispatched; attempts in flight finish and are journaled, then the run stops with
  // the reason (a stopped run: `br resume` with a raised budget carries on).
  std::uint64_t max_cost_micro_usd = 0;
};

// `state` is the replayed run (with its plan) and `graph` the dependency graph of its tasks.
// The graph attaches itself to `scheduler`; `listener` hears of every durable group of
// records, of notes worth logging, and finally of the end of the run (RunStatus as int,
// kRunBroken or kRunStoppedByInfrastructure). A result is answered with ack_atom once it is
// settled: journaled, or ignored as stale; a worker keeps it until then.
GraphActor spawn_graph_actor(caf::actor_system& system, RunState state,
                             std::shared_ptr<const DependencyGraph> graph,
                             GraphActorConfig config, JournalActor journal,
                             SchedulerActor scheduler, ListenerActor listener);

}  // namespace br
