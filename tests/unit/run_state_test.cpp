#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "protocol/codec.hpp"
#include "protocol/run_state.hpp"
#include "tests/support/run_history.hpp"
#include "tests/support/samples.hpp"

using namespace br;

namespace {

Plan two_task_plan() {
  Plan p;
  p.title = "P";
  p.tasks = {test::sample_task("a/01"), test::sample_task("a/02")};
  p.tasks[0].depends_on.clear();
  p.tasks[1].depends_on = {TaskId("a/01")};
  return p;
}

struct Run {
  RunState state;
  std::uint64_t seq = 0;

  Status apply(RecordBody body) {
    JournalRecord r{++seq, "run-1", static_cast<std::int64_t>(seq * 1000), std::move(body)};
    auto status = state.apply(r);
    if (!status) --seq;
    return status;
  }
  void must(RecordBody body) {
    auto status = apply(std::move(body));
    INFO((status.ok() ? std::string() : status.error().str()));
    REQUIRE(status.ok());
  }
};

const TaskId a("a/01"), b("a/02");

}  // namespace

TEST_CASE("a task goes from pending to succeeded through the journal") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  CHECK(run.state.status() == RunStatus::running);
  CHECK(run.state.counts().pending == 2);
  run.must(rec::TaskReady{a});
  run.must(rec::BatchDispatched{BatchId("b1"), "w1", {a}, {1}, 99000});
  run.must(rec::TaskStarted{a, 1, "w1"});
  run.must(rec::TaskSucceeded{a, 1, "w1", {"x.py"}});
  const TaskState* t = run.state.find(a);
  REQUIRE(t != nullptr);
  CHECK(t->status == TaskStatus::succeeded);
  CHECK(t->attempt == 1);
  CHECK(t->files == std::vector<std::string>{"x.py"});
  CHECK(t->started_ms == 4000);
  CHECK(t->finished_ms == 5000);
  const auto counts = run.state.counts();
  CHECK(counts.succeeded == 1);
  CHECK(counts.pending == 1);
  CHECK(run.state.last_seq() == 5);
}

TEST_CASE("a failed attempt retries with a higher attempt number") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  run.must(rec::TaskReady{a});
  run.must(rec::BatchDispatched{BatchId("b1"), "w1", {a}, {1}, 0});
  run.must(rec::TaskFailed{a, 1, "check failed"});
  CHECK_FALSE(run.apply(rec::TaskRetrying{a, 1, 0}).ok());  // not after attempt 1
  run.must(rec::TaskRetrying{a, 2, 7000});
  run.must(rec::TaskReady{a});
  CHECK_FALSE(run.apply(rec::BatchDispatched{BatchId("b2"), "w1", {a}, {1}, 0}).ok());
  run.must(rec::BatchDispatched{BatchId("b2"), "w2", {a}, {2}, 0});
  CHECK_FALSE(run.apply(rec::TaskSucceeded{a, 1, "w1", {}}).ok());  // stale attempt
  run.must(rec::TaskSucceeded{a, 2, "w2", {}});
  CHECK(run.state.find(a)->attempt == 2);
  CHECK(run.state.find(a)->reason.empty());
}

TEST_CASE("usage is summed per task over every finished attempt, failed ones and unknown included") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  Usage first;
  first.known = true;
  first.tokens_in = 100;
  first.tokens_out = 20;
  first.cost_known = true;
  first.cost_micro_usd = 30000;
  Usage second = first;
  second.cost_micro_usd = 50000;
  run.must(rec::TaskReady{a});
  run.must(rec::BatchDispatched{BatchId("b1"), "w1", {a}, {1}, 0});
  run.must(rec::TaskFailed{a, 1, "check failed", first});
  run.must(rec::TaskRetrying{a, 2, 0});
  run.must(rec::TaskReady{a});
  run.must(rec::BatchDispatched{BatchId("b2"), "w1", {a}, {2}, 0});
  rec::TaskSucceeded done{a, 2, "w1", {}};
  done.usage = second;
  // A refused record (here: a stale attempt) adds nothing: usage is folded once per attempt.
  rec::TaskSucceeded stale{a, 1, "w1", {}};
  stale.usage = second;
  CHECK_FALSE(run.apply(stale).ok());
  run.must(done);
  run.must(rec::TaskReady{b});
  run.must(rec::BatchDispatched{BatchId("b3"), "w1", {b}, {1}, 0});
  run.must(rec::TaskSucceeded{b, 1, "w1", {}});  // an agent that reported nothing
  const UsageTotal& ta = run.state.find(a)->usage;
  CHECK(ta.attempts == 2);
  CHECK(ta.unknown_attempts == 0);
  CHECK(ta.cost_micro_usd == 80000);
  CHECK(ta.tokens_in == 200);
  const UsageTotal total = run.state.usage();
  CHECK(total.attempts == 3);
  CHECK(total.unknown_attempts == 1);
  CHECK(total.cost_micro_usd == 80000);
  CHECK(total.tokens_total() == 240);

  // The total is kept as records apply; a snapshot's restore recounts it to the same.
  auto restored = decode_snapshot(encode_snapshot(run.state), journal_decode_limits());
  REQUIRE(restored.ok());
  CHECK(restored->usage().attempts == 3);
  CHECK(restored->usage().cost_micro_usd == 80000);
  // A replan that drops b no longer counts b's attempt.
  Plan revised = two_task_plan();
  revised.tasks.pop_back();
  run.must(rec::PlanRevised{revised, "spec.md", "h2"});
  CHECK(run.state.usage().attempts == 2);
  CHECK(run.state.usage().unknown_attempts == 0);
  CHECK(run.state.usage().cost_micro_usd == 80000);
}

