#include <catch2/catch.hpp>
#include <map>

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

TEST_CASE("only the worker an attempt was dispatched to can settle it") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);  // to worker "w"
  TaskResult forged = f.result("a", 1, true);
  forged.worker = "rogue/0";
  auto outcome = f.tracker.on_result(f.state, forged, 0, 0.5);
  CHECK(outcome.records.empty());
  CHECK(outcome.ignored ==
        "result for 'a' attempt 1 from worker 'rogue/0': that attempt was dispatched to 'w'");
  CHECK(f.state.find(TaskId("a"))->status == TaskStatus::dispatched);
  // The real worker's result still counts.
  outcome = f.tracker.on_result(f.state, f.result("a", 1, true), 0, 0.5);
  REQUIRE(outcome.ignored.empty());
  CHECK(std::holds_alternative<rec::TaskSucceeded>(outcome.records.front()));
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

namespace {

// Stands in for the git merge: answers from a table, and counts what it was asked.
struct FakeIntegration final : Integration {
  std::map<std::string, Result<Integrated>> answers;
  std::vector<std::pair<std::string, std::string>> asked;  // (head, commit)
  Result<Integrated> integrate(const std::string& head, const TaskResult& result) override {
    asked.emplace_back(head, result.commit);
    auto it = answers.find(result.commit);
    if (it == answers.end()) return Error::of("unexpected commit " + result.commit);
    return it->second;
  }
};

const std::string kBase(40, '0'), kCommitA(40, 'a'), kHeadA(40, '1'), kCommitB(40, 'b');

// A passed first attempt of `id` from worker "w", committed as `commit` (none: not isolated).
TaskResult passed(const char* id, const std::string& commit = "") {
  TaskResult r;
  r.worker = "w";
  r.task = TaskId(id);
  r.attempt = 1;
  r.success = true;
  r.commit = commit;
  return r;
}

struct IsolatedFixture {
  std::vector<Task> tasks = diamond();
  DependencyGraph graph = DependencyGraph::build(tasks).value();
  FakeIntegration integration;
  RunTracker tracker{graph, RetryPolicy{2, 1000, 8000, 0.0}, &integration};
  RunState state;
  std::uint64_t seq = 0;

  IsolatedFixture() {
    Plan plan;
    plan.tasks = tasks;
    apply({rec::PlanCreated{plan, "spec.md", "h", "br/run", kBase}});
    apply(tracker.release_ready(state));
  }
  void apply(const std::vector<RecordBody>& bodies) {
    for (const auto& body : bodies) REQUIRE(state.apply(JournalRecord{++seq, "run", 100, body}));
  }
};

}  // namespace

TEST_CASE("isolated run: a passed attempt is merged before its success is journaled") {
  IsolatedFixture f;
  CHECK(f.state.head() == kBase);
  auto d = f.tracker.dispatch(f.state, {TaskId("a")}, BatchId("b1"), "w", 100, 0);
  REQUIRE(d);
  f.apply({*d});
  const Batch batch = f.tracker.assemble(f.state, *d, 0, 100);
  CHECK(batch.base == kBase);

  f.integration.answers.emplace(kCommitA, Integrated{kHeadA, {"user.py"}});
  TaskResult r = passed("a", kCommitA);
  r.files = {"expected-only.py"};
  auto out = f.tracker.on_result(f.state, r, 200, 0.5);
  REQUIRE(f.integration.asked.size() == 1);
  CHECK(f.integration.asked[0] == std::make_pair(kBase, kCommitA));
  const auto* ok = std::get_if<rec::TaskSucceeded>(&out.records.at(0));
  REQUIRE(ok);
  CHECK(ok->commit == kCommitA);
  CHECK(ok->head == kHeadA);
  CHECK(ok->files == std::vector<std::string>{"user.py"});  // what the commit changed
  f.apply(out.records);
  CHECK(f.state.head() == kHeadA);
  CHECK(f.state.find(TaskId("a"))->commit == kCommitA);

  // Dependents start from the new head, which holds a's work.
  auto next = f.tracker.dispatch(f.state, {TaskId("b")}, BatchId("b2"), "w", 300, 0);
  REQUIRE(next);
  f.apply({*next});
  const Batch second = f.tracker.assemble(f.state, *next, 0, 100);
  CHECK(second.base == kHeadA);
  REQUIRE(second.completed.size() == 1);
  CHECK(second.completed[0].files == std::vector<std::string>{"user.py"});
}

