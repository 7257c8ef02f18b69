// The coordinator's front actor: the one actor published on the network. A remote worker
// says hello (WorkerHello); once admitted, its work requests go to the scheduler and its
// progress and results to the graph, with the worker as sender so answers go straight back.
// Anything from an actor that was not admitted, that does not decode, or that is no message
// of the front's interface, is dropped and noted (a request gets an error). A worker whose connection drops is reported to the graph and the scheduler.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "protocol/actor_messages.hpp"

namespace br {

class ConnectionWatch;  // coordinator/connection_watch.hpp
class ObjectServer;     // coordinator/run_workspace.hpp

struct FrontConfig {
  std::string token;   // what a hello must carry ([network] token or BR_TOKEN)
  std::string run_id;  // told to admitted workers
  std::size_t max_message_bytes = std::size_t{16} << 20;  // [limits] message_max_bytes
  // Worker processes (hosts' br-worker connections) admitted at once; a hello from one more
  // is refused ([network] max_connections).
  std::size_t max_connections = 256;
  // Isolated runs: serves git objects to workers on other hosts (null: the run has none).
  std::shared_ptr<ObjectServer> objects;
  // Watches the port's connections: told of good hellos and wrong tokens (null: no watch).
  std::shared_ptr<ConnectionWatch> gate;
};

FrontActor spawn_front_actor(caf::actor_system& system, SchedulerActor scheduler,
                             GraphActor graph, ListenerActor listener, FrontConfig config);

}  // namespace br
