// Sample values with every field set to something other than its default, so a codec that
// drops or mixes up a field fails its round-trip test.
#pragma once

#include <string>
#include <vector>

#include "protocol/model.hpp"

namespace br::test {

inline Task sample_task(const std::string& id = "trails/01-schema") {
  Task t;
  t.id = TaskId(id);
  t.feature = FeatureId("trails");
  t.title = "Trail run schema";
  t.description = "Create the trail_runs table — with ünïcödé 🏃";
  t.domain = Domain::database;
  t.complexity = Complexity::complex;
  t.minutes = 120;
  t.priority = Priority::high;
  t.depends_on = {TaskId("accounts/02-backend"), TaskId("db/01-schema")};
  t.acceptance = criteria_of({"A run lists its obstacles in order", "file: src/trails/model.py"});
  t.files = {"src/trails/model.py", "migrations/001_trails.sql"};
  return t;
}

inline Feature sample_feature() {
  Feature f;
  f.id = FeatureId("trails");
  f.title = "Trail Run Management";
  f.description = "Create and manage trail runs";
  f.priority = Priority::critical;
  f.depends_on = {FeatureId("accounts")};
  f.domain = Domain::backend;
  f.complexity = Complexity::medium;
  f.minutes = 90;
  f.requirements = {"Leaders can reorder obstacles"};
  f.acceptance = {"A run lists its obstacles in order"};
  f.technical = {"PostgreSQL table `trail_runs`"};
  f.files = {"src/trails/model.py"};
  f.parent = FeatureId("parent");
  f.context = "**Owner:** team trails";
  f.line = 42;
  return f;
}

inline Plan sample_plan() {
  Plan p;
  p.title = "Trip Planner";
  p.overview = "Plan trips with friends.";
  p.features = {sample_feature()};
  p.tasks = {sample_task("trails/01-schema"), sample_task("trails/02-backend")};
  p.tasks[1].depends_on = {TaskId("trails/01-schema")};
  return p;
}

inline Batch sample_batch() {
  Batch b;
  b.id = BatchId("b-17");
  b.domain = Domain::api;
  b.tasks = {BatchTask{sample_task("a/01"), 2, "merge conflict in a.py"},
             BatchTask{sample_task("a/02"), 1}};
  b.project = "Trip Planner: plan trips";
  b.completed = {CompletedWork{TaskId("db/01"), "Schema", {"schema.sql", "seed.sql"}}};
  b.lease_ms = 600000;
  b.base = std::string(40, 'a');
  b.prompt = "Edited at the prompt: build only the schema.";
  return b;
}

inline TaskResult sample_result() {
  TaskResult r;
  r.task = TaskId("a/01");
  r.attempt = 3;
  r.batch = BatchId("b-17");
  r.success = true;
  r.reason = "check_command exited 1";
  r.files = {"src/a.py"};
  r.worker = "host-1/0";
  r.started_ms = 1700000000000;
  r.finished_ms = 1700000001234;
  r.log_path = ".br/logs/a-01.3.log";
  r.commit = std::string(40, 'b');
  r.usage.known = true;
  r.usage.tokens_in = 1200;
  r.usage.tokens_out = 340;
  r.usage.cache_write_tokens = 5;
  r.usage.cache_read_tokens = 40311;
  r.usage.cost_known = true;
  r.usage.cost_micro_usd = 42184;
  r.usage.turns = 4;
  r.usage.duration_ms = 12840;
  r.agent = AttemptAgent{"complex", "claude -p --model opus"};
  return r;
}

inline WorkerHello sample_hello() {
  return WorkerHello{"host-1", 4, kProtocolVersion, "s3cret", {TaskId("auth/01-database")}, {2}};
}

// A plan of `tasks` independent tasks named t/0, t/1, ...
inline Plan independent_plan(int tasks) {
  Plan p;
  p.title = "Independent tasks";
  for (int i = 0; i < tasks; ++i) {
    Task t = sample_task("t/" + std::to_string(i));
    t.depends_on.clear();
    p.tasks.push_back(t);
  }
  return p;
}

// One record of every kind, in the order they appear in RecordBody.
inline std::vector<RecordBody> every_record_body() {
  return {
      rec::PlanCreated{sample_plan(), "PROJECT_SPEC.md", "ab12cd", "br/run-7",
                       std::string(40, 'c'), "/home/u/project"},
      rec::TaskReady{TaskId("a/01")},
      rec::BatchDispatched{BatchId("b-1"), "w1", {TaskId("a/01"), TaskId("a/02")}, {1, 2},
                           1700000005000},
      rec::TaskStarted{TaskId("a/01"), 1, "w1"},
      rec::TaskSucceeded{TaskId("a/01"), 1, "w1", {"x.py", "y.py"}, std::string(40, 'd'),
                         std::string(40, 'e'), sample_result().usage},
      rec::TaskFailed{TaskId("a/02"), 2, "timeout after 600 s", sample_result().usage},
      rec::TaskRetrying{TaskId("a/02"), 3, 1700000009000, true},
      rec::TaskBlocked{TaskId("a/03"), TaskId("a/02")},
      rec::TaskCancelled{TaskId("a/04"), "run cancelled"},
      rec::WorkerJoined{"w1", 4, "10.0.0.2:4242"},
      rec::WorkerLost{"w1", "connection closed"},
      rec::RunStopped{"interrupted (SIGINT)"},
      rec::RunResumed{},
      rec::RunCompleted{rec::RunOutcome::failed},
      rec::PlanRevised{sample_plan(), "PROJECT_SPEC.md", "ef34ab"},
      rec::TasksReopened{{TaskId("a/02"), TaskId("a/03")}},
  };
}

}  // namespace br::test
