// Writes the binary seed corpora of the wire and journal fuzz targets (corpus/wire,
// corpus/journal) from br's own messages, in the input layout each target reads. Run it again
// when the schema changes: `build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus`.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "protocol/codec.hpp"
#include "protocol/run_state.hpp"
#include "tests/support/run_history.hpp"
#include "tests/support/samples.hpp"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string tagged(char tag, const std::string& payload) { return std::string(1, tag) + payload; }

// The journal target's layout: records as (2-byte little-endian length, bytes).
void add_record(std::string& out, const br::JournalRecord& record) {
  const std::string bytes = br::encode(record);
  if (bytes.size() > 0xffff) return;
  out += static_cast<char>(bytes.size() & 0xff);
  out += static_cast<char>(bytes.size() >> 8);
  out += bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  fs::create_directories(root / "wire");
  fs::create_directories(root / "journal");
  using namespace br;
  write(root / "wire" / "hello", tagged(0, encode(test::sample_hello())));
  write(root / "wire" / "work-request", tagged(1, encode(WorkRequest{"host-1/0", 2})));
  write(root / "wire" / "progress",
        tagged(2, encode(TaskProgress{TaskId("auth/01-database"), 1, BatchId("b-1"), "host-1/0",
                                              1700000000000})));
  write(root / "wire" / "result", tagged(3, encode(test::sample_result())));
  write(root / "wire" / "batch", tagged(4, encode(test::sample_batch())));
  write(root / "wire" / "hello-reply", tagged(5, encode(HelloReply{true, "", "run-1"})));
  write(root / "wire" / "ready",
        tagged(6, encode(ReadyTasks{{TaskId("a/01"), TaskId("a/02")}, {TaskId("a/03")}})));
  write(root / "wire" / "plan", tagged(7, encode(test::sample_plan())));
  write(root / "wire" / "objects-request",
        tagged(8, encode(ObjectsRequest{std::string(40, 'a'), {std::string(40, 'b')}, 4096})));
  write(root / "wire" / "objects-chunk",
        tagged(9, encode(ObjectsChunk{"", std::string(40, 'c'), 10, "PACK\0\0\0\2xy"})));

  // Every record kind on its own, and a short legal history that folds.
  int i = 0;
  for (const auto& body : test::every_record_body()) {
    std::string one;
    add_record(one, JournalRecord{0, "run-1", 1700000000000, body});
    write(root / "journal" / ("record-" + std::to_string(i++)), one);
  }
  std::string history;
  RunState state;
  std::uint64_t seq = 0;
  for (auto& body : test::random_history(6, 60, 1)) {
    JournalRecord record{0, "run-1", 1700000000000, std::move(body)};
    add_record(history, record);
    record.seq = ++seq;
    (void)state.apply(record);
  }
  write(root / "journal" / "history", history);
  write(root / "journal" / "snapshot", std::string(3, '\xff') + encode_snapshot(state));
  std::printf("seeds written to %s\n", root.c_str());
  return 0;
}