TEST_CASE("isolated run: a batch settled by one result counts every task's usage share") {
  IsolatedFixture f;
  auto first = f.tracker.dispatch(f.state, {TaskId("a")}, BatchId("b1"), "w", 100, 0);
  REQUIRE(first);
  f.apply({*first});
  f.integration.answers.emplace(kCommitA, Integrated{kHeadA, {"a.py"}});
  TaskResult a = passed("a", kCommitA);
  f.apply(f.tracker.on_result(f.state, a, 200, 0.5).records);

  // b and c in one batch: one agent run of $0.30, 600 tokens in, shared out by the worker.
  auto both = f.tracker.dispatch(f.state, {TaskId("b"), TaskId("c")}, BatchId("b2"), "w", 300, 0);
  REQUIRE(both);
  f.apply({*both});
  Usage whole;
  whole.known = whole.cost_known = true;
  whole.tokens_in = 600;
  whole.cost_micro_usd = 300000;
  const auto shares = split_usage(whole, 2);
  f.integration.answers.emplace(kCommitB, Integrated{std::string(40, '2'), {"b.py", "c.py"}});
  TaskResult b = passed("b", kCommitB);
  b.usage = shares[0];
  const auto before = f.state.usage();
  f.apply(f.tracker.on_result(f.state, b, 400, 0.5).records);
  CHECK(f.state.find(TaskId("c"))->status == TaskStatus::succeeded);
  const auto after = f.state.usage();
  CHECK(after.cost_micro_usd - before.cost_micro_usd == 300000);
  CHECK(after.tokens_in - before.tokens_in == 600);
  // c's own result, late, changes nothing.
  TaskResult c = b;
  c.task = TaskId("c");
  c.usage = shares[1];
  f.apply(f.tracker.on_result(f.state, c, 500, 0.5).records);
  CHECK(f.state.usage().cost_micro_usd == after.cost_micro_usd);
}

TEST_CASE("isolated run: an attempt that cannot be merged fails, and its retry is told why") {
  IsolatedFixture f;
  auto d = f.tracker.dispatch(f.state, {TaskId("a")}, BatchId("b1"), "w", 100, 0);
  REQUIRE(d);
  f.apply({*d});
  f.integration.answers.emplace(kCommitB, Error::of("merge conflict in shared.txt"));
  TaskResult r = passed("a", kCommitB);
  auto out = f.tracker.on_result(f.state, r, 200, 0.5);
  const auto* failed = std::get_if<rec::TaskFailed>(&out.records.at(0));
  REQUIRE(failed);
  CHECK(failed->reason == "merge conflict in shared.txt");
  REQUIRE(std::get_if<rec::TaskRetrying>(&out.records.at(1)));
  f.apply(out.records);
  CHECK(f.state.head() == kBase);  // nothing of it reached the branch

  f.apply(f.tracker.release_retries(f.state, 1'000'000));
  auto retry = f.tracker.dispatch(f.state, {TaskId("a")}, BatchId("b2"), "w", 300, 0);
  REQUIRE(retry);
  f.apply({*retry});
  const Batch batch = f.tracker.assemble(f.state, *retry, 0, 100);
  REQUIRE(batch.tasks.size() == 1);
  CHECK(batch.tasks[0].attempt == 2);
  CHECK(batch.tasks[0].last_failure == "merge conflict in shared.txt");
}

TEST_CASE("isolated run: a success without a commit (nothing to change) is not merged") {
  IsolatedFixture f;
  auto d = f.tracker.dispatch(f.state, {TaskId("e")}, BatchId("b1"), "w", 100, 0);
  REQUIRE(d);
  f.apply({*d});
  TaskResult r = passed("e");
  auto out = f.tracker.on_result(f.state, r, 200, 0.5);
  CHECK(f.integration.asked.empty());
  REQUIRE(std::get_if<rec::TaskSucceeded>(&out.records.at(0)));
  f.apply(out.records);
  CHECK(f.state.head() == kBase);
}

