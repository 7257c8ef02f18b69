// The one codec of br: model structs ⇄ Cap'n Proto bytes, for the wire, the journal and
// snapshots alike. Decoding treats its input as untrusted: size, traversal, nesting and the
// memory the decoded value may take are all bounded, and any malformed input is an Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/model.hpp"
#include "protocol/run_state.hpp"
#include "protocol/result.hpp"

namespace br {

struct DecodeLimits {
  // Larger inputs are refused before any parsing.
  std::size_t max_bytes = std::size_t{16} << 20;
  // Cap'n Proto pointer nesting; br's schema is at most 5 deep.
  unsigned nesting = 16;
  // Memory the decoded structs may take, as a multiple of the input size. A well-formed
  // message decodes into about 4× its size; this stops lists of zero-sized elements (which
  // Cap'n Proto encodes in no space at all) from turning into huge allocations.
  std::size_t amplification = 8;
  // A big plan's tasks may be decoded on a second thread; a caller that already decodes on
  // two threads (the journal reading a plan's parts) turns it off.
  bool second_thread = true;
};

// Journal records hold whole plans (100,000 tasks is ~30 MiB), so they get a larger bound.
inline DecodeLimits journal_decode_limits() {
  DecodeLimits limits;
  limits.max_bytes = std::size_t{256} << 20;
  return limits;
}

std::string encode(const Feature& value);
std::string encode(const Task& value);
std::string encode(const Plan& value);
std::string encode(const Batch& value);
std::string encode(const TaskResult& value);
std::string encode(const WorkerHello& value);
std::string encode(const WorkRequest& value);
std::string encode(const TaskProgress& value);
std::string encode(const HelloReply& value);
std::string encode(const ObjectsRequest& value);
std::string encode(const ObjectsChunk& value);
std::string encode(const ReadyTasks& value);
// Encodes everything but `seq`, which is the record's key in the journal.
std::string encode(const JournalRecord& value);

// Decoders; `what` in errors is the type name ("Batch: message of 20 bytes is truncated").
template <class T>
Result<T> decode(std::string_view bytes, const DecodeLimits& limits = {});

template <> Result<Feature> decode(std::string_view, const DecodeLimits&);
template <> Result<Task> decode(std::string_view, const DecodeLimits&);
template <> Result<Plan> decode(std::string_view, const DecodeLimits&);
template <> Result<Batch> decode(std::string_view, const DecodeLimits&);
template <> Result<TaskResult> decode(std::string_view, const DecodeLimits&);
template <> Result<WorkerHello> decode(std::string_view, const DecodeLimits&);
template <> Result<WorkRequest> decode(std::string_view, const DecodeLimits&);
template <> Result<TaskProgress> decode(std::string_view, const DecodeLimits&);
template <> Result<HelloReply> decode(std::string_view, const DecodeLimits&);
template <> Result<ObjectsRequest> decode(std::string_view, const DecodeLimits&);
template <> Result<ObjectsChunk> decode(std::string_view, const DecodeLimits&);
template <> Result<ReadyTasks> decode(std::string_view, const DecodeLimits&);
template <> Result<JournalRecord> decode(std::string_view, const DecodeLimits&);

// A snapshot of a run's state (a cache of the fold of its journal up to state.last_seq()).
// Decoding checks it as untrusted input (the limits above, schema version, enum values, one
// task state per plan task, no duplicate task or worker ids, attempts that fit the statuses)
// and rebuilds the task index and progress counts rather than trusting them. Errors start
// with "RunSnapshot: ". Use journal_decode_limits(): a snapshot holds the whole plan.
// A snapshot of `state`. With `plan_apart` (the state must know its plan_seq()) the plan is
// left out and named by its record instead: the journal stores each plan once, since a big
// run's plan is most of its state (34 MB of a 39k-task run's 38 MB snapshot).
std::string encode_snapshot(const RunState& state, bool plan_apart = false);
// Tasks [first, first + count) of `plan` as a Plan message; the part with first == 0 also has
// the title, overview and features. The journal stores a big plan as such parts, so that no
// more than one part is ever encoded (and copied into RocksDB) at a time.
std::string encode_plan_part(const Plan& plan, std::size_t first, std::size_t count);

// The parts of a snapshot; with the plan stored apart, parts.plan is empty, parts.plan_seq
// names it and the caller fills it in before RunState::restore.
Result<RunState::Parts> decode_snapshot_parts(std::string_view bytes, const DecodeLimits& limits);
// A snapshot that holds its plan, restored.
Result<RunState> decode_snapshot(std::string_view bytes, const DecodeLimits& limits);

}  // namespace br
