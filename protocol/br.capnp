# The one schema of br: wire messages between coordinator and workers, journal records and
# snapshots. Mirrors protocol/model.hpp; protocol/codec.cpp converts between the two.
# Compatibility: only ever add fields with new ordinals; bump kProtocolVersion /
# kJournalSchemaVersion in model.hpp for anything else.
@0xb7e1c2a4d5f60718;

$import "/capnp/c++.capnp".namespace("br::wire");

enum Priority { critical @0; high @1; medium @2; low @3; }
enum Domain { database @0; backend @1; api @2; ui @3; infra @4; tests @5; docs @6; }
enum Complexity { simple @0; medium @1; complex @2; }

struct Feature {
  id @0 :Text;
  title @1 :Text;
  description @2 :Text;
  priority @3 :Priority;
  dependsOn @4 :List(Text);
  hasDomain @5 :Bool;
  domain @6 :Domain;
  hasComplexity @7 :Bool;
  complexity @8 :Complexity;
  minutes @9 :UInt32;
  requirements @10 :List(Text);
  acceptance @11 :List(Text);
  technical @12 :List(Text);
  files @13 :List(Text);
  parent @14 :Text;
  context @15 :Text;
  line @16 :UInt32;
  done @17 :Bool;  # the spec marks it done: planned with no tasks
}

enum CriterionKind { file @0; contains @1; run @2; prose @3; }

# An acceptance criterion as the planner typed it (protocol/acceptance_criterion.hpp).
struct Criterion {
  kind @0 :CriterionKind;
  path @1 :Text;     # file, contains
  text @2 :Text;     # contains: the text to find; prose: the sentence
  command @3 :Text;  # run
}

struct Task {
  id @0 :Text;
  feature @1 :Text;
  title @2 :Text;
  description @3 :Text;
  domain @4 :Domain;
  complexity @5 :Complexity;
  minutes @6 :UInt32;
  priority @7 :Priority;
  dependsOn @8 :List(Text);
  # Each criterion's one-line form, still written for readers older than `criteria`; a record
  # without `criteria` (written before it) is typed from these when read.
  acceptance @9 :List(Text);
  files @10 :List(Text);
  criteria @11 :List(Criterion);  # the criteria, typed: what workers check
}

struct Plan {
  title @0 :Text;
  overview @1 :Text;
  features @2 :List(Feature);
  tasks @3 :List(Task);
}

struct BatchTask {
  task @0 :Task;
  attempt @1 :UInt32;
  lastFailure @2 :Text;  # why the previous attempt failed, for the retry's prompt
}

struct CompletedWork {
  task @0 :Text;
  title @1 :Text;
  files @2 :List(Text);
}

struct Batch {
  id @0 :Text;
  domain @1 :Domain;
  tasks @2 :List(BatchTask);
  project @3 :Text;
  completed @4 :List(CompletedWork);
  leaseMs @5 :UInt64;
  # The commit the attempt starts from: the integration head when it was dispatched, which
  # holds every task it depends on. Empty when the run works without isolation.
  base @6 :Text;
  # The prompt as the user approved it after editing it at br run's prompt (interactive
  # mode); empty: the worker builds it.
  prompt @7 :Text;
}

# What an agent reported for one attempt (protocol/usage.hpp); known = false: nothing readable.
struct Usage {
  known @0 :Bool;
  tokensIn @1 :UInt64;
  tokensOut @2 :UInt64;
  cacheWriteTokens @3 :UInt64;
  cacheReadTokens @4 :UInt64;
  costKnown @5 :Bool;
  costMicroUsd @6 :UInt64;  # millionths of a US dollar
  turns @7 :UInt32;
  durationMs @8 :Int64;
}

# Which [agent] route ran an attempt (protocol/agent_route.hpp), as the host that ran it
# resolved it from its own config: empty in journals older than routing.
struct AttemptAgent {
  route @0 :Text;    # "default", "simple", "medium", "complex" or "domain:ui"
  command @1 :Text;  # its argv, words joined by spaces
}

struct TaskResult {
  task @0 :Text;
  attempt @1 :UInt32;
  batch @2 :Text;
  success @3 :Bool;
  reason @4 :Text;
  files @5 :List(Text);
  worker @6 :Text;
  startedMs @7 :Int64;
  finishedMs @8 :Int64;
  logPath @9 :Text;
  # The attempt's commit (its parent is the batch's base); empty when it changed nothing.
  commit @10 :Text;
  # From a br-worker on another host: a git pack of the objects the commit adds to the base.
  pack @11 :Data;
  usage @12 :Usage;
  # br could not write its own files (prompt, log, worktree): not the task's failure.
  infrastructure @13 :Bool;
  agent @14 :AttemptAgent;
}

struct WorkerHello {
  name @0 :Text;
  slots @1 :UInt32;
  protocolVersion @2 :UInt32;
  token @3 :Text;
  # Attempts this worker holds from an earlier connection (running, or finished with results
  # not yet acknowledged): after a coordinator restart, its other in-flight attempts are lost.
  heldTasks @4 :List(Text);
  heldAttempts @5 :List(UInt32);
}

enum RunOutcome { succeeded @0; failed @1; cancelled @2; }