TEST_CASE("isolated run: merging a batch's commit settles every task of the batch at once") {
  // The coordinator can stop between the per-task results of one batch. Were c left in
  // flight, its retry would start on a head that already holds its work and change nothing.
  IsolatedFixture f;
  auto first = f.tracker.dispatch(f.state, {TaskId("a")}, BatchId("b1"), "w", 100, 0);
  REQUIRE(first);
  f.apply({*first});
  TaskResult a = passed("a");
  f.apply(f.tracker.on_result(f.state, a, 100, 0.5).records);
  auto d = f.tracker.dispatch(f.state, {TaskId("b"), TaskId("c")}, BatchId("b2"), "w", 100, 0);
  REQUIRE(d);
  f.apply({*d});
  f.integration.answers.emplace(kCommitB, Integrated{kHeadA, {"b.py", "c.py"}});
  TaskResult r = passed("b", kCommitB);
  auto out = f.tracker.on_result(f.state, r, 200, 0.5);
  REQUIRE(out.records.size() == 3);
  const auto* b = std::get_if<rec::TaskSucceeded>(&out.records[0]);
  const auto* c = std::get_if<rec::TaskSucceeded>(&out.records[1]);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(c->task == TaskId("c"));
  CHECK(c->attempt == 1);
  CHECK(c->commit == kCommitB);
  CHECK(c->head == kHeadA);
  CHECK(ready_ids(out.records) == std::vector<std::string>{"d"});  // both its deps are done
  f.apply(out.records);
  CHECK(f.state.find(TaskId("c"))->status == TaskStatus::succeeded);

  // c's own result, when it comes, is stale: nothing is merged twice.
  r.task = TaskId("c");
  auto late = f.tracker.on_result(f.state, r, 300, 0.5);
  CHECK(late.records.empty());
  CHECK_FALSE(late.ignored.empty());
  CHECK(late.settled_by_batch);  // expected, so the run prints no note for it
  CHECK(f.integration.asked.size() == 1);
  // A result of another attempt, or with another commit, is stale in earnest.
  r.attempt = 2;
  CHECK_FALSE(f.tracker.on_result(f.state, r, 300, 0.5).settled_by_batch);
  r.attempt = 1;
  r.commit = kHeadA;
  CHECK_FALSE(f.tracker.on_result(f.state, r, 300, 0.5).settled_by_batch);
}

namespace {

// The diamond run over: e succeeded, a failed for good (2 attempts), b, c and d blocked.
void fail_a_for_good(Fixture& f) {
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("e", 1);
  f.apply(f.tracker.on_result(f.state, f.result("e", 1, true), 100, 0.5).records);
  for (std::uint32_t attempt = 1; attempt <= 2; ++attempt) {
    f.dispatch("a", attempt);
    f.apply(f.tracker.on_result(f.state, f.result("a", attempt, false), 100, 0.5).records);
    f.apply(f.tracker.release_retries(f.state, 1'000'000));
  }
  f.apply(f.tracker.completion(f.state));
  REQUIRE(f.state.status() == RunStatus::failed);
}

std::vector<std::string> ids_of(const rec::TasksReopened& r) {
  std::vector<std::string> out;
  for (const auto& id : r.tasks) out.push_back(id.str());
  return out;
}

}  // namespace

TEST_CASE("br retry --failed reopens what failed and what it blocked, with a fresh budget") {
  Fixture f;
  fail_a_for_good(f);
  RetrySelection failed;
  failed.failed = true;
  auto reopened = f.tracker.reopen(f.state, failed);
  REQUIRE(reopened);
  CHECK(ids_of(*reopened) == std::vector<std::string>{"a", "b", "c", "d"});  // not e
  f.apply({*reopened});
  CHECK(f.state.status() == RunStatus::stopped);
  CHECK(f.status("a") == TaskStatus::pending);
  CHECK(f.status("e") == TaskStatus::succeeded);  // finished tasks stay finished
  CHECK(f.state.counts().blocked == 0);

  // Resumed like any stopped run: a is ready, at attempt 3, and may fail once more.
  auto start = f.tracker.on_start(f.state, false, 200);
  CHECK(ready_ids(start) == std::vector<std::string>{"a"});
  f.apply(start);
  f.dispatch("a", 3);
  auto outcome = f.tracker.on_result(f.state, f.result("a", 3, false), 300, 0.5);
  REQUIRE(outcome.records.size() == 2);
  const auto& retry = std::get<rec::TaskRetrying>(outcome.records[1]);
  CHECK(retry.next_attempt == 4);
  CHECK(retry.not_before_ms == 1300);  // the first backoff again: the budget starts over
}

