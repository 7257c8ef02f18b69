// The graph actor's protocol, driven deterministically with the real journal actor in front
// of a journal whose appends the test completes: nobody hears of a transition before it is
// durable, dispatches the run tracker refuses are errors, and results are acked once durable.
#include "actors/graph/graph_actor.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "protocol/codec.hpp"
#include "storage/journal_actor.hpp"
#include "tests/unit/actor_test_fixture.hpp"

using namespace br;
using namespace br::atoms;

namespace {

struct HeldAppends {
  std::vector<std::vector<std::string>> encoded;
  std::vector<Journal::Done> done;
  std::uint64_t seq = 1;  // the plan is record 1

  AppendEncoded append() {
    return [this](std::vector<std::string> bytes, std::vector<JournalRecord>, Journal::Done d) {
      encoded.push_back(std::move(bytes));
      done.push_back(std::move(d));
    };
  }
  // Makes the oldest append still held durable.
  void complete(std::size_t i) {
    seq += encoded[i].size();
    done[i](seq);
  }
};

std::vector<RecordBody> bodies(const std::vector<std::string>& encoded) {
  std::vector<RecordBody> out;
  for (const auto& bytes : encoded) out.push_back(decode<JournalRecord>(bytes).value().body);
  return out;
}

// a → b: only a is ready at the start.
struct GraphFixture {
  test::DeterministicActors actors;
  HeldAppends journal;
  test::Recorded scheduler, listener;
  GraphActor graph;

  GraphFixture() {
    auto task = [](const char* id, std::vector<TaskId> deps) {
      Task t;
      t.id = TaskId(id);
      t.depends_on = std::move(deps);
      return t;
    };
    Plan plan;
    plan.title = "two tasks";
    plan.tasks = {task("a", {}), task("b", {TaskId("a")})};
    RunState state;
    REQUIRE(state.apply(JournalRecord{1, "run", 100, rec::PlanCreated{plan, "spec.md", "h"}}));
    auto dag = std::make_shared<const DependencyGraph>(DependencyGraph::build(plan.tasks).value());
    GraphActorConfig config;
    config.retry = RetryPolicy{2, 1000, 8000, 0.0};
    graph = spawn_graph_actor(actors.system(), state, dag, config,
                              spawn_journal_actor(actors.system(), journal.append()),
                              actors.spawn_recorder<SchedulerActor>(scheduler),
                              actors.spawn_recorder<ListenerActor>(listener));
    actors.run();
  }

  // The graph's next tick waits in the test clock, which keeps the graph alive, and the actor
  // system waits for every actor before it goes.
  ~GraphFixture() {
    caf::anon_send_exit(graph, caf::exit_reason::user_shutdown);
    actors.run();
  }

  std::vector<std::vector<TaskId>> ready_sent() const {
    std::vector<std::vector<TaskId>> out;
    for (const auto& m : scheduler.matching<ready_atom, Encoded<ReadyTasks>>()) {
      out.push_back(m.get_as<Encoded<ReadyTasks>>(1).decode().value().tasks);
    }
    return out;
  }

  // Starts the run: a's taskReady becomes durable.
  void start() {
    REQUIRE(journal.done.size() == 1);
    journal.complete(0);
    actors.run();
  }

  // Sends a request from a fresh actor and keeps what comes back.
  template <class Reply, class... Ts>
  void request(std::optional<Reply>& reply, std::optional<caf::error>& error, Ts... xs) {
    actors.system().spawn([&reply, &error, g = graph, xs...](caf::event_based_actor* self) {
      self->request(g, caf::infinite, xs...)
          .then([&reply](const Reply& r) { reply = r; }, [&error](caf::error& e) { error = e; });
    });
    actors.run();
  }
};

TaskResult success(const char* task, std::uint32_t attempt) {
  TaskResult r;
  r.task = TaskId(task);
  r.attempt = attempt;
  r.success = true;
  r.worker = "w";
  return r;
}

Encoded<Batch> proposal(const char* task) {
  Batch b;
  BatchTask item;
  item.task.id = TaskId(task);
  b.tasks.push_back(item);
  return Encoded<Batch>::of(b);
}

}  // namespace

TEST_CASE("ready tasks reach the scheduler only once the journal has made them durable") {
  GraphFixture f;
  // The graph attached itself and journaled a as ready, but the append is not durable yet.
  CHECK(f.scheduler.matching<attach_atom, Dispatcher>().size() == 1);
  REQUIRE(f.journal.encoded.size() == 1);
  REQUIRE(f.journal.encoded[0].size() == 1);
  CHECK(std::get<rec::TaskReady>(bodies(f.journal.encoded[0])[0]).task == TaskId("a"));
  CHECK(f.ready_sent().empty());
  CHECK(f.listener.messages.empty());

  f.start();
  CHECK(f.ready_sent() == std::vector<std::vector<TaskId>>{{TaskId("a")}});
  // The listener hears of the same bytes the journal stored: encoded once, by the graph.
  const auto progress = f.listener.matching<progress_atom, EncodedRecords>();
  REQUIRE(progress.size() == 1);
  const auto& told = progress[0].get_as<EncodedRecords>(1);
  REQUIRE(told.size() == 1);
  CHECK(told[0].bytes == f.journal.encoded[0][0]);
}

