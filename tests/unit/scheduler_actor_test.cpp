// The scheduler actor's protocol, driven deterministically: ready work is proposed to the
// graph only for a worker slot that asked, and the dispatched batch goes to that worker alone.
#include "actors/scheduler/scheduler_actor.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/actor_test_fixture.hpp"

using namespace br;
using namespace br::atoms;

namespace {

// The graph as the scheduler sees it: records each proposal and dispatches it as proposed,
// under a batch id naming the worker.
Dispatcher::behavior_type dispatching_graph(Dispatcher::pointer, test::Recorded* log) {
  return {
      [log](dispatch_atom, const Encoded<Batch>& proposal,
            const std::string& worker) -> Encoded<Batch> {
        log->messages.push_back(caf::make_message(dispatch_atom_v, proposal, worker));
        Batch batch = proposal.decode().value();
        batch.id = BatchId("for-" + worker);
        return Encoded<Batch>::of(batch);
      },
  };
}

struct SchedulerFixture {
  test::DeterministicActors actors;
  test::Recorded graph_log, w1_log, w2_log;
  SchedulerActor scheduler;
  WorkerSlot w1, w2;

  SchedulerFixture() {
    auto plan = std::make_shared<Plan>();
    for (const char* id : {"a", "c"}) {
      Task t;
      t.id = TaskId(id);
      t.feature = FeatureId(id);
      plan->tasks.push_back(t);
    }
    auto dag = std::make_shared<const DependencyGraph>(DependencyGraph::build(plan->tasks).value());
    scheduler = spawn_scheduler_actor(actors.system(), plan, dag, SchedulerConfig{});
    caf::anon_send(scheduler, attach_atom_v,
                   Dispatcher{actors.system().spawn(dispatching_graph, &graph_log)});
    w1 = actors.spawn_recorder<WorkerSlot>(w1_log);
    w2 = actors.spawn_recorder<WorkerSlot>(w2_log);
    actors.run();
  }

  void ready(std::vector<TaskId> tasks) {
    caf::anon_send(scheduler, ready_atom_v, Encoded<ReadyTasks>::of({std::move(tasks), {}}));
    actors.run();
  }
  // A worker asks for work as the worker actor does: it is the sender.
  void ask(const WorkerSlot& worker, const char* name) {
    caf::send_as(worker, scheduler, work_atom_v, Encoded<WorkRequest>::of({name, 1}));
    actors.run();
  }
};

std::vector<BatchId> batches_of(const test::Recorded& worker) {
  std::vector<BatchId> out;
  for (const auto& m : worker.matching<batch_atom, Encoded<Batch>>()) {
    out.push_back(m.get_as<Encoded<Batch>>(1).decode().value().id);
  }
  return out;
}

}  // namespace

TEST_CASE("ready work is proposed only for a worker that asked, and goes to that worker") {
  SchedulerFixture f;
  f.ready({TaskId("a")});
  CHECK(f.graph_log.messages.empty());  // nobody asked: nothing to dispatch

  f.ask(f.w2, "w2");
  const auto proposals = f.graph_log.matching<dispatch_atom, Encoded<Batch>, std::string>();
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].get_as<std::string>(2) == "w2");
  const Batch proposed = proposals[0].get_as<Encoded<Batch>>(1).decode().value();
  REQUIRE(proposed.tasks.size() == 1);
  CHECK(proposed.tasks[0].task.id == TaskId("a"));
  CHECK(batches_of(f.w2_log) == std::vector<BatchId>{BatchId("for-w2")});
  CHECK(f.w1_log.messages.empty());
}

TEST_CASE("a worker that asked before any work was ready gets the first batch") {
  SchedulerFixture f;
  f.ask(f.w1, "w1");
  CHECK(f.graph_log.messages.empty());
  f.ready({TaskId("a")});
  CHECK(batches_of(f.w1_log) == std::vector<BatchId>{BatchId("for-w1")});
  // One slot asked once: the next ready task waits for the next request.
  f.ready({TaskId("c")});
  CHECK(f.graph_log.messages.size() == 1);
  CHECK(batches_of(f.w1_log).size() == 1);
  f.ask(f.w1, "w1");
  CHECK(f.graph_log.messages.size() == 2);
  CHECK(batches_of(f.w1_log).size() == 2);
  CHECK(f.w2_log.messages.empty());
}

TEST_CASE("the end of the run reaches every worker that asked, and later askers") {
  SchedulerFixture f;
  f.ask(f.w1, "w1");
  caf::anon_send(f.scheduler, run_over_atom_v);
  f.actors.run();
  CHECK(f.w1_log.matching<run_over_atom>().size() == 1);
  CHECK(f.w2_log.messages.empty());
  f.ask(f.w2, "w2");
  CHECK(f.w2_log.matching<run_over_atom>().size() == 1);
  f.ready({TaskId("a")});
  CHECK(f.graph_log.messages.empty());  // nothing is dispatched once the run is over
}
