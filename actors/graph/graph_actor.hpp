// The graph actor: owns the run's state and decides every transition (through RunTracker),
// journals it, and only once it is durable tells anyone: ready tasks to the scheduler,
// dispatched batches back to it, each durable group of records to the listener, and the end
// of the run.
#pragma once

#include <caf/fwd.hpp>

#include <cstdint>
#include <memory>

#include "actors/graph/dependency_graph.hpp"
#include "actors/graph/retry_policy.hpp"
#include "protocol/run_state.hpp"

namespace br {

inline constexpr int kRunBroken = -1;

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
};

// `state` is the replayed run (with its plan) and `graph` the dependency graph of its tasks.
// `journal` is a journal actor, `scheduler` the scheduler actor (the graph attaches itself to
// it). `listener` receives (progress_atom, encoded records) for every durable group,
// (note_atom, text) for things worth logging, and finally (run_over_atom, RunStatus as int).
// A result (result_atom, TaskResult bytes) is answered with ack_atom once it is settled:
// journaled, or ignored as stale; a worker keeps it until then.
caf::actor spawn_graph_actor(caf::actor_system& system, RunState state,
                             std::shared_ptr<const DependencyGraph> graph,
                             GraphActorConfig config, caf::actor journal, caf::actor scheduler,
                             caf::actor listener);

}  // namespace br