struct JournalRecord {
  runId @0 :Text;
  timeMs @1 :Int64;
  schemaVersion @2 :UInt32;
  body :union {
    planCreated :group {
      plan @3 :Plan;
      specPath @4 :Text;
      specHash @5 :Text;
      # Isolated runs: the integration branch and the commit it started from.
      branch @40 :Text;
      baseCommit @41 :Text;
      repo @44 :Text;  # the repository's work tree, as an absolute path
    }
    taskReady :group {
      task @6 :Text;
    }
    batchDispatched :group {
      batch @7 :Text;
      worker @8 :Text;
      tasks @9 :List(Text);
      attempts @10 :List(UInt32);
      leaseUntilMs @11 :Int64;
    }
    taskStarted :group {
      task @12 :Text;
      attempt @13 :UInt32;
      worker @14 :Text;
    }
    taskSucceeded :group {
      task @15 :Text;
      attempt @16 :UInt32;
      worker @17 :Text;
      files @18 :List(Text);
      # The attempt's commit, and the integration head once it was merged.
      commit @42 :Text;
      head @43 :Text;
      usage @47 :Usage;  # the attempt's, as its result reported it
      agent @49 :AttemptAgent;
    }
    taskFailed :group {
      task @19 :Text;
      attempt @20 :UInt32;
      reason @21 :Text;
      usage @48 :Usage;
      agent @50 :AttemptAgent;
    }
    taskRetrying :group {
      task @22 :Text;
      nextAttempt @23 :UInt32;
      notBeforeMs @24 :Int64;
      # The attempt did not fail, its process went away (a stop, a restart): it does not count
      # against max_attempts.
      uncharged @46 :Bool;
    }
    taskBlocked :group {
      task @25 :Text;
      cause @26 :Text;
    }
    taskCancelled :group {
      task @27 :Text;
      reason @28 :Text;
    }
    workerJoined :group {
      worker @29 :Text;
      slots @30 :UInt32;
      address @31 :Text;
    }
    workerLost :group {
      worker @32 :Text;
      reason @33 :Text;
    }
    runStopped :group {
      reason @34 :Text;
    }
    runResumed @35 :Void;
    runCompleted :group {
      outcome @36 :RunOutcome;
    }
    # The spec changed and the run was planned again (`--replan`): tasks that succeeded and
    # still exist stay succeeded; every other task starts over, its attempt count kept.
    planRevised :group {
      plan @37 :Plan;
      specPath @38 :Text;
      specHash @39 :Text;
    }
    # `br retry`: failed, blocked and cancelled tasks start over (pending), each with a fresh
    # attempt budget, their attempt numbers continuing; a finished run is stopped again.
    tasksReopened :group {
      tasks @45 :List(Text);
    }
  }
}

# ---- messages between actors (in one process or across hosts) -------------------------------

# A worker with free slots asks the scheduler for work.
struct WorkRequest {
  worker @0 :Text;
  freeSlots @1 :UInt32;
}

# A worker started the agent for a task (the result follows as a TaskResult).
struct TaskProgress {
  task @0 :Text;
  attempt @1 :UInt32;
  batch @2 :Text;
  worker @3 :Text;
  startedMs @4 :Int64;
}

# The coordinator's answer to a WorkerHello.
struct HelloReply {
  accepted @0 :Bool;
  reason @1 :Text;
  runId @2 :Text;
}

# A br-worker asks for the objects of a commit it lacks (a batch's base), one chunk at a time.
struct ObjectsRequest {
  want @0 :Text;
  have @1 :List(Text);  # commits it has, whose objects need not be sent
  offset @2 :UInt64;    # where in the pack this chunk starts
}

# One chunk of the pack for an ObjectsRequest.
struct ObjectsChunk {
  error @0 :Text;    # why there is no pack (then nothing else is set)
  packId @1 :Text;   # names the pack: a chunk of another pack (rebuilt meanwhile) does not fit
  total @2 :UInt64;  # the pack's size
  data @3 :Data;
}

# Tasks that became ready (graph → scheduler).
struct ReadyTasks {
  tasks @0 :List(Text);
  retries @1 :List(Text);  # ready again after a failed attempt: each goes in a batch of its own
}

# ---- snapshots of the run state (a cache of the journal's fold, kept in the journal) -----------

struct TaskSnapshot {
  status @0 :UInt8;          # TaskStatus
  attempt @1 :UInt32;
  worker @2 :Text;
  batch @3 :Text;
  reason @4 :Text;
  files @5 :List(Text);
  readyMs @6 :Int64;
  dispatchedMs @7 :Int64;
  startedMs @8 :Int64;
  finishedMs @9 :Int64;
  leaseUntilMs @10 :Int64;
  notBeforeMs @11 :Int64;
  commit @12 :Text;
  attemptBase @13 :UInt32;  # attempts made before the task was last reopened
  # The usage of all its finished attempts (UsageTotal): sums, and how many were counted.
  usage @14 :Usage;
  usageAttempts @15 :UInt64;
  usageUnknown @16 :UInt64;
}

struct WorkerSnapshot {
  name @0 :Text;
  slots @1 :UInt32;
  address @2 :Text;
  alive @3 :Bool;
}

# A RunState (protocol/run_state.hpp), field for field. Decoding checks it like any untrusted
# input and rebuilds what follows from it (the task index, the progress counts).
struct RunSnapshot {
  schemaVersion @0 :UInt32;  # kJournalSchemaVersion of the writer; a newer one is not read
  runId @1 :Text;
  lastSeq @2 :UInt64;        # the state after applying records 1..lastSeq
  status @3 :UInt8;          # RunStatus
  plan @4 :Plan;             # unset until planCreated: its presence is RunState::has_plan()
  specPath @5 :Text;
  specHash @6 :Text;
  tasks @7 :List(TaskSnapshot);   # in plan order
  workers @8 :List(WorkerSnapshot);
  branch @9 :Text;
  baseCommit @10 :Text;
  head @11 :Text;
  repo @12 :Text;
  # Set (with no plan above): the plan is the one journaled by record planSeq, which the
  # journal stores once beside its snapshots instead of in each of them.
  planSeq @13 :UInt64;
}