TEST_CASE("br retry of a blocked task reopens what it waits on; finished work is refused") {
  Fixture f;
  fail_a_for_good(f);
  RetrySelection d;
  d.tasks = {TaskId("d")};
  auto reopened = f.tracker.reopen(f.state, d);
  REQUIRE(reopened);
  // d alone would wait forever for a: its failed cause and the tasks between come too.
  CHECK(ids_of(*reopened) == std::vector<std::string>{"a", "b", "c", "d"});

  RetrySelection e;
  e.tasks = {TaskId("e")};
  auto refused = f.tracker.reopen(f.state, e);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().str(), Catch::Contains("already succeeded"));
  RetrySelection unknown;
  unknown.tasks = {TaskId("zz")};
  CHECK_FALSE(f.tracker.reopen(f.state, unknown));
  RetrySelection feature;
  feature.feature = "nope";
  CHECK_THAT(f.tracker.reopen(f.state, feature).error().str(), Catch::Contains("no feature"));
}

TEST_CASE("br retry needs a run that is not running and something to reopen") {
  Fixture f;
  f.apply(f.tracker.release_ready(f.state));
  RetrySelection failed;
  failed.failed = true;
  CHECK_THAT(f.tracker.reopen(f.state, failed).error().str(), Catch::Contains("still running"));
  f.apply({rec::RunStopped{"interrupted"}});
  auto nothing = f.tracker.reopen(f.state, failed);
  REQUIRE(nothing);
  CHECK(nothing->tasks.empty());
}

TEST_CASE("a stop fails the attempts in flight as interrupted, so nothing shows as running") {
  Fixture f;
  f.apply({rec::WorkerJoined{"w", 1, std::string(kInProcessAddress)},
           rec::WorkerJoined{"remote", 1, "10.0.0.2:7000"}});
  f.apply(f.tracker.release_ready(f.state));
  f.dispatch("a", 1);
  f.apply({rec::BatchDispatched{BatchId("b2"), "remote", {TaskId("e")}, {1}, 0}});
  // A remote worker may still report (br-coordinator keeps its attempts); a local one cannot.
  auto records = f.tracker.on_stop(f.state, true, "interrupted (SIGINT)", 500);
  REQUIRE(records.size() == 3);
  const auto& failed = std::get<rec::TaskFailed>(records[0]);
  CHECK(failed.task == TaskId("a"));
  CHECK_THAT(failed.reason, Catch::Contains("interrupted"));
  CHECK(std::get<rec::TaskRetrying>(records[1]).not_before_ms == 500);
  CHECK(std::get<rec::RunStopped>(records[2]).reason == "interrupted (SIGINT)");
  f.apply(records);
  CHECK(f.state.status() == RunStatus::stopped);
  CHECK(f.status("a") == TaskStatus::retrying);
  CHECK(f.status("e") == TaskStatus::dispatched);
  // Without remote workers to wait for, nothing stays in flight.
  CHECK(f.tracker.on_stop(f.state, false, "x", 600).size() == 3);
}

