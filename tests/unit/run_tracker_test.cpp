#include <catch2/catch.hpp>

#include "actors/graph/run_tracker.hpp"

using namespace br;

namespace {

// a → b → d, a → c → d, and e on its own.
std::vector<Task> diamond() {
  auto task = [](const char* id, std::vector<const char*> deps) {
    Task t;
    t.id = TaskId(id);
    t.minutes = 60;
    for (auto d : deps) t.depends_on.emplace_back(d);
    return t;
  };
  return {task("a", {}), task("b", {"a"}), task("c", {"a"}), task("d", {"b", "c"}),
          task("e", {})};
}

struct Fixture {
  std::vector<Task> tasks = diamond();
  DependencyGraph graph = DependencyGraph::build(tasks).value();
  RetryPolicy policy{2, 1000, 8000, 0.0};
  RunTracker tracker{graph, policy};
  RunState state;
  std::uint64_t seq = 0;

  Fixture() {
    Plan plan;
    plan.tasks = tasks;
    apply({rec::PlanCreated{plan, "spec.md", "h"}});
  }
  void apply(const std::vector<RecordBody>& bodies) {
    for (const auto& body : bodies) {
      auto status = state.apply(JournalRecord{++seq, "run", 100, body});
      INFO((status.ok() ? std::string() : status.error().str()));
      REQUIRE(status.ok());
    }
  }
  void dispatch(const char* id, std::uint32_t attempt) {
    apply({rec::BatchDispatched{BatchId("b"), "w", {TaskId(id)}, {attempt}, 0}});
  }
  TaskResult result(const char* id, std::uint32_t attempt, bool success) {
    TaskResult r;
    r.task = TaskId(id);
    r.attempt = attempt;
    r.success = success;
    r.reason = success ? "" : "check failed";
    r.worker = "w";
    return r;
  }
  TaskStatus status(const char* id) const { return state.find(TaskId(id))->status; }
};

std::vector<std::string> ready_ids(const std::vector<RecordBody>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (const auto* ready = std::get_if<rec::TaskReady>(&r)) out.push_back(ready->task.str());
  }
  return out;
}

}  // namespace

TEST_CASE("tasks without dependencies are released first") {
  Fixture f;
  CHECK(ready_ids(f.tracker.release_ready(f.state)) == std::vector<std::string>{"a", "e"});
}

TEST_CASE("a success releases exactly the dependents whose dependencies are all done") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);
  auto outcome = f.tracker.on_result(f.state, f.result("a", 1, true), 1000, 0.5);
  REQUIRE(outcome.ignored.empty());
  REQUIRE(std::holds_alternative<rec::TaskSucceeded>(outcome.records.front()));
  CHECK(ready_ids(outcome.records) == std::vector<std::string>{"b", "c"});
  f.apply(outcome.records);

  f.dispatch("b", 1);
  f.dispatch("c", 1);
  outcome = f.tracker.on_result(f.state, f.result("b", 1, true), 1000, 0.5);
  CHECK(ready_ids(outcome.records).empty());  // d still waits for c
  f.apply(outcome.records);
  outcome = f.tracker.on_result(f.state, f.result("c", 1, true), 1000, 0.5);
  CHECK(ready_ids(outcome.records) == std::vector<std::string>{"d"});
}

TEST_CASE("a failure retries after backoff until attempts run out, then blocks descendants") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);
  auto outcome = f.tracker.on_result(f.state, f.result("a", 1, false), 10000, 0.5);
  REQUIRE(outcome.records.size() == 2);
  const auto& retry = std::get<rec::TaskRetrying>(outcome.records[1]);
  CHECK(retry.next_attempt == 2);
  CHECK(retry.not_before_ms == 11000);  // base 1000 ms, no jitter at 0.5
  f.apply(outcome.records);

  CHECK(f.tracker.next_retry_ms(f.state) == 11000);
  CHECK(f.tracker.release_retries(f.state, 10999).empty());
  auto again = f.tracker.release_retries(f.state, 11000);
  CHECK(ready_ids(again) == std::vector<std::string>{"a"});
  f.apply(again);
  f.dispatch("a", 2);

  outcome = f.tracker.on_result(f.state, f.result("a", 2, false), 20000, 0.5);
  std::vector<std::string> blocked;
  for (const auto& r : outcome.records) {
    if (const auto* b = std::get_if<rec::TaskBlocked>(&r)) {
      blocked.push_back(b->task.str());
      CHECK(b->cause.str() == "a");
    }
  }
  CHECK(blocked == std::vector<std::string>{"b", "c", "d"});
  f.apply(outcome.records);
  CHECK(f.status("a") == TaskStatus::failed);
  CHECK(f.status("e") == TaskStatus::ready);  // unrelated work goes on
}

