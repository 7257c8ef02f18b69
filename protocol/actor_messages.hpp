// CAF atoms of br's actor messages. Every payload is Cap'n Proto bytes (std::string) from
// protocol/codec.hpp, so the same messages work in one process and between hosts.
// Included only by actor files (*_actor.cpp): pure code never sees CAF.
#pragma once

#include <caf/all.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(br, caf::first_custom_type_id)

CAF_ADD_ATOM(br, br::atoms, plan_atom, "plan")          // → planner: spec path → Plan
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

CAF_END_TYPE_ID_BLOCK(br)

namespace br {

// br's actors put their message for people in an error's context (make_error(code, text));
// that text is what to show, not CAF's rendering of the whole error.
inline std::string error_text(const caf::error& error) {
  if (error.context().match_elements<std::string>()) {
    return error.context().get_as<std::string>(0);
  }
  return caf::to_string(error);
}

}  // namespace br
