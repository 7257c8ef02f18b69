// br's actor interfaces: CAF atoms, and typed_actor handles whose payloads are Cap'n Proto
// messages (Encoded<T>, protocol/encoded.hpp), so a message an actor does not take does not
// compile. The same messages work in one process and between hosts: every payload type has a
// CAF type id here, and add_br_types() registers them for the middleman.
// Included only by actor files (*_actor.cpp) and the executables' wiring: pure code never sees
// CAF.
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "protocol/encoded.hpp"

namespace br {

using EncodedRecords = std::vector<Encoded<JournalRecord>>;

}  // namespace br

CAF_BEGIN_TYPE_ID_BLOCK(br, caf::first_custom_type_id)

CAF_ADD_ATOM(br, br::atoms, append_atom, "append")      // → journal: records → last seq
CAF_ADD_ATOM(br, br::atoms, durable_atom, "durable")    // journal writer → journal actor
CAF_ADD_ATOM(br, br::atoms, ready_atom, "ready")        // graph → scheduler: ReadyTasks
CAF_ADD_ATOM(br, br::atoms, work_atom, "work")          // worker → scheduler: WorkRequest
CAF_ADD_ATOM(br, br::atoms, dispatch_atom, "dispatch")  // scheduler → graph: proposed Batch
CAF_ADD_ATOM(br, br::atoms, batch_atom, "batch")        // scheduler → worker: Batch
CAF_ADD_ATOM(br, br::atoms, started_atom, "started")    // worker → graph: TaskProgress
CAF_ADD_ATOM(br, br::atoms, result_atom, "result")      // worker → graph: TaskResult → ack
CAF_ADD_ATOM(br, br::atoms, ack_atom, "ack")            // graph → worker: result settled
CAF_ADD_ATOM(br, br::atoms, tick_atom, "tick")          // graph → itself: retries, leases
CAF_ADD_ATOM(br, br::atoms, stop_atom, "stop")          // main → graph: interrupt the run
CAF_ADD_ATOM(br, br::atoms, run_over_atom, "run_over")  // graph → main/workers: run ended
CAF_ADD_ATOM(br, br::atoms, hello_atom, "hello")        // remote worker → coordinator
CAF_ADD_ATOM(br, br::atoms, progress_atom, "progress")  // graph → listener: durable records
CAF_ADD_ATOM(br, br::atoms, attach_atom, "attach")      // graph → scheduler: "I am the graph"
CAF_ADD_ATOM(br, br::atoms, note_atom, "note")          // any → listener: a line for the log
CAF_ADD_ATOM(br, br::atoms, lost_atom, "lost")          // front → graph, scheduler: worker gone
CAF_ADD_ATOM(br, br::atoms, connect_atom, "connect")    // br-worker → its slots: new front
CAF_ADD_ATOM(br, br::atoms, objects_atom, "objects")    // br-worker → front: git objects
CAF_ADD_ATOM(br, br::atoms, cancel_atom, "cancel")      // main → graph: cancel these tasks
CAF_ADD_ATOM(br, br::atoms, approve_atom, "approve")    // graph → main: may this batch run?
CAF_ADD_ATOM(br, br::atoms, drain_atom, "drain")        // main → front: wait for workers to go

CAF_ADD_TYPE_ID(br, (br::Encoded<br::Batch>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::TaskResult>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::TaskProgress>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::WorkRequest>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::WorkerHello>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::HelloReply>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::ReadyTasks>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::ObjectsRequest>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::ObjectsChunk>))
CAF_ADD_TYPE_ID(br, (br::Encoded<br::JournalRecord>))
CAF_ADD_TYPE_ID(br, (br::EncodedRecords))

