#include "coordinator/front_actor.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>

#include <map>

#include "coordinator/connection_watch.hpp"
#include "coordinator/run_workspace.hpp"
#include "coordinator/worker_admission.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct FrontState {
  SchedulerActor scheduler;
  GraphActor graph;
  ListenerActor listener;
  FrontConfig config;
  DecodeLimits limits;
  std::map<caf::actor_addr, std::string> admitted;  // worker actor → its worker name
  std::map<caf::node_id, std::size_t> connections;  // worker process → its admitted actors
  std::map<caf::node_id, KillSwitch> kill_switches;  // worker process → its kill switch
  std::vector<caf::typed_response_promise<ack_atom>> drains;  // answered once none is left
  static inline const char* name = "br.front";
};

using Self = FrontActor::stateful_pointer<FrontState>;

// Checks a payload from the network before anyone acts on it: malformed or oversized bytes
// are dropped with a note naming the worker, and so is a request or report in another
// worker's name (each carries a `worker`): an admitted worker cannot ask for work, start or
// settle an attempt for another.
template <class T>
bool from_sender(Self self, const std::string& worker, const Encoded<T>& payload) {
  auto decoded = payload.decode(self->state.limits);
  if (!decoded) {
    self->send(self->state.listener, note_atom_v,
               "dropped a message from " + worker + ": " + decoded.error().str());
    return false;
  }
  if (decoded->worker == worker) return true;
  self->send(self->state.listener, note_atom_v,
             "dropped a message from " + worker + " in the name of worker '" +
                 decoded->worker.substr(0, 200) + "'");
  return false;
}

// The name of an admitted sender, or nullptr after noting the intruder.
const std::string* admitted(Self self, const char* what) {
  auto& st = self->state;
  auto it = st.admitted.find(self->current_sender() ? self->current_sender()->address()
                                                    : caf::actor_addr{});
  if (it != st.admitted.end()) return &it->second;
  self->send(st.listener, note_atom_v,
             std::string("dropped a ") + what + " from an actor that has not said hello");
  return nullptr;
}

// Admits or refuses one hello from `sender`, which came over the connection of `peer` ("" if
// unknown: a local actor, or the broker did not say).
Encoded<HelloReply> answer_hello(Self self, const Encoded<WorkerHello>& bytes,
                                 const KillSwitch& kill_switch, const caf::actor& sender,
                                 const std::string& peer) {
  auto& st = self->state;
  ConnectionWatch* gate = peer.empty() ? nullptr : st.config.gate.get();
  HelloReply reply;
  reply.run_id = st.config.run_id;
  if (gate && gate->disconnected(peer)) {
    // Not even decoded: its connection is on its way out (the watch's summary counts it).
    reply.reason = "too many wrong tokens from " + address_of(peer) +
                   "; this address is refused for a while (check BR_TOKEN)";
    return Encoded<HelloReply>::of(reply);
  }
  auto hello = bytes.decode(st.limits);
  if (!hello) {
    reply.reason = "malformed hello: " + hello.error().str();
  } else {
    reply = admit(*hello, st.config.token, st.config.run_id);
  }
  if (reply.accepted && sender) {
    // Names key attempts and results. The same process may say hello again (after a
    // reconnect); another process under a live worker's name is refused, or the live
    // worker's attempts would be judged lost and run twice.
    for (const auto& [address, name] : st.admitted) {
      if (name == hello->name && address.node() != sender.node()) {
        reply.accepted = false;
        reply.reason = "a worker named '" + name +
                       "' is connected already, from another process; give this one "
                       "another --name";
        break;
      }
    }
  }
  if (reply.accepted && sender && !st.connections.count(sender.node()) &&
      st.connections.size() >= st.config.max_connections) {
    reply.accepted = false;
    reply.reason = "the coordinator already serves " +
                   std::to_string(st.config.max_connections) +
                   " worker processes (network.max_connections); raise it in its "
                   "br.toml or add slots to the workers already connected";
  }
  if (reply.accepted && sender) {
    if (gate) gate->admitted(peer);
    // Counted once per actor, should one say hello twice.
    if (st.admitted.insert_or_assign(sender.address(), hello->name).second) {
      ++st.connections[sender.node()];
    }
    self->monitor(sender);
    // Only a kill switch of the worker's own process: a hello cannot point br cancel elsewhere.
    if (kill_switch && kill_switch.node() == sender.node()) {
      st.kill_switches.insert_or_assign(sender.node(), kill_switch);
    }
    WorkerHello joined = *hello;
    joined.token.clear();  // checked; nobody past this point needs it
    self->send(st.graph, hello_atom_v, Encoded<WorkerHello>::of(joined),
               caf::to_string(sender.node()));
    return Encoded<HelloReply>::of(reply);
  }
  // A wrong token is noted the first time per connection; a guesser's further tries are
  // folded into the watch's summary line, and after a few its connection is closed.
  const bool wrong_token = hello && !token_accepted(*hello, st.config.token);
  const int wrong_tokens = wrong_token && gate ? gate->bad_token(peer) : 0;
  if (wrong_tokens <= 1) {
    self->send(st.listener, note_atom_v,
               "refused a worker" +
                   (hello ? " '" + hello->name.substr(0, 200) + "'" : std::string()) + ": " +
                   reply.reason + (peer.empty() ? "" : " (from " + peer + ")"));
  }
  return Encoded<HelloReply>::of(reply);
}

