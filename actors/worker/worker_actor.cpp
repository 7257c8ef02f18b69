#include "actors/worker/worker_actor.hpp"

#include <chrono>
#include <map>
#include <set>
#include <utility>

#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"

namespace br {
namespace {

using namespace br::atoms;

using AttemptKey = std::pair<TaskId, std::uint32_t>;

// How long a result delivery may wait for its acknowledgement before it is sent again (after
// the next batch or reconnect). The graph answers once the result is durable.
constexpr auto kAckTimeout = std::chrono::seconds(30);
// The context cache is saved at most this often (and when the actor ends), not after every
// batch: it holds up to 10,000 entries, and rewriting it per batch made a batch's cost grow
// with the run. Losing a second of it to a crash only makes a few prompts less informed.
constexpr auto kContextSaveEvery = std::chrono::seconds(1);

struct WorkerState {
  WorkerActorConfig config;
  ContextManager context;
  caf::actor scheduler, graph;  // empty while disconnected from a remote coordinator
  std::string run_id;           // run of the first coordinator that admitted this worker
  // Results not yet acknowledged, by (task, attempt). They survive a lost coordinator and are
  // delivered again once it is back; it accepts each attempt's result once.
  std::map<AttemptKey, std::string> unacked;
  std::set<AttemptKey> delivering;  // unacked results with a delivery in flight
  std::uint64_t connection = 0;     // bumped per connection: replies of older ones are void
  std::chrono::steady_clock::time_point saved_at{};  // last context save
  bool context_dirty = false;
  static inline const char* name = "br.worker";

  void save_context(bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!context_dirty || (!force && now - saved_at < kContextSaveEvery)) return;
    (void)context.save(config.context_dir);
    saved_at = now;
    context_dirty = false;
  }

  bool connected() const { return static_cast<bool>(graph); }
};

using Self = caf::stateful_actor<WorkerState>;

void ask_for_work(Self* self) {
  auto& st = self->state;
  if (!st.connected() || (st.config.cancel && st.config.cancel->cancelled())) return;
  self->send(st.scheduler, work_atom_v, encode(WorkRequest{st.config.runner.worker, 1}));
}

void deliver_results(Self* self) {
  auto& st = self->state;
  if (!st.connected()) return;
  for (const auto& entry : st.unacked) {
    const auto key = entry.first;  // a copy: C++17 lambdas cannot capture structured bindings
    const std::string& bytes = entry.second;
    if (!st.delivering.insert(key).second) continue;
    const std::uint64_t connection = st.connection;
    self->request(st.graph, kAckTimeout, result_atom_v, bytes)
        .then(
            [self, key](ack_atom) {
              self->state.unacked.erase(key);
              self->state.delivering.erase(key);
            },
            [self, key, connection](caf::error&) {
              // Kept: delivered again on the next batch or connection.
              if (self->state.connection == connection) self->state.delivering.erase(key);
            });
  }
}

// Says hello to a (new) coordinator front, listing the attempts this worker still holds, and
// once admitted delivers their results and asks for work.
void say_hello(Self* self, const caf::actor& front) {
  auto& st = self->state;
  ++st.connection;
  st.delivering.clear();
  st.scheduler = st.graph = caf::actor{};
  self->monitor(front);
  WorkerHello hello{st.config.runner.worker, 1, kProtocolVersion, st.config.token, {}, {}};
  for (const auto& [key, bytes] : st.unacked) {
    hello.held_tasks.push_back(key.first);
    hello.held_attempts.push_back(key.second);
  }
  const std::uint64_t connection = st.connection;
  self->request(front, std::chrono::seconds(30), hello_atom_v, encode(hello))
      .then(
          [=](const std::string& bytes) {
            auto& st = self->state;
            if (st.connection != connection) return;
            auto reply = decode<HelloReply>(bytes);
            if (!reply || !reply->accepted) {
              if (st.config.on_refused) {
                st.config.on_refused(reply ? reply->reason : reply.error().str());
              }
              self->quit();
              return;
            }
            if (st.run_id.empty()) st.run_id = reply->run_id;
            if (reply->run_id != st.run_id) {
              // Another run: what this worker holds means nothing to it.
              st.unacked.clear();
              st.run_id = reply->run_id;
            }
            st.scheduler = st.graph = front;
            deliver_results(self);
            ask_for_work(self);
          },
          [=](caf::error& error) {
            auto& st = self->state;
            if (st.connection != connection) return;
            // A coordinator that died mid-hello is reconnected to by br-worker; one that is up
            // but does not answer will not start answering.
            if (error == caf::sec::request_timeout) {
              if (st.config.on_refused) st.config.on_refused("no answer to hello");
              self->quit();
            }
          });
}

caf::behavior worker_actor(Self* self, WorkerActorConfig config, caf::actor scheduler,
                           caf::actor graph) {
  auto& st = self->state;
  st.config = std::move(config);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.save_context(true);
    self->quit(msg.reason);
  });
  // A context that cannot be read is started afresh: it only improves prompts.
  if (auto loaded = ContextManager::load(st.config.context_dir)) st.context = std::move(*loaded);
  if (st.config.say_hello) {
    // A lost coordinator is not the end: br-worker reconnects and sends connect_atom.
    self->set_down_handler([=](caf::down_msg& down) {
      auto& st = self->state;
      if (st.graph && down.source == st.graph.address()) st.scheduler = st.graph = caf::actor{};
    });
    say_hello(self, scheduler);
  } else {
    st.scheduler = std::move(scheduler);
    st.graph = std::move(graph);
    ask_for_work(self);
  }
  return {
      [=](batch_atom, const std::string& bytes) {
        auto& st = self->state;
        auto batch = decode<Batch>(bytes);
        if (!batch) return;  // not from our scheduler; nothing to report against
        // Captured now: if the coordinator goes away mid-batch, progress has nowhere to go.
        caf::actor graph = st.graph;
        auto results = run_batch(*batch, st.config.runner, st.context, st.config.cancel,
                                 [&](const TaskProgress& progress) {
                                   if (graph) self->send(graph, started_atom_v, encode(progress));
                                 });
        st.context_dirty = true;
        st.save_context(false);
        for (const auto& result : results) {
          st.unacked[{result.task, result.attempt}] = encode(result);
        }
        deliver_results(self);
        ask_for_work(self);
      },
      [=](connect_atom, const caf::actor& front) { say_hello(self, front); },
      [=](run_over_atom) {
        self->state.save_context(true);
        self->quit();
      },
  };
}

}  // namespace

caf::actor spawn_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                              caf::actor scheduler, caf::actor graph) {
  // Detached: a batch blocks for as long as its agent runs, on a thread of its own.
  return system.spawn<caf::detached>(worker_actor, std::move(config), scheduler, graph);
}

}  // namespace br