TEST_CASE("stale and unknown results change nothing") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);
  auto outcome = f.tracker.on_result(f.state, f.result("a", 7, true), 0, 0.5);
  CHECK(outcome.records.empty());
  CHECK(outcome.ignored == "stale result for 'a' attempt 7 (task is dispatched at attempt 1)");
  outcome = f.tracker.on_result(f.state, f.result("zzz", 1, true), 0, 0.5);
  CHECK(outcome.records.empty());
  CHECK(outcome.ignored == "result for unknown task 'zzz'");
  outcome = f.tracker.on_result(f.state, f.result("e", 1, true), 0, 0.5);  // never dispatched
  CHECK(outcome.records.empty());
}

TEST_CASE("an expired lease fails the attempt like any other failure") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.apply({rec::BatchDispatched{BatchId("b"), "w", {TaskId("a")}, {1}, 5000}});
  CHECK(f.tracker.expired_leases(f.state, 5000).empty());
  const auto expired = f.tracker.expired_leases(f.state, 5001);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].first.str() == "a");
  auto outcome = f.tracker.on_attempt_lost(f.state, TaskId("a"), 1, "lease expired", 5001, 0.5);
  REQUIRE(outcome.records.size() == 2);
  CHECK(std::get<rec::TaskFailed>(outcome.records[0]).reason == "lease expired");
}

TEST_CASE("the run completes once every task is terminal, failed if any did not succeed") {
  Fixture f;
  CHECK(f.tracker.completion(f.state).empty());
  f.apply(f.tracker.cancel_all(f.state, "stop"));
  auto done = f.tracker.completion(f.state);
  REQUIRE(done.size() == 1);
  CHECK(std::get<rec::RunCompleted>(done[0]).outcome == rec::RunOutcome::failed);
}

TEST_CASE("a dispatch numbers attempts and is refused unless every task is ready, once") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  auto d = f.tracker.dispatch(f.state, {TaskId("a"), TaskId("e")}, BatchId("b1"), "w", 1000, 500);
  REQUIRE(d.ok());
  CHECK(d->attempts == std::vector<std::uint32_t>{1, 1});
  CHECK(d->lease_until_ms == 1500);
  CHECK(f.tracker.dispatch(f.state, {TaskId("b")}, BatchId("b2"), "w", 1000, 0).error().str() ==
        "task 'b' is not ready");
  CHECK(f.tracker.dispatch(f.state, {TaskId("a"), TaskId("a")}, BatchId("b3"), "w", 1000, 0)
            .error()
            .str() == "task 'a' is in the batch twice");
  CHECK(f.tracker.dispatch(f.state, {}, BatchId("b4"), "w", 1000, 0).error().str() ==
        "empty batch");
  CHECK(f.tracker.dispatch(f.state, {TaskId("zz")}, BatchId("b5"), "w", 1000, 0).error().str() ==
        "task 'zz' is not ready");
}

