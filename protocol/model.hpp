// The plain value types of br: what a spec becomes (Feature, Task, Plan), what travels to a
// worker (Batch) and back (TaskResult), and what the journal stores (JournalRecord).
// One Cap'n Proto schema (br.capnp) mirrors these; codec.hpp converts between the two.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/acceptance_criterion.hpp"
#include "protocol/ids.hpp"
#include "protocol/usage.hpp"

namespace br {

// Bumped when a wire message or journal record changes incompatibly.
// 2: results are acknowledged and a hello lists the attempts a reconnecting worker holds.
// 4: a hello carries the worker process's kill switch (br cancel of a remote attempt).
inline constexpr std::uint32_t kProtocolVersion = 4;
inline constexpr std::uint32_t kJournalSchemaVersion = 1;

enum class Priority : std::uint8_t { critical, high, medium, low };

// In dependency order: a feature's tasks are chained database → … → docs.
enum class Domain : std::uint8_t { database, backend, api, ui, infra, tests, docs };

enum class Complexity : std::uint8_t { simple, medium, complex };

constexpr std::uint32_t minutes_for(Complexity c) {
  switch (c) {
    case Complexity::simple: return 60;
    case Complexity::medium: return 90;
    case Complexity::complex: return 120;
  }
  return 90;
}

std::string_view to_string(Priority p);
std::string_view to_string(Domain d);
std::string_view to_string(Complexity c);
// Case-insensitive; accepts the aliases of SPEC_FORMAT.md (frontend → ui, test → tests).
std::optional<Priority> parse_priority(std::string_view s);
std::optional<Domain> parse_domain(std::string_view s);
std::optional<Complexity> parse_complexity(std::string_view s);

// A feature as written in the spec, fields resolved.
struct Feature {
  FeatureId id;
  std::string title;
  std::string description;
  Priority priority = Priority::medium;
  std::vector<FeatureId> depends_on;
  std::optional<Domain> domain;          // explicit **Domain:** override
  std::optional<Complexity> complexity;  // explicit **Complexity:** override
  std::uint32_t minutes = 0;             // explicit minutes from "Medium (90 min)", else 0
  std::vector<std::string> requirements;
  std::vector<std::string> acceptance;
  std::vector<std::string> technical;
  std::vector<std::string> files;
  FeatureId parent;                      // set for sub-features (#### 1.2 Title)
  std::string context;                   // unknown fields, kept verbatim for prompts
  std::uint32_t line = 0;                // line of the feature heading in the spec
  bool done = false;                     // its Status says done: planned with no tasks
};

// One 1–2 hour unit of work for one agent.
struct Task {
  TaskId id;                 // "FEATURE-ID/NN-kind"
  FeatureId feature;
  std::string title;
  std::string description;   // what to build, for the prompt
  Domain domain = Domain::backend;
  Complexity complexity = Complexity::medium;
  std::uint32_t minutes = 90;
  Priority priority = Priority::medium;
  std::vector<TaskId> depends_on;
  std::vector<Criterion> acceptance;  // typed once by the planner; workers check these
  std::vector<std::string> files;  // expected outputs, relative to the workspace
};

// The planner's output: everything the run needs, journaled once as PlanCreated.
struct Plan {
  std::string title;
  std::string overview;      // project context for prompts
  std::vector<Feature> features;
  std::vector<Task> tasks;
};

// A task handed to a worker, at a given attempt (1-based).
struct BatchTask {
  Task task;
  std::uint32_t attempt = 1;
  std::string last_failure = {};  // why the previous attempt failed (retries only)
};

// Output of a finished dependency, given to the worker as context.
struct CompletedWork {
  TaskId task;
  std::string title;
  std::vector<std::string> files;
};

// 2–3 tasks of one domain sent to one worker together.
struct Batch {
  BatchId id;
  Domain domain = Domain::backend;
  std::vector<BatchTask> tasks;
  std::string project;                  // title and overview
  std::vector<CompletedWork> completed; // finished dependencies of these tasks
  std::uint64_t lease_ms = 0;           // how long the worker holds it without reporting
  std::string base = {};                // commit to start from (empty: no isolation)
  std::string prompt = {};              // edited and approved by the user; empty: build it
};

// The agent that ran an attempt: its route's name ("complex", "domain:ui", "default") and
// command, as the host that ran it chose them (protocol/agent_route.hpp). Empty: not known
// (a lost attempt, a journal from before routing).
struct AttemptAgent {
  std::string route;
  std::string command;
};

struct TaskResult {
  TaskId task;
  std::uint32_t attempt = 0;
  BatchId batch;
  bool success = false;
  std::string reason;                   // why it failed (empty on success)
  std::vector<std::string> files;       // files produced
  std::string worker;
  std::int64_t started_ms = 0;          // unix epoch milliseconds
  std::int64_t finished_ms = 0;
  std::string log_path;
  std::string commit = {};              // the attempt's commit, parent = the batch's base
  std::string pack = {};                // remote workers: the objects the commit adds (git pack)
  Usage usage = {};                     // what the agent reported for this attempt
  // The attempt failed because br could not write its own files for it (the prompt, the log,
  // the slot's worktree, in the worker's state dir), not through the task: `reason` names the
  // file and the OS error. Not counted against max_attempts; the run stops, resumable.
  bool infrastructure = false;
  AttemptAgent agent = {};
};

struct WorkerHello {
  std::string name;
  std::uint32_t slots = 1;
  std::uint32_t protocol_version = kProtocolVersion;
  std::string token;
  // Attempts held from an earlier connection: tasks and their attempt numbers, in parallel.
  std::vector<TaskId> held_tasks;
  std::vector<std::uint32_t> held_attempts;
};

struct WorkRequest {
  std::string worker;
  std::uint32_t free_slots = 1;
};

struct TaskProgress {
  TaskId task;
  std::uint32_t attempt = 0;
  BatchId batch;
  std::string worker;
  std::int64_t started_ms = 0;
};

struct HelloReply {
  bool accepted = false;
  std::string reason;  // why a worker was refused
  std::string run_id;
};

struct ObjectsRequest {
  std::string want;               // a commit id
  std::vector<std::string> have;  // commit ids
  std::uint64_t offset = 0;
};

struct ObjectsChunk {
  std::string error;
  std::string pack_id;
  std::uint64_t total = 0;
  std::string data;
};

struct ReadyTasks {
  std::vector<TaskId> tasks;    // ready for the first time
  std::vector<TaskId> retries;  // ready again after a failed attempt: batched alone
};

// A git commit id as br passes it around: 40 lowercase hex digits (SHA-1).
inline bool is_commit_id(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Journal record bodies: one per state transition (see DESIGN.md, "Journal and recovery").
namespace rec {
struct PlanCreated {
  Plan plan;
  std::string spec_path;
  std::string spec_hash;  // hex digest of the spec bytes, to refuse a silently changed spec
  std::string branch = {};       // isolated runs: the integration branch
  std::string base_commit = {};  // and the commit it starts from
  std::string repo = {};         // and the repository (its work tree's absolute path)
};
struct TaskReady { TaskId task; };
struct BatchDispatched {
  BatchId batch;
  std::string worker;
  std::vector<TaskId> tasks;
  std::vector<std::uint32_t> attempts;  // parallel to tasks
  std::int64_t lease_until_ms = 0;
};
struct TaskStarted { TaskId task; std::uint32_t attempt = 0; std::string worker; };
struct TaskSucceeded {
  TaskId task;
  std::uint32_t attempt = 0;
  std::string worker;
  std::vector<std::string> files;
  std::string commit = {};  // the attempt's commit (isolated runs)
  std::string head = {};    // the integration head after merging it
  Usage usage = {};         // what the attempt's agent reported
  AttemptAgent agent = {};  // which route and command ran it
};
struct TaskFailed {
  TaskId task;
  std::uint32_t attempt = 0;
  std::string reason;
  Usage usage = {};
  AttemptAgent agent = {};
};
struct TaskRetrying {
  TaskId task;
  std::uint32_t next_attempt = 0;
  std::int64_t not_before_ms = 0;
  bool uncharged = false;  // interrupted, not failed: not counted against max_attempts
};
struct TaskBlocked { TaskId task; TaskId cause; };
struct TaskCancelled { TaskId task; std::string reason; };
struct WorkerJoined { std::string worker; std::uint32_t slots = 0; std::string address; };
struct WorkerLost { std::string worker; std::string reason; };
struct RunStopped { std::string reason; };   // interrupted (Ctrl-C); resumable
struct RunResumed {};
enum class RunOutcome : std::uint8_t { succeeded, failed, cancelled };
struct RunCompleted { RunOutcome outcome = RunOutcome::succeeded; };
// `--replan`: the spec changed; succeeded tasks whose ids remain keep their result.
struct PlanRevised {
  Plan plan;
  std::string spec_path;
  std::string spec_hash;
};
// `br retry`: these tasks start over, with a fresh attempt budget.
struct TasksReopened { std::vector<TaskId> tasks; };
}  // namespace rec

using RecordBody =
    std::variant<rec::PlanCreated, rec::TaskReady, rec::BatchDispatched, rec::TaskStarted,
                 rec::TaskSucceeded, rec::TaskFailed, rec::TaskRetrying, rec::TaskBlocked,
                 rec::TaskCancelled, rec::WorkerJoined, rec::WorkerLost, rec::RunStopped,
                 rec::RunResumed, rec::RunCompleted, rec::PlanRevised, rec::TasksReopened>;

struct JournalRecord {
  std::uint64_t seq = 0;     // assigned by the journal on append; the RocksDB key
  std::string run_id;
  std::int64_t time_ms = 0;  // unix epoch milliseconds
  RecordBody body;
};

// Field-by-field equality, for tests and for comparing a replayed state with a live one.
#define BR_DECLARE_EQUALITY(T)                  \
  bool operator==(const T& a, const T& b);      \
  inline bool operator!=(const T& a, const T& b) { return !(a == b); }
BR_DECLARE_EQUALITY(Feature)
BR_DECLARE_EQUALITY(Task)
BR_DECLARE_EQUALITY(Plan)
BR_DECLARE_EQUALITY(BatchTask)
BR_DECLARE_EQUALITY(CompletedWork)
BR_DECLARE_EQUALITY(Batch)
BR_DECLARE_EQUALITY(TaskResult)
BR_DECLARE_EQUALITY(WorkerHello)
BR_DECLARE_EQUALITY(WorkRequest)
BR_DECLARE_EQUALITY(TaskProgress)
BR_DECLARE_EQUALITY(HelloReply)
BR_DECLARE_EQUALITY(ReadyTasks)
BR_DECLARE_EQUALITY(ObjectsRequest)
BR_DECLARE_EQUALITY(ObjectsChunk)
namespace rec {
BR_DECLARE_EQUALITY(PlanCreated)
BR_DECLARE_EQUALITY(PlanRevised)
BR_DECLARE_EQUALITY(TaskReady)
BR_DECLARE_EQUALITY(BatchDispatched)
BR_DECLARE_EQUALITY(TaskStarted)
BR_DECLARE_EQUALITY(TaskSucceeded)
BR_DECLARE_EQUALITY(TaskFailed)
BR_DECLARE_EQUALITY(TaskRetrying)
BR_DECLARE_EQUALITY(TaskBlocked)
BR_DECLARE_EQUALITY(TaskCancelled)
BR_DECLARE_EQUALITY(WorkerJoined)
BR_DECLARE_EQUALITY(WorkerLost)
BR_DECLARE_EQUALITY(RunStopped)
BR_DECLARE_EQUALITY(RunResumed)
BR_DECLARE_EQUALITY(TasksReopened)
BR_DECLARE_EQUALITY(RunCompleted)
}  // namespace rec
BR_DECLARE_EQUALITY(JournalRecord)
#undef BR_DECLARE_EQUALITY

// Short name of a record kind ("taskSucceeded"), for logs and JSON.
std::string_view kind_name(const RecordBody& body);

}  // namespace br