// The interfaces sit inside the type id block because two of their handles travel in
// messages and need ids of their own.
namespace br {

// Who a worker asks for work: the scheduler, or for a remote worker the front actor.
using WorkSource = caf::typed_actor<caf::reacts_to<atoms::work_atom, Encoded<WorkRequest>>>;

// Who a worker reports to: the graph, or for a remote worker the front actor. A result is
// answered with ack_atom once it is settled (durable, or ignored as stale).
using ResultSink = caf::typed_actor<
    caf::reacts_to<atoms::started_atom, Encoded<TaskProgress>>,
    caf::replies_to<atoms::result_atom, Encoded<TaskResult>>::with<atoms::ack_atom>>;

// The graph as the scheduler sees it: a proposed batch (task ids) and the worker slot's name
// → the dispatched batch, answered once its dispatch is durable; an error if it is refused.
using Dispatcher = caf::typed_actor<
    caf::replies_to<atoms::dispatch_atom, Encoded<Batch>, std::string>::with<Encoded<Batch>>>;

// A worker slot as the scheduler sees it.
using WorkerSlot = caf::typed_actor<caf::reacts_to<atoms::batch_atom, Encoded<Batch>>,
                                    caf::reacts_to<atoms::run_over_atom>>;

// A br-worker process's kill switch, given to the coordinator with each hello: cancel kills
// the agent of that batch (its id) if it runs there, or as soon as it starts (br cancel).
using KillSwitch = caf::typed_actor<caf::reacts_to<atoms::cancel_atom, std::string>>;

// The coordinator's front actor, published on the network: a hello is answered with a
// HelloReply; once admitted, a worker's requests and reports pass through it, and it serves
// the git objects of the run's commits (isolated runs), a chunk per request. drain and cancel
// are from the coordinator's own process only: drain at the run's end, answered once no worker
// process is connected (they leave on run_over); cancel (batch id, worker name) kills that
// batch's agent on the remote worker, through the kill switch its hello came with.
using FrontActor = caf::typed_actor<
    caf::replies_to<atoms::hello_atom, Encoded<WorkerHello>, KillSwitch>::with<Encoded<HelloReply>>,
    caf::replies_to<atoms::objects_atom, Encoded<ObjectsRequest>>::with<Encoded<ObjectsChunk>>,
    caf::replies_to<atoms::drain_atom>::with<atoms::ack_atom>,
    caf::reacts_to<atoms::cancel_atom, std::string, std::string>>::extend_with<WorkSource,
                                                                             ResultSink>;

// A worker actor: a slot, told of a new front when br-worker has reconnected.
using WorkerActor = WorkerSlot::extend<caf::reacts_to<atoms::connect_atom, FrontActor>>;

// The journal actor: records → the sequence number of the last one, once all are durable.
using JournalActor =
    caf::typed_actor<caf::replies_to<atoms::append_atom, EncodedRecords>::with<std::uint64_t>>;

// The scheduler actor.
using SchedulerActor = WorkSource::extend<caf::reacts_to<atoms::attach_atom, Dispatcher>,
                                          caf::reacts_to<atoms::ready_atom, Encoded<ReadyTasks>>,
                                          caf::reacts_to<atoms::lost_atom, std::string>,
                                          caf::reacts_to<atoms::run_over_atom>>;

// The graph actor. hello: an admitted remote worker (its hello, its node); lost: a worker
// whose connection dropped; stop: interrupt the run, with the reason; cancel: task ids, and
// the reason (br cancel).
using GraphActor = Dispatcher::extend_with<ResultSink>::extend<
    caf::reacts_to<atoms::hello_atom, Encoded<WorkerHello>, std::string>,
    caf::reacts_to<atoms::lost_atom, std::string>, caf::reacts_to<atoms::stop_atom, std::string>,
    caf::reacts_to<atoms::cancel_atom, std::set<std::string>, std::string>>;

// Who hears of the run: every durable group of records, lines for the log, and the end
// (the RunStatus as int, kRunBroken or kRunStoppedByInfrastructure). In interactive mode it
// is also asked before each batch: "run", "run:" followed by the prompt as the user edited
// it, "skip" or "quit".
using ListenerActor = caf::typed_actor<
    caf::reacts_to<atoms::progress_atom, EncodedRecords>,
    caf::reacts_to<atoms::note_atom, std::string>, caf::reacts_to<atoms::run_over_atom, int>,
    caf::replies_to<atoms::approve_atom, Encoded<Batch>>::with<std::string>>;

}  // namespace br

// Handles that travel inside messages.
CAF_ADD_TYPE_ID(br, (br::Dispatcher))
CAF_ADD_TYPE_ID(br, (br::FrontActor))
CAF_ADD_TYPE_ID(br, (br::KillSwitch))

CAF_END_TYPE_ID_BLOCK(br)

namespace br {

// Registers br's message types with an actor system's config: required on both ends of a
// connection, so that payloads serialize and typed interfaces compare by name.
inline void add_br_types(caf::actor_system_config& config) {
  config.add_message_types<caf::id_block::br>();
}

// br's actors put their message for people in an error's context (make_error(code, text));
// that text is what to show, not CAF's rendering of the whole error.
inline std::string error_text(const caf::error& error) {
  if (error.context().match_elements<std::string>()) {
    return error.context().get_as<std::string>(0);
  }
  return caf::to_string(error);
}

}  // namespace br
