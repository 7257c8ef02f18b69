#include "protocol/model.hpp"

#include <tuple>

#include "protocol/name_matching.hpp"

namespace br {

std::string_view to_string(Priority p) {
  switch (p) {
    case Priority::critical: return "critical";
    case Priority::high: return "high";
    case Priority::medium: return "medium";
    case Priority::low: return "low";
  }
  return "medium";
}

std::string_view to_string(Domain d) {
  switch (d) {
    case Domain::database: return "database";
    case Domain::backend: return "backend";
    case Domain::api: return "api";
    case Domain::ui: return "ui";
    case Domain::infra: return "infra";
    case Domain::tests: return "tests";
    case Domain::docs: return "docs";
  }
  return "backend";
}

std::string_view to_string(Complexity c) {
  switch (c) {
    case Complexity::simple: return "simple";
    case Complexity::medium: return "medium";
    case Complexity::complex: return "complex";
  }
  return "medium";
}

std::optional<Priority> parse_priority(std::string_view s) {
  const std::string v = ascii_lower(s);
  if (v == "critical") return Priority::critical;
  if (v == "high") return Priority::high;
  if (v == "medium") return Priority::medium;
  if (v == "low") return Priority::low;
  return std::nullopt;
}

std::optional<Domain> parse_domain(std::string_view s) {
  const std::string v = ascii_lower(s);
  if (v == "database" || v == "db") return Domain::database;
  if (v == "backend") return Domain::backend;
  if (v == "api") return Domain::api;
  if (v == "ui" || v == "frontend") return Domain::ui;
  if (v == "infra") return Domain::infra;
  if (v == "tests" || v == "test") return Domain::tests;
  if (v == "docs" || v == "doc") return Domain::docs;
  return std::nullopt;
}

std::optional<Complexity> parse_complexity(std::string_view s) {
  const std::string v = ascii_lower(s);
  if (v == "simple" || v == "low") return Complexity::simple;
  if (v == "medium") return Complexity::medium;
  if (v == "complex" || v == "high") return Complexity::complex;
  return std::nullopt;
}

std::string_view kind_name(const RecordBody& body) {
  static constexpr std::string_view kNames[] = {
      "planCreated",  "taskReady",     "batchDispatched", "taskStarted", "taskSucceeded",
      "taskFailed",   "taskRetrying",  "taskBlocked",     "taskCancelled", "workerJoined",
      "workerLost",   "runStopped",    "runResumed",      "runCompleted",  "planRevised",
      "tasksReopened"};
  static_assert(std::size(kNames) == std::variant_size_v<RecordBody>);
  return kNames[body.index()];
}

// Lists every field once; equality of two values is equality of their field tuples.
static auto fields(const Feature& f) {
  return std::tie(f.id, f.title, f.description, f.priority, f.depends_on, f.domain, f.complexity,
                  f.minutes, f.requirements, f.acceptance, f.technical, f.files, f.parent,
                  f.context, f.line, f.done);
}
static auto fields(const Task& t) {
  return std::tie(t.id, t.feature, t.title, t.description, t.domain, t.complexity, t.minutes,
                  t.priority, t.depends_on, t.acceptance, t.files);
}
static auto fields(const Plan& p) { return std::tie(p.title, p.overview, p.features, p.tasks); }
static auto fields(const BatchTask& t) { return std::tie(t.task, t.attempt, t.last_failure); }
static auto fields(const CompletedWork& c) { return std::tie(c.task, c.title, c.files); }
static auto fields(const Batch& b) {
  return std::tie(b.id, b.domain, b.tasks, b.project, b.completed, b.lease_ms, b.base, b.prompt);
}
static auto fields(const TaskResult& r) {
  return std::tie(r.task, r.attempt, r.batch, r.success, r.reason, r.files, r.worker,
                  r.started_ms, r.finished_ms, r.log_path, r.commit, r.pack, r.usage, r.infrastructure,
                  r.agent.route, r.agent.command);
}
static auto fields(const WorkerHello& h) {
  return std::tie(h.name, h.slots, h.protocol_version, h.token, h.held_tasks, h.held_attempts);
}
static auto fields(const WorkRequest& v) { return std::tie(v.worker, v.free_slots); }
static auto fields(const TaskProgress& v) {
  return std::tie(v.task, v.attempt, v.batch, v.worker, v.started_ms);
}
static auto fields(const HelloReply& v) { return std::tie(v.accepted, v.reason, v.run_id); }
static auto fields(const ReadyTasks& v) { return std::tie(v.tasks, v.retries); }
static auto fields(const ObjectsRequest& v) { return std::tie(v.want, v.have, v.offset); }
static auto fields(const ObjectsChunk& v) {
  return std::tie(v.error, v.pack_id, v.total, v.data);
}
static auto fields(const rec::PlanCreated& v) {
  return std::tie(v.plan, v.spec_path, v.spec_hash, v.branch, v.base_commit, v.repo);
}
static auto fields(const rec::PlanRevised& v) { return std::tie(v.plan, v.spec_path, v.spec_hash); }
static auto fields(const rec::TaskReady& v) { return std::tie(v.task); }
static auto fields(const rec::BatchDispatched& v) {
  return std::tie(v.batch, v.worker, v.tasks, v.attempts, v.lease_until_ms);
}
static auto fields(const rec::TaskStarted& v) { return std::tie(v.task, v.attempt, v.worker); }
static auto fields(const rec::TaskSucceeded& v) {
  return std::tie(v.task, v.attempt, v.worker, v.files, v.commit, v.head, v.usage,
                  v.agent.route, v.agent.command);
}
static auto fields(const rec::TaskFailed& v) {
  return std::tie(v.task, v.attempt, v.reason, v.usage, v.agent.route, v.agent.command);
}
static auto fields(const rec::TaskRetrying& v) {
  return std::tie(v.task, v.next_attempt, v.not_before_ms, v.uncharged);
}
static auto fields(const rec::TaskBlocked& v) { return std::tie(v.task, v.cause); }
static auto fields(const rec::TaskCancelled& v) { return std::tie(v.task, v.reason); }
static auto fields(const rec::WorkerJoined& v) { return std::tie(v.worker, v.slots, v.address); }
static auto fields(const rec::WorkerLost& v) { return std::tie(v.worker, v.reason); }
static auto fields(const rec::RunStopped& v) { return std::tie(v.reason); }
static auto fields(const rec::RunResumed&) { return std::tuple<>(); }
static auto fields(const rec::TasksReopened& v) { return std::tie(v.tasks); }
static auto fields(const rec::RunCompleted& v) { return std::tie(v.outcome); }
static auto fields(const JournalRecord& r) { return std::tie(r.seq, r.run_id, r.time_ms, r.body); }

#define BR_DEFINE_EQUALITY(T) \
  bool operator==(const T& a, const T& b) { return br::fields(a) == br::fields(b); }
BR_DEFINE_EQUALITY(Feature)
BR_DEFINE_EQUALITY(Task)
BR_DEFINE_EQUALITY(Plan)
BR_DEFINE_EQUALITY(BatchTask)
BR_DEFINE_EQUALITY(CompletedWork)
BR_DEFINE_EQUALITY(Batch)
BR_DEFINE_EQUALITY(TaskResult)
BR_DEFINE_EQUALITY(WorkerHello)
BR_DEFINE_EQUALITY(WorkRequest)
BR_DEFINE_EQUALITY(TaskProgress)
BR_DEFINE_EQUALITY(HelloReply)
BR_DEFINE_EQUALITY(ReadyTasks)
BR_DEFINE_EQUALITY(ObjectsRequest)
BR_DEFINE_EQUALITY(ObjectsChunk)
namespace rec {
BR_DEFINE_EQUALITY(PlanCreated)
BR_DEFINE_EQUALITY(PlanRevised)
BR_DEFINE_EQUALITY(TaskReady)
BR_DEFINE_EQUALITY(BatchDispatched)
BR_DEFINE_EQUALITY(TaskStarted)
BR_DEFINE_EQUALITY(TaskSucceeded)
BR_DEFINE_EQUALITY(TaskFailed)
BR_DEFINE_EQUALITY(TaskRetrying)
BR_DEFINE_EQUALITY(TaskBlocked)
BR_DEFINE_EQUALITY(TaskCancelled)
BR_DEFINE_EQUALITY(WorkerJoined)
BR_DEFINE_EQUALITY(WorkerLost)
BR_DEFINE_EQUALITY(RunStopped)
BR_DEFINE_EQUALITY(RunResumed)
BR_DEFINE_EQUALITY(TasksReopened)
BR_DEFINE_EQUALITY(RunCompleted)
}  // namespace rec
BR_DEFINE_EQUALITY(JournalRecord)
#undef BR_DEFINE_EQUALITY

}  // namespace br