TEST_CASE("an illegal transition is an error and changes nothing") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  auto status = run.apply(rec::TaskStarted{a, 1, "w1"});
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().str() == "taskStarted: task 'a/01' cannot go from pending to running");
  CHECK(run.state.find(a)->status == TaskStatus::pending);
  CHECK(run.state.last_seq() == 1);
}

TEST_CASE("a dispatch with one bad task leaves every task as it was") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  run.must(rec::TaskReady{a});
  CHECK_FALSE(run.apply(rec::BatchDispatched{BatchId("b1"), "w1", {a, b}, {1, 1}, 0}).ok());
  CHECK(run.state.find(a)->status == TaskStatus::ready);
  CHECK(run.state.find(a)->attempt == 0);
}

TEST_CASE("records for unknown tasks, other runs and out of order are refused") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  CHECK(run.apply(rec::TaskReady{TaskId("nope")}).error().str() ==
        "taskReady names unknown task 'nope'");
  CHECK_FALSE(run.apply(rec::PlanCreated{two_task_plan(), "spec.md", "h"}).ok());

  JournalRecord foreign{2, "run-2", 0, rec::TaskReady{a}};
  CHECK(run.state.apply(foreign).error().str() ==
        "record 2 belongs to run 'run-2', not to this journal's run 'run-1'");
  JournalRecord gap{5, "run-1", 0, rec::TaskReady{a}};
  CHECK(run.state.apply(gap).error().str() == "journal gap: record 5 follows record 1");
}

TEST_CASE("blocked and cancelled tasks are terminal") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  run.must(rec::TaskBlocked{b, a});
  CHECK(run.state.find(b)->reason == "dependency 'a/01' failed");
  CHECK_FALSE(run.apply(rec::TaskReady{b}).ok());
  run.must(rec::TaskCancelled{a, "run cancelled"});
  CHECK_FALSE(run.apply(rec::TaskReady{a}).ok());
}

TEST_CASE("run status follows stop, resume and completion") {
  Run run;
  CHECK(run.state.status() == RunStatus::empty);
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  run.must(rec::WorkerJoined{"w1", 4, "127.0.0.1"});
  CHECK(run.state.workers().at("w1").alive);
  run.must(rec::WorkerLost{"w1", "gone"});
  CHECK_FALSE(run.state.workers().at("w1").alive);
  run.must(rec::RunStopped{"SIGINT"});
  CHECK(run.state.status() == RunStatus::stopped);
  run.must(rec::RunResumed{});
  CHECK(run.state.status() == RunStatus::running);
  run.must(rec::RunCompleted{rec::RunOutcome::failed});
  CHECK(run.state.status() == RunStatus::failed);
}

TEST_CASE("the transition table allows exactly the documented moves") {
  using S = TaskStatus;
  const std::vector<std::pair<S, S>> allowed = {
      {S::pending, S::ready},       {S::pending, S::blocked},      {S::pending, S::cancelled},
      {S::ready, S::dispatched},    {S::ready, S::blocked},        {S::ready, S::cancelled},
      {S::dispatched, S::running},  {S::dispatched, S::succeeded}, {S::dispatched, S::failed},
      {S::dispatched, S::cancelled}, {S::running, S::succeeded},   {S::running, S::failed},
      {S::running, S::cancelled},   {S::failed, S::retrying},      {S::retrying, S::ready},
      {S::retrying, S::cancelled},
  };
  for (int from = 0; from <= static_cast<int>(S::cancelled); ++from) {
    for (int to = 0; to <= static_cast<int>(S::cancelled); ++to) {
      const auto f = static_cast<S>(from), t = static_cast<S>(to);
      const bool expected =
          std::find(allowed.begin(), allowed.end(), std::make_pair(f, t)) != allowed.end();
      INFO(to_string(f) << " -> " << to_string(t));
      CHECK(can_transition(f, t) == expected);
    }
  }
}

