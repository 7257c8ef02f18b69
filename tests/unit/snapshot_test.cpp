// Snapshots of the run state: the codec round trip, and a journal that writes snapshots as it
// goes replays to the same state as the fold of all its records, also after compaction and
// with a damaged snapshot.
#include <rocksdb/db.h>

#include <catch2/catch.hpp>
#include <random>

#include "protocol/codec.hpp"
#include "storage/journal.hpp"
#include "tests/support/samples.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

// A legal history of `tasks` independent tasks: some succeed, some fail and retry, workers
// come and go. Deterministic for a seed.
std::vector<RecordBody> history(int tasks, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RecordBody> out = {rec::PlanCreated{test::independent_plan(tasks), "spec.md", "h"},
                                 rec::WorkerJoined{"w1", 2, "10.0.0.2"}};
  for (int i = 0; i < tasks; ++i) {
    const TaskId id("t/" + std::to_string(i));
    out.push_back(rec::TaskReady{id});
    std::uint32_t attempt = 1;
    for (; rng() % 3 == 0 && attempt < 4; ++attempt) {
      out.push_back(rec::BatchDispatched{BatchId("b" + std::to_string(i) + "-" +
                                                 std::to_string(attempt)),
                                         "w1", {id}, {attempt}, 1000 + i});
      out.push_back(rec::TaskFailed{id, attempt, "tests failed"});
      out.push_back(rec::TaskRetrying{id, attempt + 1, 2000 + i});
      out.push_back(rec::TaskReady{id});
    }
    out.push_back(rec::BatchDispatched{BatchId("b" + std::to_string(i)), "w1", {id}, {attempt},
                                       3000 + i});
    if (i % 5 != 4) {  // every fifth task stays in flight
      out.push_back(rec::TaskStarted{id, attempt, "w1"});
      out.push_back(rec::TaskSucceeded{id, attempt, "w1", {"src/" + std::to_string(i) + ".py"}});
    }
    if (i % 40 == 0) out.push_back(rec::WorkerLost{"w1", "connection lost"});
    if (i % 40 == 1) out.push_back(rec::WorkerJoined{"w1", 2, "10.0.0.3"});
  }
  return out;
}

// Appends the history in groups of up to 7 records and returns the fold of it.
RunState write(Journal& journal, const std::vector<RecordBody>& bodies) {
  RunState state;
  std::vector<JournalRecord> group;
  std::uint64_t seq = journal.last_seq();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    group.push_back(JournalRecord{0, "", static_cast<std::int64_t>(i), bodies[i]});
    if (group.size() == 7 || i + 1 == bodies.size()) {
      REQUIRE(journal.append(group).ok());
      for (auto& r : group) {
        r.seq = ++seq;
        r.run_id = journal.run_id();
        REQUIRE(state.apply(r).ok());
      }
      group.clear();
    }
  }
  return state;
}

std::unique_ptr<Journal> open(const std::string& dir, std::uint64_t every, bool compact,
                              bool read_only = false) {
  JournalOptions options;
  options.run_id = read_only ? "" : "run-1";
  options.read_only = read_only;
  options.snapshot_every = every;
  options.compact = compact;
  auto journal = Journal::open(dir, options);
  INFO((journal ? std::string() : journal.error().str()));
  REQUIRE(journal.ok());
  return std::move(journal).value();
}

// Two states are equal when their snapshots are: the snapshot holds every field.
void check_same(const RunState& a, const RunState& b) {
  CHECK(a.last_seq() == b.last_seq());
  CHECK(a.counts().succeeded == b.counts().succeeded);
  CHECK(a.counts().dispatched == b.counts().dispatched);
  CHECK(encode_snapshot(a) == encode_snapshot(b));
}

}  // namespace

TEST_CASE("a snapshot decodes to the state it was taken of, field by field") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 0, false);
  const RunState state = write(*journal, history(50, 1));
  auto back = decode_snapshot(encode_snapshot(state), journal_decode_limits());
  REQUIRE(back.ok());
  CHECK(back->run_id() == state.run_id());
  CHECK(back->status() == state.status());
  CHECK(back->spec_hash() == state.spec_hash());
  CHECK(back->plan() == state.plan());
  REQUIRE(back->tasks().size() == state.tasks().size());
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskState& x = state.tasks()[i];
    const TaskState& y = back->tasks()[i];
    CHECK(std::tie(x.status, x.attempt, x.worker, x.batch, x.reason, x.files, x.ready_ms,
                   x.dispatched_ms, x.started_ms, x.finished_ms, x.lease_until_ms,
                   x.not_before_ms) ==
          std::tie(y.status, y.attempt, y.worker, y.batch, y.reason, y.files, y.ready_ms,
                   y.dispatched_ms, y.started_ms, y.finished_ms, y.lease_until_ms,
                   y.not_before_ms));
  }
  CHECK(back->workers().size() == state.workers().size());
  CHECK(back->counts().succeeded == state.counts().succeeded);
  CHECK(back->counts().total == state.counts().total);
  CHECK(back->find(TaskId("t/7")) != nullptr);
}