TEST_CASE("an assembled batch carries its tasks at their attempts and its dependencies' work") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);
  auto r = f.result("a", 1, true);
  r.files = {"schema.sql"};
  f.apply(f.tracker.on_result(f.state, r, 0, 0.5).records);
  auto d = f.tracker.dispatch(f.state, {TaskId("b"), TaskId("c")}, BatchId("b2"), "w", 0, 0);
  REQUIRE(d.ok());
  const Batch batch = f.tracker.assemble(f.state, *d, 9000, 1024);
  REQUIRE(batch.tasks.size() == 2);
  CHECK(batch.tasks[0].task.id == TaskId("b"));
  CHECK(batch.tasks[1].attempt == 1);
  CHECK(batch.lease_ms == 9000);
  REQUIRE(batch.completed.size() == 1);  // a, once, though both depend on it
  CHECK(batch.completed[0].task == TaskId("a"));
  CHECK(batch.completed[0].files == std::vector<std::string>{"schema.sql"});
}

TEST_CASE("on start, a stopped run resumes, local attempts in flight retry, remote ones wait") {
  Fixture f;
  f.apply({rec::WorkerJoined{"remote", 1, "10.0.0.2:1"}, rec::WorkerJoined{"w", 1, "in-process"}});
  f.apply(f.tracker.release_ready(f.state));
  f.apply({rec::BatchDispatched{BatchId("b1"), "w", {TaskId("a")}, {1}, 0},
           rec::BatchDispatched{BatchId("b2"), "remote", {TaskId("e")}, {1}, 0},
           rec::RunStopped{"interrupted"}});
  const auto records = f.tracker.on_start(f.state, true, 5000);
  REQUIRE(records.size() == 3);
  CHECK(std::holds_alternative<rec::RunResumed>(records[0]));
  CHECK(std::get<rec::TaskFailed>(records[1]).task == TaskId("a"));
  CHECK(std::get<rec::TaskRetrying>(records[2]).not_before_ms == 5000);
  f.apply(records);
  CHECK(f.status("e") == TaskStatus::dispatched);  // its worker may still report
  // Without keeping remote attempts, both are retried.
  Fixture g;
  g.apply({rec::WorkerJoined{"remote", 1, "10.0.0.2:1"}});
  g.apply(g.tracker.release_ready(g.state));
  g.apply({rec::BatchDispatched{BatchId("b2"), "remote", {TaskId("e")}, {1}, 0}});
  CHECK(g.tracker.on_start(g.state, false, 0).size() == 2);
}

TEST_CASE("retries are released by their backoff end, attempts in flight swept by worker") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.apply({rec::BatchDispatched{BatchId("b1"), "w1", {TaskId("a")}, {1}, 2000},
           rec::BatchDispatched{BatchId("b2"), "w2", {TaskId("e")}, {1}, 9000}});
  CHECK(f.state.in_flight().size() == 2);
  CHECK(f.tracker.attempts_lost_with(f.state, "w2", {}) ==
        std::vector<std::pair<TaskId, std::uint32_t>>{{TaskId("e"), 1}});
  CHECK(f.tracker.attempts_lost_with(f.state, "w2", {{TaskId("e"), 1}}).empty());
  CHECK(f.tracker.expired_leases(f.state, 5000) ==
        std::vector<std::pair<TaskId, std::uint32_t>>{{TaskId("a"), 1}});
  f.apply({rec::TaskFailed{TaskId("a"), 1, "x"}, rec::TaskRetrying{TaskId("a"), 2, 7000},
           rec::TaskFailed{TaskId("e"), 1, "x"}, rec::TaskRetrying{TaskId("e"), 2, 6000}});
  CHECK(f.state.in_flight().empty());
  CHECK(f.tracker.next_retry_ms(f.state) == 6000);
  CHECK(ready_ids(f.tracker.release_retries(f.state, 6500)) == std::vector<std::string>{"e"});
  CHECK(ready_ids(f.tracker.release_retries(f.state, 7000)) ==
        std::vector<std::string>{"e", "a"});
  f.apply(f.tracker.release_retries(f.state, 7000));
  CHECK(f.state.retry_queue().empty());
  // Ready again after a failure: a retry, which the scheduler batches alone.
  const ReadyTasks split = f.tracker.ready_tasks(f.state, {TaskId("a"), TaskId("b")});
  CHECK(split.retries == std::vector<TaskId>{TaskId("a")});
  CHECK(split.tasks == std::vector<TaskId>{TaskId("b")});
}