TEST_CASE("a dispatch proposal for a task that is not ready is refused, and nothing journaled") {
  GraphFixture f;
  f.start();
  std::optional<Encoded<Batch>> batch;
  std::optional<caf::error> error;
  f.request(batch, error, dispatch_atom_v, proposal("b"), std::string("w"));
  CHECK_FALSE(batch);
  REQUIRE(error);
  CHECK(error_text(*error) == "task 'b' is not ready");
  CHECK(f.journal.encoded.size() == 1);  // only the start
}

TEST_CASE("a dispatch is answered with the batch only once its record is durable") {
  GraphFixture f;
  f.start();
  std::optional<Encoded<Batch>> batch;
  std::optional<caf::error> error;
  f.request(batch, error, dispatch_atom_v, proposal("a"), std::string("w"));
  REQUIRE(f.journal.encoded.size() == 2);
  const auto dispatched = std::get<rec::BatchDispatched>(bodies(f.journal.encoded[1]).at(0));
  CHECK(dispatched.tasks == std::vector<TaskId>{TaskId("a")});
  CHECK(dispatched.worker == "w");
  CHECK_FALSE(batch);
  CHECK_FALSE(error);

  f.journal.complete(1);
  f.actors.run();
  REQUIRE(batch);
  CHECK_FALSE(error);
  const Batch decoded = batch->decode().value();
  CHECK(decoded.id == dispatched.batch);
  REQUIRE(decoded.tasks.size() == 1);
  CHECK(decoded.tasks[0].task.id == TaskId("a"));
  CHECK(decoded.tasks[0].attempt == 1);
  CHECK(decoded.project.find("two tasks") != std::string::npos);
}

TEST_CASE("a result is acked only once it is durable, and then its dependents are ready") {
  GraphFixture f;
  f.start();
  std::optional<Encoded<Batch>> batch;
  std::optional<caf::error> error;
  f.request(batch, error, dispatch_atom_v, proposal("a"), std::string("w"));
  f.journal.complete(1);
  f.actors.run();
  REQUIRE(batch);

  std::optional<ack_atom> ack;
  f.request(ack, error, result_atom_v, Encoded<TaskResult>::of(success("a", 1)));
  REQUIRE(f.journal.encoded.size() == 3);
  const auto records = bodies(f.journal.encoded[2]);
  REQUIRE(records.size() == 2);
  CHECK(std::get<rec::TaskSucceeded>(records[0]).task == TaskId("a"));
  CHECK(std::get<rec::TaskReady>(records[1]).task == TaskId("b"));
  CHECK_FALSE(ack);
  CHECK(f.ready_sent().size() == 1);  // b is not handed over before it is durable

  f.journal.complete(2);
  f.actors.run();
  CHECK(ack);
  CHECK_FALSE(error);
  CHECK(f.ready_sent() == std::vector<std::vector<TaskId>>{{TaskId("a")}, {TaskId("b")}});
}

TEST_CASE("a second result for the same attempt is acked without journaling it again") {
  GraphFixture f;
  f.start();
  std::optional<Encoded<Batch>> batch;
  std::optional<caf::error> error;
  f.request(batch, error, dispatch_atom_v, proposal("a"), std::string("w"));
  f.journal.complete(1);
  f.actors.run();
  std::optional<ack_atom> first, second;
  f.request(first, error, result_atom_v, Encoded<TaskResult>::of(success("a", 1)));
  f.journal.complete(2);
  f.actors.run();
  REQUIRE(first);
  f.request(second, error, result_atom_v, Encoded<TaskResult>::of(success("a", 1)));
  CHECK(second);  // a redelivery after a lost ack: settled, so the worker may forget it
  CHECK(f.journal.encoded.size() == 3);
  CHECK_FALSE(error);
}

TEST_CASE("a result br could not write files for stops the run, resumable, charging nothing") {
  GraphFixture f;
  f.start();
  std::optional<Encoded<Batch>> batch;
  std::optional<caf::error> error;
  f.request(batch, error, dispatch_atom_v, proposal("a"), std::string("w"));
  f.journal.complete(1);
  f.actors.run();
  REQUIRE(batch);

  TaskResult own_files = success("a", 1);
  own_files.success = false;
  own_files.infrastructure = true;
  own_files.reason = "cannot write .br/prompts/b-1.md: No space left on device";
  std::optional<ack_atom> ack;
  f.request(ack, error, result_atom_v, Encoded<TaskResult>::of(own_files));
  // The attempt retries uncharged, then the run stops: two groups, in that order.
  REQUIRE(f.journal.encoded.size() == 4);
  const auto attempt = bodies(f.journal.encoded[2]);
  REQUIRE(attempt.size() == 2);
  CHECK(std::get<rec::TaskFailed>(attempt[0]).task == TaskId("a"));
  CHECK(std::get<rec::TaskRetrying>(attempt[1]).uncharged);
  const auto stop = bodies(f.journal.encoded[3]);
  REQUIRE(stop.size() == 1);
  CHECK(std::get<rec::RunStopped>(stop[0]).reason == own_files.reason);

  f.journal.complete(2);
  f.journal.complete(3);
  f.actors.run();
  CHECK(ack);
  const auto over = f.listener.matching<run_over_atom, int>();
  REQUIRE(over.size() == 1);
  CHECK(over[0].get_as<int>(1) == kRunStoppedByInfrastructure);
}