TEST_CASE("a damaged snapshot is refused with a reason") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 0, false);
  const std::string bytes = encode_snapshot(write(*journal, history(10, 2)));
  for (std::size_t cut : {std::size_t{0}, std::size_t{8}, bytes.size() / 2, bytes.size() - 8}) {
    auto back = decode_snapshot(bytes.substr(0, cut), journal_decode_limits());
    INFO(cut);
    REQUIRE_FALSE(back.ok());
    CHECK_THAT(back.error().str(), Catch::StartsWith("RunSnapshot: "));
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {  // flipped bytes: an error or a valid state, never a crash
    std::string damaged = bytes;
    damaged[rng() % damaged.size()] = static_cast<char>(rng());
    (void)decode_snapshot(damaged, journal_decode_limits());
  }
}

TEST_CASE("replay from snapshots equals the fold of every record") {
  test::TempDir dir("snapshot");
  const auto bodies = history(300, 4);
  RunState folded;
  {
    auto journal = open(dir / "journal", 100, false);
    folded = write(*journal, bodies);
    CHECK(journal->snapshots().size() == 2);  // the newest and one to fall back on
    CHECK(journal->snapshots().back() <= journal->last_seq());
  }
  auto reader = open(dir / "journal", 100, false, true);
  auto replayed = reader->replay();
  REQUIRE(replayed.ok());
  check_same(*replayed, folded);

  SECTION("and the journal goes on folding after a reopen") {
    reader.reset();
    auto journal = open(dir / "journal", 100, false);
    auto state = journal->replay();
    REQUIRE(state.ok());
    const auto before = journal->snapshots();
    RunState more = *state;
    std::uint64_t seq = journal->last_seq();
    for (int i = 0; i < 150; ++i) {
      JournalRecord r{0, "", 1, rec::WorkerJoined{"w" + std::to_string(i), 1, "a"}};
      REQUIRE(journal->append({r}).ok());
      r.seq = ++seq;
      r.run_id = "run-1";
      REQUIRE(more.apply(r).ok());
    }
    CHECK(journal->snapshots() != before);
    journal.reset();
    auto again = open(dir / "journal", 100, false, true)->replay();
    REQUIRE(again.ok());
    check_same(*again, more);
  }
}

TEST_CASE("snapshot_every = 0 writes no snapshot") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 0, false);
  write(*journal, history(100, 5));
  CHECK(journal->snapshots().empty());
}

TEST_CASE("compaction drops covered records and replay still gives the same state") {
  test::TempDir dir("snapshot");
  RunState folded;
  {
    auto journal = open(dir / "journal", 100, true);
    folded = write(*journal, history(300, 6));
  }
  auto reader = open(dir / "journal", 100, true, true);
  std::uint64_t first = 0;
  REQUIRE(reader->scan(1, [&](const JournalRecord& r) {
    first = r.seq;
    return false;
  }).ok());
  CHECK(first > 1);
  CHECK(first <= reader->snapshots().front() + 1);
  auto replayed = reader->replay();
  REQUIRE(replayed.ok());
  check_same(*replayed, folded);
}

namespace {

// Overwrites the snapshot stored at `seq` with garbage, through RocksDB itself.
void damage_snapshot(const std::string& dir, std::uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) key[static_cast<std::size_t>(i)] = static_cast<char>(seq);
  rocksdb::DBOptions options;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, {}}, {"meta", {}}, {"snapshots", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(options, dir, families, &handles, &db).ok());
  REQUIRE(db->Put({}, handles[2], key, "not a snapshot at all").ok());
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

}  // namespace

TEST_CASE("a damaged snapshot falls back to an older one, or to the records") {
  test::TempDir dir("snapshot");
  RunState folded;
  std::vector<std::uint64_t> snapshots;
  {
    auto journal = open(dir / "journal", 100, false);
    folded = write(*journal, history(300, 7));
    snapshots = journal->snapshots();
  }
  REQUIRE(snapshots.size() == 2);
  damage_snapshot(dir / "journal", snapshots.back());
  auto replayed = open(dir / "journal", 100, false, true)->replay();
  REQUIRE(replayed.ok());
  check_same(*replayed, folded);

  damage_snapshot(dir / "journal", snapshots.front());  // both: the full history still there
  replayed = open(dir / "journal", 100, false, true)->replay();
  REQUIRE(replayed.ok());
  check_same(*replayed, folded);
}

TEST_CASE("with the history compacted away, unreadable snapshots are an error naming them") {
  test::TempDir dir("snapshot");
  std::vector<std::uint64_t> snapshots;
  {
    auto journal = open(dir / "journal", 100, true);
    write(*journal, history(300, 8));
    snapshots = journal->snapshots();
  }
  for (auto seq : snapshots) damage_snapshot(dir / "journal", seq);
  auto replayed = open(dir / "journal", 100, true, true)->replay();
  REQUIRE_FALSE(replayed.ok());
  CHECK_THAT(replayed.error().str(),
             Catch::StartsWith("journal " + (dir / "journal") + ": snapshot at record " +
                               std::to_string(snapshots.back()) + ": RunSnapshot: "));
}
