#include "coordinator/front_actor.hpp"

#include <map>

#include "coordinator/worker_admission.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct FrontState {
  caf::actor scheduler, graph, listener;
  FrontConfig config;
  DecodeLimits limits;
  std::map<caf::actor_addr, std::string> admitted;  // worker actor → its worker name
  std::map<caf::node_id, std::size_t> connections;  // worker process → its admitted actors
  static inline const char* name = "br.front";
};

using Self = caf::stateful_actor<FrontState>;

// Checks a payload from the network before anyone acts on it: malformed or oversized bytes
// are dropped with a note naming the worker.
template <class T>
bool well_formed(Self* self, const std::string& worker, const std::string& bytes) {
  auto decoded = decode<T>(bytes, self->state.limits);
  if (decoded) return true;
  self->send(self->state.listener, note_atom_v,
             "dropped a message from " + worker + ": " + decoded.error().str());
  return false;
}

// The name of an admitted sender, or nullptr after noting the intruder.
const std::string* admitted(Self* self, const char* what) {
  auto& st = self->state;
  auto it = st.admitted.find(self->current_sender() ? self->current_sender()->address()
                                                    : caf::actor_addr{});
  if (it != st.admitted.end()) return &it->second;
  self->send(st.listener, note_atom_v,
             std::string("dropped a ") + what + " from an actor that has not said hello");
  return nullptr;
}

caf::behavior front_actor(Self* self, caf::actor scheduler, caf::actor graph,
                          caf::actor listener, FrontConfig config) {
  auto& st = self->state;
  st.limits.max_bytes = config.max_message_bytes;
  st.scheduler = std::move(scheduler);
  st.graph = std::move(graph);
  st.listener = std::move(listener);
  st.config = std::move(config);
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    auto it = st.admitted.find(down.source);
    if (it == st.admitted.end()) return;
    const std::string name = it->second;
    st.admitted.erase(it);
    auto node = st.connections.find(down.source.node());
    if (node != st.connections.end() && --node->second == 0) st.connections.erase(node);
    self->send(st.listener, note_atom_v, "worker " + name + " lost: " + caf::to_string(down.reason));
    self->send(st.graph, lost_atom_v, name);
    self->send(st.scheduler, lost_atom_v, name);
  });
  return {
      // One hello per worker actor (a br-worker with N slots runs N of them).
      [=](hello_atom, const std::string& bytes) -> std::string {
        auto& st = self->state;
        auto hello = decode<WorkerHello>(bytes, st.limits);
        HelloReply reply;
        if (!hello) {
          reply.reason = "malformed hello: " + hello.error().str();
        } else {
          reply = admit(*hello, st.config.token, st.config.run_id);
        }
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (reply.accepted && sender && !st.connections.count(sender.node()) &&
            st.connections.size() >= st.config.max_connections) {
          reply.accepted = false;
          reply.reason = "the coordinator already serves " +
                         std::to_string(st.config.max_connections) +
                         " worker processes (network.max_connections); raise it in its "
                         "br.toml or add slots to the workers already connected";
        }
        if (reply.accepted && sender) {
          // Counted once per actor, should one say hello twice.
          if (st.admitted.insert_or_assign(sender.address(), hello->name).second) {
            ++st.connections[sender.node()];
          }
          self->monitor(sender);
          WorkerHello joined = *hello;
          joined.token.clear();  // checked; nobody past this point needs it
          self->send(st.graph, hello_atom_v, encode(joined), caf::to_string(sender.node()));
        } else {
          self->send(st.listener, note_atom_v,
                     "refused a worker" + (hello ? " '" + hello->name + "'" : std::string()) +
                         ": " + reply.reason);
        }
        return encode(reply);
      },
      [=](work_atom, const std::string& bytes) {
        const std::string* worker = admitted(self, "work request");
        if (!worker || !well_formed<WorkRequest>(self, *worker, bytes)) return;
        self->delegate(self->state.scheduler, work_atom_v, bytes);
      },
      [=](started_atom, const std::string& bytes) {
        const std::string* worker = admitted(self, "progress report");
        if (!worker || !well_formed<TaskProgress>(self, *worker, bytes)) return;
        self->delegate(self->state.graph, started_atom_v, bytes);
      },
      [=](result_atom, const std::string& bytes) {
        const std::string* worker = admitted(self, "result");
        if (!worker || !well_formed<TaskResult>(self, *worker, bytes)) return;
        self->delegate(self->state.graph, result_atom_v, bytes);
      },
  };
}

}  // namespace

caf::actor spawn_front_actor(caf::actor_system& system, caf::actor scheduler, caf::actor graph,
                             caf::actor listener, FrontConfig config) {
  return system.spawn(front_actor, std::move(scheduler), std::move(graph), std::move(listener),
                      std::move(config));
}

}  // namespace br