TEST_CASE("br's own files unwritable: the attempt retries uncharged and the run is to stop") {
  Fixture f;  // max_attempts 2: two charged failures would fail a for good
  f.apply({rec::WorkerJoined{"w", 1, std::string(kInProcessAddress)}});
  f.apply(f.tracker.release_ready(f.state));
  const auto own_files_failed = [&](std::uint32_t attempt) {
    TaskResult r = f.result("a", attempt, false);
    r.reason = "cannot write /s/prompts/b-1.md: No space left on device";
    r.infrastructure = true;
    return r;
  };
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    f.dispatch("a", attempt);
    auto outcome = f.tracker.on_result(f.state, own_files_failed(attempt), 7000, 0.5);
    CHECK(outcome.stop == "cannot write /s/prompts/b-1.md: No space left on device");
    REQUIRE(outcome.records.size() == 2);
    CHECK(std::get<rec::TaskFailed>(outcome.records[0]).attempt == attempt);
    const auto& retry = std::get<rec::TaskRetrying>(outcome.records[1]);
    CHECK(retry.uncharged);
    CHECK(retry.not_before_ms == 7000);  // no backoff: nothing of the task's own went wrong
    f.apply(outcome.records);
    // What the graph journals next: the stop has nothing left in flight to interrupt.
    const auto stop = f.tracker.on_stop(f.state, false, outcome.stop, 7000);
    REQUIRE(stop.size() == 1);
    f.apply(stop);
    CHECK(f.status("a") == TaskStatus::retrying);
    CHECK(f.state.status() == RunStatus::stopped);
    f.apply(f.tracker.on_start(f.state, false, 8000));
    f.apply(f.tracker.release_retries(f.state, 8000));
  }
  // Three attempts lost to the disk, and a still has its whole budget.
  f.dispatch("a", 4);
  f.apply(f.tracker.on_result(f.state, f.result("a", 4, false), 9000, 0.5).records);
  CHECK(f.status("a") == TaskStatus::retrying);
}

TEST_CASE("a remote worker's own files unwritable: the stop names the worker") {
  Fixture f;
  f.apply({rec::WorkerJoined{"far", 1, "10.0.0.2:7000"}});
  f.apply(f.tracker.release_ready(f.state));
  f.apply({rec::BatchDispatched{BatchId("b"), "far", {TaskId("e")}, {1}, 0}});
  TaskResult r = f.result("e", 1, false);
  r.worker = "far";
  r.reason = "cannot write /w/logs/b-1.log: Read-only file system";
  r.infrastructure = true;
  CHECK(f.tracker.on_result(f.state, r, 0, 0.5).stop ==
        "on worker far, cannot write /w/logs/b-1.log: Read-only file system");
  // An ordinary failure asks for no stop.
  Fixture g;
  g.apply(g.tracker.release_ready(g.state));
  g.dispatch("a", 1);
  CHECK(g.tracker.on_result(g.state, g.result("a", 1, false), 0, 0.5).stop.empty());
}

TEST_CASE("br cancel: the task cancelled, its descendants blocked, its batch killed") {
  Fixture f;
  f.apply({rec::WorkerJoined{"w", 1, std::string(kInProcessAddress)}});
  f.apply(f.tracker.release_ready(f.state));
  // a and e share a batch in flight.
  f.apply({rec::BatchDispatched{BatchId("b1"), "w", {TaskId("a"), TaskId("e")}, {1, 1}, 0}});
  auto c = f.tracker.cancel_tasks(f.state, {TaskId("a"), TaskId("zzz")}, "cancelled by test", 700);
  REQUIRE(c.kill.size() == 1);
  CHECK(c.kill[0].batch == BatchId("b1"));
  CHECK(c.kill[0].worker == "w");
  REQUIRE(c.refused.size() == 1);
  CHECK_THAT(c.refused[0], Catch::Contains("no task 'zzz'"));
  f.apply(c.records);
  CHECK(f.status("a") == TaskStatus::cancelled);
  CHECK(f.state.find(TaskId("a"))->reason == "cancelled by test");
  for (const char* id : {"b", "c", "d"}) {
    INFO(id);
    CHECK(f.status(id) == TaskStatus::blocked);
    CHECK(f.state.find(TaskId(id))->reason == "dependency 'a' was cancelled");
  }
  // e lost its attempt with the batch, uncharged: its budget starts again.
  CHECK(f.status("e") == TaskStatus::retrying);
  CHECK(f.state.find(TaskId("e"))->attempt_base == 1);
  // A late result of the killed attempt changes nothing.
  CHECK(f.tracker.on_result(f.state, f.result("a", 1, false), 800, 0.5).records.empty());
  // Terminal tasks are refused and nothing is recorded.
  auto again = f.tracker.cancel_tasks(f.state, {TaskId("a"), TaskId("b")}, "x", 900);
  CHECK(again.records.empty());
  CHECK(again.refused.size() == 2);
  CHECK_THAT(again.refused[0], Catch::Contains("a is already cancelled"));
}
