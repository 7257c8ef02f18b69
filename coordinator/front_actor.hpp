// The coordinator's front actor: the one actor published on the network. A remote worker
// says hello (WorkerHello); once admitted, its work requests go to the scheduler and its
// progress and results to the graph, with the worker as sender so answers go straight back.
// Anything from an actor that was not admitted, or that does not decode, is dropped and
// noted. A worker whose connection drops is reported to the graph and the scheduler.
#pragma once

#include <caf/fwd.hpp>

#include <cstddef>
#include <string>

namespace br {

// Payloads larger than `max_message_bytes` ([limits] message_max_bytes) are refused.
caf::actor spawn_front_actor(caf::actor_system& system, caf::actor scheduler, caf::actor graph,
                             caf::actor listener, std::string token, std::string run_id,
                             std::size_t max_message_bytes);

}  // namespace br