TEST_CASE("status names round trip") {
  for (int s = 0; s <= static_cast<int>(TaskStatus::cancelled); ++s) {
    const auto status = static_cast<TaskStatus>(s);
    CHECK(parse_task_status(to_string(status)) == status);
  }
  CHECK_FALSE(parse_task_status("done").has_value());
}

TEST_CASE("progress counts kept on the way always equal a recount") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h"});
  const auto recount_matches = [&] {
    ProgressCounts c;
    c.total = run.state.tasks().size();
    for (const auto& t : run.state.tasks()) {
      switch (t.status) {
        case TaskStatus::pending: ++c.pending; break;
        case TaskStatus::ready: ++c.ready; break;
        case TaskStatus::dispatched: ++c.dispatched; break;
        case TaskStatus::running: ++c.running; break;
        case TaskStatus::succeeded: ++c.succeeded; break;
        case TaskStatus::failed: ++c.failed; break;
        case TaskStatus::retrying: ++c.retrying; break;
        case TaskStatus::blocked: ++c.blocked; break;
        case TaskStatus::cancelled: ++c.cancelled; break;
      }
    }
    const ProgressCounts& k = run.state.counts();
    return std::tie(c.total, c.pending, c.ready, c.dispatched, c.running, c.succeeded, c.failed,
                    c.retrying, c.blocked, c.cancelled) ==
           std::tie(k.total, k.pending, k.ready, k.dispatched, k.running, k.succeeded, k.failed,
                    k.retrying, k.blocked, k.cancelled);
  };
  CHECK(recount_matches());
  for (RecordBody body : std::vector<RecordBody>{
           rec::TaskReady{a}, rec::BatchDispatched{BatchId("b"), "w", {a}, {1}, 0},
           rec::TaskStarted{a, 1, "w"}, rec::TaskFailed{a, 1, "x"}, rec::TaskRetrying{a, 2, 0},
           rec::TaskReady{a}, rec::BatchDispatched{BatchId("c"), "w", {a}, {2}, 0},
           rec::TaskSucceeded{a, 2, "w", {}}, rec::TaskReady{b}, rec::TaskCancelled{b, "stop"}}) {
    run.must(body);
    CHECK(recount_matches());
  }
  CHECK_FALSE(run.apply(rec::TaskReady{b}).ok());  // refused: counts unchanged
  CHECK(recount_matches());
  CHECK(run.state.counts().succeeded == 1);
  CHECK(run.state.counts().cancelled == 1);
}

TEST_CASE("a revised plan keeps succeeded tasks and restarts the rest with their attempts") {
  Run run;
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h1"});
  run.must(rec::TaskReady{a});
  run.must(rec::BatchDispatched{BatchId("b1"), "w1", {a}, {1}, 0});
  run.must(rec::TaskSucceeded{a, 1, "w1", {"x.py"}});
  run.must(rec::TaskReady{b});
  run.must(rec::BatchDispatched{BatchId("b2"), "w1", {b}, {1}, 0});
  run.must(rec::TaskFailed{b, 1, "tests failed"});
  run.must(rec::TaskRetrying{b, 2, 0});
  run.must(rec::TaskReady{b});
  run.must(rec::BatchDispatched{BatchId("b3"), "w1", {b}, {2}, 0});  // still out on w1
  run.must(rec::RunCompleted{rec::RunOutcome::failed});

  Plan revised = two_task_plan();
  revised.tasks.push_back(test::sample_task("c/01"));
  revised.tasks.back().depends_on.clear();
  revised.tasks.erase(revised.tasks.begin());  // a/01 is gone from the spec
  revised.tasks.insert(revised.tasks.begin(), test::sample_task("a/01"));  // ...and back
  revised.tasks[0].depends_on.clear();
  revised.tasks[0].title = "Changed title, same id";
  run.must(rec::PlanRevised{revised, "spec.md", "h2"});

  const RunState& s = run.state;
  CHECK(s.status() == RunStatus::running);
  CHECK(s.spec_hash() == "h2");
  CHECK(s.plan().tasks.size() == 3);
  CHECK(s.find(a)->status == TaskStatus::succeeded);
  CHECK(s.find(a)->files == std::vector<std::string>{"x.py"});
  CHECK(s.find(b)->status == TaskStatus::pending);
  CHECK(s.find(b)->attempt == 2);  // a late result of attempt 2 can never match attempt 3
  CHECK(s.find(TaskId("c/01"))->status == TaskStatus::pending);
  CHECK(s.find(TaskId("c/01"))->attempt == 0);
  CHECK(s.counts().total == 3);
  CHECK(s.counts().succeeded == 1);
  CHECK(s.counts().pending == 2);
  CHECK_FALSE(run.apply(rec::TaskSucceeded{b, 2, "w1", {}}).ok());  // stale now
  run.must(rec::TaskReady{b});
  CHECK_FALSE(run.apply(rec::BatchDispatched{BatchId("b4"), "w1", {b}, {2}, 0}).ok());
  run.must(rec::BatchDispatched{BatchId("b4"), "w1", {b}, {3}, 0});
}

