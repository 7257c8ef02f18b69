#include "actors/worker/worker_actor.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "actors/worker/remote_commits.hpp"


namespace br {
namespace {

using namespace br::atoms;

using AttemptKey = std::pair<TaskId, std::uint32_t>;

// One chunk of objects may take this long to come (built, then sent at network speed).
constexpr auto kObjectsTimeout = std::chrono::seconds(120);

// A batch waiting for the objects of its base.
struct Fetch {
  Batch batch;
  std::string pack_id;
  std::string pack;  // what came so far
  int restarts = 0;
};

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
  WorkSource scheduler;  // both empty while disconnected from a remote coordinator
  ResultSink graph;
  FrontActor front;             // a remote worker's coordinator, for objects
  std::optional<GitRepo> repo;  // ship_commits: this host's repository, opened at first use
  std::vector<CommitId> known;  // commits this host has (recent bases and commits), for fetches
  std::string run_id;           // run of the first coordinator that admitted this worker
  // Results not yet acknowledged, by (task, attempt). They survive a lost coordinator and are
  // delivered again once it is back; it accepts each attempt's result once.
  std::map<AttemptKey, Encoded<TaskResult>> unacked;
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

using Self = WorkerActor::stateful_pointer<WorkerState>;

void ask_for_work(Self self) {
  auto& st = self->state;
  if (!st.connected() || (st.config.cancel && st.config.cancel->cancelled())) return;
  self->send(st.scheduler, work_atom_v, Encoded<WorkRequest>::of({st.config.runner.worker, 1}));
}

void deliver_results(Self self) {
  auto& st = self->state;
  if (!st.connected()) return;
  for (const auto& entry : st.unacked) {
    const auto key = entry.first;  // a copy: C++17 lambdas cannot capture structured bindings
    const Encoded<TaskResult>& bytes = entry.second;
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
void say_hello(Self self, const FrontActor& front) {
  auto& st = self->state;
  ++st.connection;
  st.delivering.clear();
  st.scheduler = nullptr;
  st.graph = nullptr;
  st.front = front;
  self->monitor(front);
  WorkerHello hello{st.config.runner.worker, 1, kProtocolVersion, st.config.token, {}, {}};
  for (const auto& [key, bytes] : st.unacked) {
    hello.held_tasks.push_back(key.first);
    hello.held_attempts.push_back(key.second);
  }
  const std::uint64_t connection = st.connection;
  self->request(front, std::chrono::seconds(30), hello_atom_v, Encoded<WorkerHello>::of(hello),
                st.config.kill_switch)
      .then(
          [=](const Encoded<HelloReply>& bytes) {
            auto& st = self->state;
            if (st.connection != connection) return;
            auto reply = bytes.decode();
            if (!reply || !reply->accepted) {
              if (st.config.on_refused) {
                st.config.on_refused(reply ? reply->reason : reply.error().str());
              }
              self->quit();
              return;
            }
            if (st.run_id.empty()) st.run_id = reply->run_id;
            st.config.runner.run_id = reply->run_id;  // named in this worker's commits
            if (reply->run_id != st.run_id) {
              // Another run: what this worker holds means nothing to it.
              st.unacked.clear();
              st.run_id = reply->run_id;
            }
            st.scheduler = front;
            st.graph = front;
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

// Hands a batch's results to the graph (kept until acknowledged) and asks for more work.
void report(Self self, const std::vector<TaskResult>& results) {
  auto& st = self->state;
  for (const auto& result : results) {
    const AttemptKey key{result.task, result.attempt};
    st.unacked[key] = Encoded<TaskResult>::of(result);
  }
  deliver_results(self);
  ask_for_work(self);
}

void remember(WorkerState& st, const CommitId& commit) {
  if (commit.empty() || std::find(st.known.begin(), st.known.end(), commit) != st.known.end()) {
    return;
  }
  if (st.known.size() >= 16) st.known.erase(st.known.begin());
  st.known.push_back(commit);
}

void run(Self self, const Batch& batch) {
  auto& st = self->state;
  // Captured now: if the coordinator goes away mid-batch, progress has nowhere to go.
  ResultSink graph = st.graph;
  const auto own = st.config.attempts ? st.config.attempts->begin(batch.id) : nullptr;
  auto results = run_batch(batch, st.config.runner, st.context,
                           own ? own.get() : st.config.cancel,
                           [&](const TaskProgress& progress) {
                             if (graph) self->send(graph, started_atom_v, Encoded<TaskProgress>::of(progress));
                           });
  if (own) st.config.attempts->end(batch.id);
  st.context_dirty = true;
  st.save_context(false);
  if (st.config.ship_commits && st.repo && !batch.base.empty()) {
    remember(st, batch.base);
    attach_pack(*st.repo, batch.base, st.config.change_max_bytes, results);
    for (const auto& r : results) remember(st, r.commit);
  }
  report(self, results);
}

// Fetches the pack of what this host lacks for `fetch->batch.base`, a chunk per request, then
// indexes it and runs the batch. The coordinator names each pack; a chunk of another one (it
// rebuilt the pack meanwhile) starts the fetch again, a few times at most.
void fetch_base(Self self, const std::shared_ptr<Fetch>& fetch) {
  auto& st = self->state;
  const auto fail = [self, fetch](const std::string& why) {
    report(self, failed_results(fetch->batch, self->state.config.runner.worker,
                                "fetching the base commit " + fetch->batch.base.substr(0, 12) +
                                    " from the coordinator: " + why));
  };
  if (!st.front || !st.connected()) return fail("not connected");
  ObjectsRequest request{fetch->batch.base, st.known, fetch->pack.size()};
  self->request(st.front, kObjectsTimeout, objects_atom_v, Encoded<ObjectsRequest>::of(request))
      .then(
          [self, fetch, fail](const Encoded<ObjectsChunk>& bytes) {
            DecodeLimits limits;
            limits.max_bytes = std::size_t{1} << 30;
            auto chunk = bytes.decode(limits);
            if (!chunk) return fail(chunk.error().str());
            if (!chunk->error.empty()) return fail(chunk->error);
            if (chunk->total > kMaxFetchedPackBytes) {
              return fail("its pack is " + std::to_string(chunk->total) + " bytes, too large");
            }
            if (fetch->pack.empty()) fetch->pack_id = chunk->pack_id;
            if (chunk->pack_id != fetch->pack_id) {
              if (++fetch->restarts > 3) return fail("the pack kept changing");
              fetch->pack.clear();
              fetch->pack_id.clear();
              return fetch_base(self, fetch);
            }
            if (chunk->data.empty() && fetch->pack.size() < chunk->total) {
              return fail("a chunk came empty");
            }
            fetch->pack += chunk->data;
            if (fetch->pack.size() > chunk->total) return fail("more bytes than announced");
            if (fetch->pack.size() < chunk->total) return fetch_base(self, fetch);
            auto& st = self->state;
            if (auto indexed = st.repo->index_pack(fetch->pack); !indexed) {
              return fail(indexed.error().str());
            }
            fetch->pack.clear();
            if (!st.repo->has_commit(fetch->batch.base)) return fail("the pack lacks it");
            run(self, fetch->batch);
          },
          [fail](caf::error& error) { fail(error_text(error)); });
}

// `front` is set for a remote worker, which says hello first; an in-process one starts
// asking `scheduler` for work at once.
WorkerActor::behavior_type worker_actor(Self self, WorkerActorConfig config, WorkSource scheduler,
                                        ResultSink graph, const FrontActor& front) {
  auto& st = self->state;
  st.config = std::move(config);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.save_context(true);
    self->quit(msg.reason);
  });
  // A context that cannot be read is started afresh: it only improves prompts.
  if (auto loaded = ContextManager::load(st.config.context_dir)) st.context = std::move(*loaded);
  if (front) {
    // A lost coordinator is not the end: br-worker reconnects and sends connect_atom.
    self->set_down_handler([=](caf::down_msg& down) {
      auto& st = self->state;
      if (st.graph && down.source == st.graph.address()) {
        st.scheduler = nullptr;
        st.graph = nullptr;
      }
    });
    say_hello(self, front);
  } else {
    st.scheduler = std::move(scheduler);
    st.graph = std::move(graph);
    ask_for_work(self);
  }
  return {
      [=](batch_atom, const Encoded<Batch>& bytes) {
        auto& st = self->state;
        auto batch = bytes.decode();
        if (!batch) return;  // not from our scheduler; nothing to report against
        if (st.config.ship_commits && !batch->base.empty()) {
          if (!st.repo) {
            auto repo = open_worker_repository(st.config.runner.workspace);
            if (!repo) return report(self, failed_results(*batch, st.config.runner.worker,
                                                          "workspace: " + repo.error().str()));
            st.repo.emplace(std::move(repo).value());
          }
          if (!st.repo->has_commit(batch->base)) {
            auto fetch = std::make_shared<Fetch>();
            fetch->batch = std::move(*batch);
            return fetch_base(self, fetch);
          }
        }
        run(self, *batch);
      },
      [=](connect_atom, const FrontActor& front) { say_hello(self, front); },
      [=](run_over_atom) {
        self->state.save_context(true);
        self->quit();
      },
  };
}

}  // namespace

// Detached: a batch blocks for as long as its agent runs, on a thread of its own.
WorkerActor spawn_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                               WorkSource scheduler, ResultSink graph) {
  return system.spawn<caf::detached>(worker_actor, std::move(config), std::move(scheduler),
                                     std::move(graph), FrontActor{});
}

WorkerActor spawn_remote_worker_actor(caf::actor_system& system, WorkerActorConfig config,
                                      FrontActor front) {
  return system.spawn<caf::detached>(worker_actor, std::move(config), WorkSource{},
                                     ResultSink{}, std::move(front));
}

}  // namespace br