FrontActor::behavior_type front_actor(Self self, SchedulerActor scheduler, GraphActor graph,
                                      ListenerActor listener, FrontConfig config) {
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
    if (node != st.connections.end() && --node->second == 0) {
      st.connections.erase(node);
      st.kill_switches.erase(down.source.node());
    }
    if (st.connections.empty()) {
      for (auto& promise : st.drains) promise.deliver(ack_atom_v);
      st.drains.clear();
    }
    self->send(st.listener, note_atom_v, "worker " + name + " lost: " + caf::to_string(down.reason));
    self->send(st.graph, lost_atom_v, name);
    self->send(st.scheduler, lost_atom_v, name);
  });
  // A peer may send anything CAF can deserialize (another br version, a hostile one); what
  // is not in the interface is noted by its sender, never by its content, which may be
  // large, and refused. CAF's default would print the whole message.
  self->set_default_handler([=](caf::scheduled_actor*,
                                caf::message_view&) -> caf::result<caf::message> {
    auto& st = self->state;
    auto it = st.admitted.find(self->current_sender() ? self->current_sender()->address()
                                                      : caf::actor_addr{});
    self->send(st.listener, note_atom_v,
               "dropped a message of a kind the coordinator does not take, from " +
                   (it != st.admitted.end() ? it->second
                                            : std::string("an actor that has not said hello")));
    return caf::sec::unexpected_message;
  });
  return {
      // One hello per worker actor (a br-worker with N slots runs N of them). From another
      // process, it is answered once the BASP broker has said which connection (peer address
      // and port) it came on, so the connection watch can keep that connection, or count a
      // wrong token against it.
      [=](hello_atom, const Encoded<WorkerHello>& bytes,
          const KillSwitch& kill_switch) -> caf::result<Encoded<HelloReply>> {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!self->state.config.gate || !sender || sender.node() == self->node()) {
          return answer_hello(self, bytes, kill_switch, sender, "");
        }
        auto promise = self->make_response_promise<Encoded<HelloReply>>();
        auto basp = self->system().middleman().named_broker<caf::io::basp_broker>(
            caf::atom("BASP"));
        self->request(caf::actor_cast<caf::actor>(basp), std::chrono::seconds(5), caf::get_atom_v,
                      sender.node())
            .then(
                [=](const caf::node_id&, const std::string& address,
                    std::uint16_t port) mutable {
                  promise.deliver(answer_hello(self, bytes, kill_switch, sender,
                                               address.empty() ? "" : peer_name(address, port)));
                },
                [=](const caf::error&) mutable {
                  promise.deliver(answer_hello(self, bytes, kill_switch, sender, ""));
                });
        return promise;
      },
      // Passed on with the worker as sender, so answers go straight back to it.
      [=](work_atom, const Encoded<WorkRequest>& bytes) {
        const std::string* worker = admitted(self, "work request");
        if (!worker || !from_sender(self, *worker, bytes)) return;
        self->delegate(self->state.scheduler, work_atom_v, bytes);
      },
      [=](started_atom, const Encoded<TaskProgress>& bytes) {
        const std::string* worker = admitted(self, "progress report");
        if (!worker || !from_sender(self, *worker, bytes)) return;
        self->delegate(self->state.graph, started_atom_v, bytes);
      },
      // Answered here, not by another actor: packs are made from the run's repository, which
      // only this actor reads for the network.
      [=](objects_atom, const Encoded<ObjectsRequest>& bytes) -> caf::result<Encoded<ObjectsChunk>> {
        auto& st = self->state;
        const std::string* worker = admitted(self, "request for objects");
        if (!worker) return caf::make_error(caf::sec::invalid_argument, "say hello first");
        auto request = bytes.decode(st.limits);
        ObjectsChunk chunk;
        if (!request) chunk.error = "malformed request for objects: " + request.error().str();
        else if (!st.config.objects) chunk.error = "this run has no repository (isolation = \"none\")";
        else chunk = st.config.objects->serve(*request);
        return Encoded<ObjectsChunk>::of(chunk);
      },
      // br cancel of an attempt on a remote worker: passed to that worker process's kill switch.
      [=](cancel_atom, const std::string& batch, const std::string& worker) {
        auto& st = self->state;
        if (!self->current_sender() || self->current_sender()->node() != self->node()) return;
        for (const auto& [address, name] : st.admitted) {
          if (name != worker) continue;
          auto kill_switch = st.kill_switches.find(address.node());
          if (kill_switch != st.kill_switches.end()) {
            self->send(kill_switch->second, cancel_atom_v, batch);
          } else {
            self->send(st.listener, note_atom_v,
                       "br cancel: worker " + worker + " gave no kill switch (an older br-worker?); "
                       "its attempt runs to its end and its result is ignored");
          }
          return;
        }
      },
      [=](drain_atom) -> caf::result<ack_atom> {
        auto& st = self->state;
        if (!self->current_sender() || self->current_sender()->node() != self->node()) {
          return caf::make_error(caf::sec::invalid_argument, "drain is for the coordinator");
        }
        if (st.connections.empty()) return ack_atom_v;
        st.drains.push_back(self->make_response_promise<ack_atom>());
        return st.drains.back();
      },
      [=](result_atom, const Encoded<TaskResult>& bytes) -> caf::result<ack_atom> {
        const std::string* worker = admitted(self, "result");
        if (!worker || !from_sender(self, *worker, bytes)) {
          // Refused, not acknowledged: a worker keeps what is not acked.
          return caf::make_error(caf::sec::invalid_argument, "result dropped");
        }
        return self->delegate(self->state.graph, result_atom_v, bytes);
      },
  };
}

}  // namespace

FrontActor spawn_front_actor(caf::actor_system& system, SchedulerActor scheduler,
                             GraphActor graph, ListenerActor listener, FrontConfig config) {
  return system.spawn(front_actor, std::move(scheduler), std::move(graph), std::move(listener),
                      std::move(config));
}

}  // namespace br
