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
