#include "actors/worker/worker_actor.hpp"

#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct WorkerState {
  WorkerActorConfig config;
  ContextManager context;
  caf::actor scheduler, graph;
  static inline const char* name = "br.worker";
};

using Self = caf::stateful_actor<WorkerState>;

void ask_for_work(Self* self) {
  auto& st = self->state;
  self->send(st.scheduler, work_atom_v, encode(WorkRequest{st.config.runner.worker, 1}));
}

caf::behavior worker_actor(Self* self, WorkerActorConfig config, caf::actor scheduler,
                           caf::actor graph) {
  auto& st = self->state;
  st.config = std::move(config);
  st.scheduler = scheduler;
  st.graph = graph;
  // A context that cannot be read is started afresh: it only improves prompts.
  if (auto loaded = ContextManager::load(st.config.context_dir)) st.context = std::move(*loaded);
  if (st.config.say_hello) {
    WorkerHello hello{st.config.runner.worker, 1, kProtocolVersion, st.config.token};
    // Without the coordinator there is nothing to do: stop with it.
    self->monitor(scheduler);
    self->set_down_handler([=](caf::down_msg&) { self->quit(); });
    self->request(scheduler, std::chrono::seconds(30), hello_atom_v, encode(hello))
        .then(
            [=](const std::string& bytes) {
              auto reply = decode<HelloReply>(bytes);
              if (reply && reply->accepted) {
                ask_for_work(self);
                return;
              }
              if (self->state.config.on_refused) {
                self->state.config.on_refused(reply ? reply->reason : reply.error().str());
              }
              self->quit();
            },
            [=](caf::error& error) {
              if (self->state.config.on_refused) {
                self->state.config.on_refused("no answer to hello: " + caf::to_string(error));
              }
              self->quit();
            });
  } else {
    ask_for_work(self);
  }
  return {
      [=](batch_atom, const std::string& bytes) {
        auto& st = self->state;
        auto batch = decode<Batch>(bytes);
        if (!batch) return;  // not from our scheduler; nothing to report against
        auto results = run_batch(*batch, st.config.runner, st.context, st.config.cancel,
                                 [&](const TaskProgress& progress) {
                                   self->send(st.graph, started_atom_v, encode(progress));
                                 });
        (void)st.context.save(st.config.context_dir);
        for (const auto& result : results) self->send(st.graph, result_atom_v, encode(result));
        if (!st.config.cancel || !st.config.cancel->cancelled()) ask_for_work(self);
      },
      [=](run_over_atom) { self->quit(); },
  };
}

}  // namespace

caf::actor spawn_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                              caf::actor scheduler, caf::actor graph) {
  // Detached: a batch blocks for as long as its agent runs, on a thread of its own.
  return system.spawn<caf::detached>(worker_actor, std::move(config), scheduler, graph);
}

}  // namespace br
