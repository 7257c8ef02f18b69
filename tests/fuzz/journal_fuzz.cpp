// Fuzz target: journal bytes. The input is a sequence of records, each a 2-byte little-endian
// length and that many bytes, decoded with the journal limits and folded into a RunState as
// replay does; input that starts with 0xff 0xff 0xff is a run-state snapshot instead.
// Properties: records that decode re-encode to the same record; the fold never accepts an
// illegal transition silently (its counts always add up to the tasks); a snapshot that decodes
// re-encodes to an equal state.
#include "protocol/codec.hpp"
#include "protocol/run_state.hpp"
#include "tests/fuzz/fuzz_target.hpp"

namespace {

void check_counts(const br::RunState& state) {
  const auto& c = state.counts();
  BR_FUZZ_CHECK(c.total == state.tasks().size());
  BR_FUZZ_CHECK(c.pending + c.ready + c.dispatched + c.running + c.succeeded + c.failed +
                    c.retrying + c.blocked + c.cancelled ==
                c.total);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const br::DecodeLimits limits = br::journal_decode_limits();
  if (size >= 3 && data[0] == 0xff && data[1] == 0xff && data[2] == 0xff) {
    auto state = br::decode_snapshot(br::fuzz::bytes(data + 3, size - 3), limits);
    if (!state) return 0;
    check_counts(*state);
    auto back = br::decode_snapshot(br::encode_snapshot(*state), limits);
    BR_FUZZ_CHECK(back.ok());
    BR_FUZZ_CHECK(*back == *state);
    return 0;
  }
  br::RunState state;
  std::uint64_t seq = 0;
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t length = data[at] | (std::size_t{data[at + 1]} << 8);
    at += 2;
    if (length > size - at) break;
    auto record = br::decode<br::JournalRecord>(br::fuzz::bytes(data + at, length), limits);
    at += length;
    if (!record) continue;
    auto again = br::decode<br::JournalRecord>(br::encode(*record), limits);
    BR_FUZZ_CHECK(again.ok());
    BR_FUZZ_CHECK(*again == *record);
    record->seq = ++seq;
    if (!state.run_id().empty()) record->run_id = state.run_id();  // past the run-id check
    const br::RunState before = state;
    if (!state.apply(*record)) {
      // Replay stops at the first record that does not apply; the state is not half-changed.
      BR_FUZZ_CHECK(state == before);
      break;
    }
    check_counts(state);
  }
  return 0;
}