TEST_CASE("a revised plan needs a plan to revise and unique task ids") {
  Run run;
  CHECK(run.apply(rec::PlanRevised{two_task_plan(), "spec.md", "h"}).error().str() ==
        "planRevised: the run has no plan to revise");
  run.must(rec::PlanCreated{two_task_plan(), "spec.md", "h1"});
  Plan twice = two_task_plan();
  twice.tasks.push_back(twice.tasks[0]);
  CHECK(run.apply(rec::PlanRevised{twice, "spec.md", "h2"}).error().str() ==
        "planRevised: duplicate task id 'a/01'");
  CHECK(run.state.spec_hash() == "h1");
  CHECK(run.state.plan().tasks.size() == 2);
}

TEST_CASE("tasks in flight and the retry queue follow every transition, and a restore") {
  // Recomputed from the task states the slow way, after every record of random histories.
  const auto expect_derived = [](const RunState& s) {
    std::set<std::uint32_t> in_flight;
    std::set<std::pair<std::int64_t, std::uint32_t>> retries;
    for (std::size_t i = 0; i < s.tasks().size(); ++i) {
      const TaskState& t = s.tasks()[i];
      if (t.status == TaskStatus::dispatched || t.status == TaskStatus::running) {
        in_flight.insert(static_cast<std::uint32_t>(i));
      }
      if (t.status == TaskStatus::retrying) {
        retries.emplace(t.not_before_ms, static_cast<std::uint32_t>(i));
      }
    }
    REQUIRE(s.in_flight() == in_flight);
    REQUIRE(s.retry_queue() == retries);
  };
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    RunState state;
    std::uint64_t seq = 0;
    for (const auto& body : test::random_history(40, 600, seed)) {
      REQUIRE(state.apply(JournalRecord{++seq, "run", static_cast<std::int64_t>(seq), body}).ok());
      expect_derived(state);
    }
    RunState::Parts parts;
    parts.run_id = state.run_id();
    parts.status = state.status();
    parts.last_seq = state.last_seq();
    parts.has_plan = true;
    parts.plan = state.plan();
    parts.tasks = state.tasks();
    auto restored = RunState::restore(std::move(parts));
    REQUIRE(restored.ok());
    expect_derived(*restored);
    CHECK(restored->in_flight() == state.in_flight());
  }
}

TEST_CASE("copies of a state share one plan") {
  RunState state;
  Plan plan;
  plan.tasks.resize(1);
  plan.tasks[0].id = TaskId("a/01");
  REQUIRE(state.apply(JournalRecord{1, "run", 1, rec::PlanCreated{plan, "s.md", "h"}}).ok());
  const RunState copy = state;
  CHECK(&copy.plan() == &state.plan());
  CHECK(copy.shared_plan().get() == &state.plan());
  CHECK(copy.index_of(TaskId("a/01")) == std::optional<std::size_t>{0});
}

TEST_CASE("a record applied as an rvalue gives the same state, its plan moved not copied") {
  const auto bodies = test::random_history(40, 600, 21);  // with a planRevised past the middle
  RunState copied, moved;
  std::uint64_t seq = 0;
  for (const auto& body : bodies) {
    JournalRecord r{++seq, "run-1", static_cast<std::int64_t>(seq), body};
    REQUIRE(copied.apply(r).ok());
    JournalRecord m = r;
    REQUIRE(moved.apply(std::move(m)).ok());
    if (const auto* created = std::get_if<rec::PlanCreated>(&m.body)) {
      CHECK(created->plan.tasks.empty());  // moved from
    }
    if (const auto* revised = std::get_if<rec::PlanRevised>(&m.body)) {
      CHECK(revised->plan.tasks.empty());
    }
  }
  CHECK(moved == copied);
  CHECK(moved.plan_seq() == copied.plan_seq());
  CHECK(moved.plan_seq() > 1);  // the planRevised's
}
