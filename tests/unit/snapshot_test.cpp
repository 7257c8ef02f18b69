// Snapshots of the run state: the codec round trip and its checks of untrusted bytes, and a
// journal that writes snapshots as it goes replays to the same state as the fold of all its
// records, also after compaction, with damaged snapshots and on journals older than snapshots.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <rocksdb/db.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "protocol/br.capnp.h"
#include "protocol/codec.hpp"
#include "storage/journal.hpp"
#include "tests/support/raw_journal.hpp"
#include "tests/support/run_history.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

constexpr const char* kRun = "run-1";

// The fold of `bodies` as records 1..n of run kRun.
RunState fold(const std::vector<RecordBody>& bodies) {
  RunState state;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    auto ok = state.apply(JournalRecord{i + 1, kRun, static_cast<std::int64_t>(i), bodies[i]});
    INFO((ok ? std::string() : ok.error().str()));
    REQUIRE(ok.ok());
  }
  return state;
}

// Appends `bodies` in groups of 1 to 9 records (as the graph actor does) and returns the fold.
// Waits for the snapshot thread after each group, so where snapshots fall is deterministic.
RunState write(Journal& journal, const std::vector<RecordBody>& bodies, std::uint64_t seed = 1) {
  std::mt19937 rng(static_cast<std::mt19937::result_type>(seed));
  std::vector<JournalRecord> group;
  std::size_t group_size = 1 + rng() % 9;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    group.push_back(JournalRecord{0, "", static_cast<std::int64_t>(i), bodies[i]});
    if (group.size() == group_size || i + 1 == bodies.size()) {
      auto seq = journal.append(group);
      INFO((seq ? std::string() : seq.error().str()));
      REQUIRE(seq.ok());
      journal.wait_for_snapshots();
      group.clear();
      group_size = 1 + rng() % 9;
    }
  }
  return fold(bodies);
}

std::unique_ptr<Journal> open(const std::string& dir, std::uint64_t every, bool compact,
                              bool read_only = false) {
  JournalOptions options;
  options.run_id = read_only ? "" : kRun;
  options.read_only = read_only;
  options.snapshot_every = every;
  options.compact = compact;
  auto journal = Journal::open(dir, options);
  INFO((journal ? std::string() : journal.error().str()));
  REQUIRE(journal.ok());
  return std::move(journal).value();
}

RunState replay(const Journal& journal) {
  auto state = journal.replay();
  INFO((state ? std::string() : state.error().str()));
  REQUIRE(state.ok());
  return std::move(state).value();
}

// Equal states, and where they differ the first field that does (for a readable failure).
void check_same(const RunState& a, const RunState& b) {
  CHECK(a.last_seq() == b.last_seq());
  CHECK(a.run_id() == b.run_id());
  CHECK(a.status() == b.status());
  CHECK(a.plan() == b.plan());
  REQUIRE(a.tasks().size() == b.tasks().size());
  for (std::size_t i = 0; i < a.tasks().size(); ++i) {
    INFO("task " << a.plan().tasks[i].id.str());
    CHECK(a.tasks()[i] == b.tasks()[i]);
  }
  CHECK(a.workers() == b.workers());
  CHECK(a.counts() == b.counts());
  CHECK(a == b);
}

// Rewrites a snapshot through Cap'n Proto, so tests can forge values the encoder never writes.
std::string forge(const std::string& bytes,
                  const std::function<void(wire::RunSnapshot::Builder)>& change) {
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader reader(words.asPtr());
  capnp::MallocMessageBuilder message;
  message.setRoot(reader.getRoot<wire::RunSnapshot>());
  change(message.getRoot<wire::RunSnapshot>());
  auto out = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(out.asBytes().begin()), out.asBytes().size());
}

using test::seq_key;
using test::with_rocksdb;

void damage_snapshot(const std::string& dir, std::uint64_t seq) {
  with_rocksdb(dir, [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Put({}, cf[2], seq_key(seq), "not a snapshot at all").ok());
  });
}

void damage_record(const std::string& dir, std::uint64_t seq) {
  with_rocksdb(dir, [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Put({}, cf[0], seq_key(seq), "not a record").ok());
  });
}

// A journal at `dir` with compaction on, snapshots every 100 records, holding a random history
// of 2,500 records (from `seed`): the state it folds to and the two snapshots kept.
struct Compacted {
  RunState folded;
  std::vector<std::uint64_t> snapshots;
};
Compacted write_compacted(const std::string& dir, std::uint64_t seed) {
  Compacted out;
  auto journal = open(dir, 100, true);
  out.folded = write(*journal, test::random_history(200, 2500, seed));
  out.snapshots = journal->snapshots();
  REQUIRE(out.snapshots.size() == 2);
  return out;
}

}  // namespace

TEST_CASE("a snapshot decodes to the state it was taken of, field by field") {
  const RunState state = fold(test::random_history(200, 700, 1));
  // The history reaches every status worth keeping, so every TaskState field is exercised.
  CHECK(state.counts().succeeded > 0);
  CHECK(state.counts().pending + state.counts().ready + state.counts().dispatched +
            state.counts().running + state.counts().retrying >
        0);
  auto back = decode_snapshot(encode_snapshot(state), journal_decode_limits());
  INFO((back ? std::string() : back.error().str()));
  REQUIRE(back.ok());
  check_same(*back, state);
  CHECK(back->spec_path() == state.spec_path());
  CHECK(back->spec_hash() == state.spec_hash());
  CHECK(back->has_plan());
  for (const auto& task : state.plan().tasks)
    CHECK(back->index_of(task.id) == state.index_of(task.id));

  SECTION("also before a plan and with workers only") {
    RunState early;
    REQUIRE(early.apply(JournalRecord{1, kRun, 5, rec::WorkerJoined{"w", 2, "a:1"}}).ok());
    auto again = decode_snapshot(encode_snapshot(early), journal_decode_limits());
    REQUIRE(again.ok());
    CHECK_FALSE(again->has_plan());
    CHECK(*again == early);
  }
}

TEST_CASE("truncated or garbage snapshot bytes are refused with a reason") {
  const std::string bytes = encode_snapshot(fold(test::random_history(20, 200, 2)));
  struct Case {
    std::string bytes;
    std::string error;
  };
  const Case cases[] = {
      {"", "RunSnapshot: empty message"},
      {bytes.substr(0, bytes.size() - 3), "RunSnapshot: message of " +
                                              std::to_string(bytes.size() - 3) +
                                              " bytes is truncated (not a whole number of "
                                              "8-byte words)"},
      {bytes.substr(0, 8), "RunSnapshot: malformed: "},
      {bytes.substr(0, bytes.size() / 16 * 8), "RunSnapshot: malformed: "},
      {std::string(64, '\xff'), "RunSnapshot: malformed: "},
  };
  for (const auto& c : cases) {
    INFO(c.error);
    auto back = decode_snapshot(c.bytes, journal_decode_limits());
    REQUIRE_FALSE(back.ok());
    CHECK_THAT(back.error().str(), Catch::StartsWith(c.error));
  }
  DecodeLimits small = journal_decode_limits();
  small.max_bytes = 1024;
  auto big = decode_snapshot(bytes, small);
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(big.error().str(), Catch::Contains("exceeds the limit of 1024 bytes"));

  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {  // flipped bytes: an error or a valid state, never a crash
    std::string damaged = bytes;
    damaged[rng() % damaged.size()] = static_cast<char>(rng());
    (void)decode_snapshot(damaged, journal_decode_limits());
  }
}

TEST_CASE("a snapshot that decodes but does not make sense is refused") {
  const RunState state = fold(test::random_history(20, 300, 4));
  const std::string bytes = encode_snapshot(state);
  const std::size_t n = state.plan().tasks.size();  // 20, or 22 after the history's replan
  struct Case {
    const char* what;
    std::function<void(wire::RunSnapshot::Builder)> change;
    std::string error;
  };
  const Case cases[] = {
      {"newer schema", [](auto s) { s.setSchemaVersion(kJournalSchemaVersion + 1); },
       "RunSnapshot: snapshot schema " + std::to_string(kJournalSchemaVersion + 1) +
           " is not one this br reads (up to " + std::to_string(kJournalSchemaVersion) + ")"},
      {"unknown task status", [](auto s) { s.getTasks()[3].setStatus(42); },
       "RunSnapshot: unknown task status value 42"},
      {"unknown run status", [](auto s) { s.setStatus(9); },
       "RunSnapshot: unknown run status value 9"},
      {"a task state missing",
       [](auto s) {
         auto tasks = s.getTasks();
         auto fewer = s.initTasks(tasks.size() - 1);  // the old list is orphaned, not copied
         (void)fewer;
       },
       "RunSnapshot: snapshot has " + std::to_string(n - 1) + " task states for " +
           std::to_string(n) + " tasks"},
      {"duplicate task id",
       [](auto s) { s.getPlan().getTasks()[5].setId(s.getPlan().getTasks()[4].getId()); },
       "RunSnapshot: snapshot has duplicate task id 't/4'"},
      {"duplicate worker", [](auto s) { s.getWorkers()[1].setName(s.getWorkers()[0].getName()); },
       "RunSnapshot: snapshot has duplicate worker 'w1'"},
      {"a dispatched task without an attempt",
       [](auto s) {
         s.getTasks()[0].setStatus(static_cast<std::uint8_t>(TaskStatus::running));
         s.getTasks()[0].setAttempt(0);
       },
       "RunSnapshot: snapshot has task 't/0' running without an attempt"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto back = decode_snapshot(forge(bytes, c.change), journal_decode_limits());
    REQUIRE_FALSE(back.ok());
    CHECK(back.error().str() == c.error);
  }
}

TEST_CASE("progress counts are recounted from the task states, not trusted") {
  const RunState state = fold(test::random_history(30, 400, 5));
  auto back = decode_snapshot(forge(encode_snapshot(state),
                                    [](auto s) {
                                      for (auto t : s.getTasks()) {
                                        t.setStatus(static_cast<std::uint8_t>(TaskStatus::pending));
                                      }
                                    }),
                              journal_decode_limits());
  REQUIRE(back.ok());
  CHECK(state.counts().pending < state.counts().total);
  CHECK(back->counts().pending == state.counts().total);
  CHECK(back->counts().succeeded == 0);
  CHECK(back->counts().total == state.counts().total);
}

TEST_CASE("replay from snapshots equals the fold of every record") {
  test::TempDir dir("snapshot");
  const auto bodies = test::random_history(1000, 4000, 6);
  REQUIRE(bodies.size() >= 3000);
  RunState folded;
  RunState without;
  {
    auto with_snapshots = open(dir / "with", 97, false);
    folded = write(*with_snapshots, bodies);
    CHECK(with_snapshots->snapshots().size() == 2);  // the newest and one to fall back on
    CHECK(with_snapshots->stats().snapshots >= bodies.size() / (97 + 8));
    CHECK(with_snapshots->stats().snapshotting);
    auto plain = open(dir / "without", 0, false);
    write(*plain, bodies);
    CHECK(plain->snapshots().empty());
    without = replay(*open(dir / "without", 0, false, true));
  }
  check_same(without, folded);
  check_same(replay(*open(dir / "with", 97, false, true)), folded);  // read-only, as br status
  check_same(replay(*open(dir / "with", 97, false)), folded);        // for writing, as br resume

  SECTION("and reads only the records after the newest snapshot") {
    std::uint64_t newest = 0;
    {
      auto journal = open(dir / "with", 97, false, true);
      newest = journal->snapshots().back();
    }
    damage_record(dir / "with", newest - 5);  // covered by the snapshot: never read
    check_same(replay(*open(dir / "with", 97, false, true)), folded);
    damage_record(dir / "with", newest + 1);
    auto broken = open(dir / "with", 97, false, true)->replay();
    REQUIRE_FALSE(broken.ok());
    CHECK_THAT(broken.error().str(),
               Catch::Contains("record " + std::to_string(newest + 1) + ": JournalRecord: "));
  }

  SECTION("and the journal goes on folding after a reopen, from its last snapshot") {
    RunState more = folded;
    std::uint64_t seq = folded.last_seq();
    const auto append = [&](Journal& journal, int i) {
      JournalRecord r{0, "", 1, rec::WorkerJoined{"w" + std::to_string(i), 1, "a"}};
      REQUIRE(journal.append({r}).ok());
      journal.wait_for_snapshots();
      r.seq = ++seq;
      r.run_id = kRun;
      REQUIRE(more.apply(r).ok());
    };
    {
      auto without = open(dir / "with", 0, false);  // records past the last snapshot
      for (int i = 0; i < 10; ++i) append(*without, i);
    }
    auto journal = open(dir / "with", 97, false);  // no replay(): seeded at open
    const std::uint64_t last_snapshot = journal->snapshots().back();
    REQUIRE(seq > last_snapshot);
    for (int i = 10; i < 160; ++i) append(*journal, i);
    // Counted from the snapshot it started at, not from the reopen.
    CHECK(journal->snapshots().back() == last_snapshot + 97 * ((seq - last_snapshot) / 97));
    check_same(replay(*journal), more);
    journal.reset();
    check_same(replay(*open(dir / "with", 97, false, true)), more);
  }
}

TEST_CASE("snapshots name their plan, stored once; a plan no kept snapshot names is dropped") {
  test::TempDir dir("snapshot");
  const auto bodies = test::random_history(1000, 4000, 6);  // one planRevised past the middle
  RunState folded;
  {
    auto journal = open(dir / "journal", 97, false);
    folded = write(*journal, bodies);
  }
  std::uint64_t revised_at = 0;
  {
    auto reader = open(dir / "journal", 97, false, true);
    REQUIRE(reader
                ->scan(1,
                       [&](const JournalRecord& r) {
                         if (std::holds_alternative<rec::PlanRevised>(r.body)) revised_at = r.seq;
                         return true;
                       })
                .ok());
  }
  REQUIRE(revised_at != 0);
  CHECK(folded.plan_seq() == revised_at);
  // Keys of the snapshots family by their first byte: snapshots (0), their index ('i'),
  // plans' parts ('p' + seq + part) and the plans' index ('q' + seq: the number of parts).
  std::map<char, std::vector<std::pair<std::string, std::size_t>>> keys;
  test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      keys[key.size() == 8 ? '\0' : key[0]].emplace_back(key, it->value().size());
    }
  });
  REQUIRE(keys['\0'].size() == 2);
  CHECK(keys['i'].size() == 2);
  // Both kept snapshots are past the replan: the first plan is gone, the revised one is kept.
  REQUIRE(keys['p'].size() == 1);  // 1,002 tasks: one part
  CHECK(keys['p'][0].first == "p" + seq_key(revised_at) + std::string(4, '\0'));
  REQUIRE(keys['q'].size() == 1);
  CHECK(keys['q'][0].first == "q" + seq_key(revised_at));
  for (const auto& [key, size] : keys['\0']) CHECK(size < keys['p'][0].second);
  check_same(replay(*open(dir / "journal", 97, false, true)), folded);

  SECTION("a snapshot whose plan is lost is skipped, and the records replay instead") {
    test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
      REQUIRE(db.Delete({}, cf[2], "p" + seq_key(revised_at) + std::string(4, '\0')).ok());
    });
    check_same(replay(*open(dir / "journal", 97, false, true)), folded);
  }
}

TEST_CASE("with the history compacted, a lost plan is an error that names it") {
  test::TempDir dir("snapshot");
  {
    auto journal = open(dir / "journal", 97, true);
    write(*journal, test::random_history(1000, 4000, 6));
  }
  std::vector<std::string> plans;
  test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() == 13 && it->key()[0] == 'p') plans.push_back(it->key().ToString());
    }
    REQUIRE(plans.size() == 1);
    REQUIRE(db.Delete({}, cf[2], plans[0]).ok());
  });
  auto replayed = open(dir / "journal", 97, true, true)->replay();
  REQUIRE_FALSE(replayed.ok());
  CHECK_THAT(replayed.error().str(), Catch::Contains("its plan (record "));
  CHECK_THAT(replayed.error().str(), Catch::Contains("): part 0 cannot be read"));
}

TEST_CASE("a plan of several parts is put together again in order") {
  test::TempDir dir("snapshot");
  RunState folded;
  {
    auto journal = open(dir / "journal", 97, false);
    folded = write(*journal, test::random_history(9000, 400, 14));  // 3 parts of 4,096 tasks
  }
  std::size_t parts = 0;
  test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf[2]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) parts += it->key()[0] == 'p';
  });
  CHECK(parts == 3);
  check_same(replay(*open(dir / "journal", 97, false, true)), folded);
}

TEST_CASE("snapshot_every = 0 writes no snapshot") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 0, false);
  write(*journal, test::random_history(100, 1000, 7));
  CHECK(journal->snapshots().empty());
  CHECK(journal->stats().snapshots == 0);
  CHECK_FALSE(journal->stats().snapshotting);
}

TEST_CASE("compaction drops covered records and replay still gives the same state") {
  test::TempDir dir("snapshot");
  const Compacted history = write_compacted(dir / "journal", 8);
  const RunState& folded = history.folded;
  const std::vector<std::uint64_t>& snapshots = history.snapshots;
  auto reader = open(dir / "journal", 100, true, true);
  // scan() starts at the first record left: the one after the older snapshot.
  std::uint64_t first = 0, count = 0;
  REQUIRE(reader
              ->scan(1,
                     [&](const JournalRecord& r) {
                       if (first == 0) first = r.seq;
                       ++count;
                       return true;
                     })
              .ok());
  CHECK(first == snapshots.front() + 1);
  CHECK(count == folded.last_seq() - snapshots.front());
  check_same(replay(*reader), folded);
}

TEST_CASE("the first record left is known without reading it, also in journals from before") {
  test::TempDir dir("snapshot");
  const Compacted history = write_compacted(dir / "journal", 9);
  const RunState& folded = history.folded;
  const std::vector<std::uint64_t>& snapshots = history.snapshots;
  std::string first;
  with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Get({}, cf[1], "first_record", &first).ok());
  });
  CHECK(first == std::to_string(snapshots.front() + 1));
  check_same(replay(*open(dir / "journal", 100, true, true)), folded);

  SECTION("without the key, as before it was kept: the records say it") {
    with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
      REQUIRE(db.Delete({}, cf[1], "first_record").ok());
    });
    check_same(replay(*open(dir / "journal", 100, true, true)), folded);
  }
  SECTION("a key that says too little is not trusted") {
    with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
      REQUIRE(db.Put({}, cf[1], "first_record", "12x").ok());
    });
    check_same(replay(*open(dir / "journal", 100, true, true)), folded);
  }
}

TEST_CASE("a damaged snapshot falls back to an older one, or to the records") {
  test::TempDir dir("snapshot");
  RunState folded;
  std::vector<std::uint64_t> snapshots;
  {
    auto journal = open(dir / "journal", 100, false);
    folded = write(*journal, test::random_history(200, 2500, 9));
    snapshots = journal->snapshots();
  }
  REQUIRE(snapshots.size() == 2);
  damage_snapshot(dir / "journal", snapshots.back());
  check_same(replay(*open(dir / "journal", 100, false, true)), folded);

  SECTION("both damaged: the full history is still there") {
    damage_snapshot(dir / "journal", snapshots.front());
    check_same(replay(*open(dir / "journal", 100, false, true)), folded);
  }
  SECTION("a snapshot stored under another record's key does not fit") {
    with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
      std::string bytes;
      REQUIRE(db.Get({}, cf[2], seq_key(snapshots.front()), &bytes).ok());
      REQUIRE(db.Put({}, cf[2], seq_key(snapshots.back()), bytes).ok());
    });
    check_same(replay(*open(dir / "journal", 100, false, true)), folded);
  }
  SECTION("opening for writing drops it, so snapshots kept are readable") {
    auto journal = open(dir / "journal", 100, false);
    check_same(replay(*journal), folded);
    CHECK(journal->snapshots() == std::vector<std::uint64_t>{snapshots.front()});
  }
}

TEST_CASE("with the history compacted away, unreadable snapshots are an error naming them") {
  test::TempDir dir("snapshot");
  const std::vector<std::uint64_t> snapshots = write_compacted(dir / "journal", 10).snapshots;
  for (auto seq : snapshots) damage_snapshot(dir / "journal", seq);
  const std::string expected = "journal " + (dir / "journal") + ": snapshot at record " +
                               std::to_string(snapshots.back()) + ": RunSnapshot: ";
  auto replayed = open(dir / "journal", 100, true, true)->replay();
  REQUIRE_FALSE(replayed.ok());
  CHECK_THAT(replayed.error().str(), Catch::StartsWith(expected));
  CHECK_THAT(replayed.error().str(),
             Catch::Contains("records 1 to " + std::to_string(snapshots.front()) +
                             " were compacted into snapshots"));
  // Opening for writing reports the same and keeps the damaged snapshots as evidence.
  auto journal = open(dir / "journal", 100, true);
  CHECK_FALSE(journal->stats().snapshotting);
  auto again = journal->replay();
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.error().str(), Catch::StartsWith(expected));
  CHECK(journal->snapshots() == snapshots);
}

TEST_CASE("a record that does not fold stops snapshots, not appends") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 10, false);
  write(*journal, test::random_history(20, 25, 11));
  const auto before = journal->snapshots();
  REQUIRE(journal->stats().snapshotting);
  REQUIRE(journal->append({JournalRecord{0, "", 1, rec::TaskReady{TaskId("no/such-task")}}}).ok());
  for (int i = 0; i < 30; ++i) {
    REQUIRE(journal->append({JournalRecord{0, "", 1, rec::WorkerJoined{"w", 1, "a"}}}).ok());
  }
  journal->wait_for_snapshots();
  CHECK_FALSE(journal->stats().snapshotting);
  CHECK(journal->snapshots() == before);
  auto replayed = journal->replay();  // read from the journal, which reports the bad record
  REQUIRE_FALSE(replayed.ok());
  CHECK_THAT(replayed.error().str(), Catch::Contains("(taskReady): taskReady names unknown task"));
}

TEST_CASE("a journal from before snapshots opens, replays and gets snapshots") {
  test::TempDir dir("snapshot");
  const auto bodies = test::random_history(50, 600, 12);
  RunState folded;
  {
    auto journal = open(dir / "journal", 0, false);
    folded = write(*journal, bodies);
  }
  with_rocksdb(dir / "journal",
               [](rocksdb::DB& db, auto& cf) { REQUIRE(db.DropColumnFamily(cf[2]).ok()); });
  check_same(replay(*open(dir / "journal", 100, false, true)), folded);  // read-only: as it is
  auto journal = open(dir / "journal", 100, false);                      // adds the family
  check_same(replay(*journal), folded);
  REQUIRE(journal->append({JournalRecord{0, "", 1, rec::WorkerJoined{"w9", 1, "a"}}}).ok());
  journal->wait_for_snapshots();
  // The first snapshot comes at once: the whole history is past due.
  CHECK(journal->snapshots() == std::vector<std::uint64_t>{folded.last_seq() + 1});
}

TEST_CASE("a journal from before the snapshot index lists its snapshots and gets the index") {
  test::TempDir dir("snapshot");
  RunState folded;
  std::vector<std::uint64_t> snapshots;
  {
    auto journal = open(dir / "journal", 100, false);
    folded = write(*journal, test::random_history(200, 2500, 13));
    snapshots = journal->snapshots();
  }
  REQUIRE(snapshots.size() == 2);
  // What an older br left: the snapshots, no index entries ('i' keys), no index flag.
  const auto index_keys = [&] {
    std::vector<std::string> keys;
    test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
      std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf[2]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().size() == 9 && it->key()[0] == 'i') keys.push_back(it->key().ToString());
      }
    });
    return keys;
  };
  REQUIRE(index_keys().size() == 2);
  test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Delete({}, cf[1], "snapshot_index").ok());
    for (auto seq : snapshots) REQUIRE(db.Delete({}, cf[2], "i" + seq_key(seq)).ok());
  });
  REQUIRE(index_keys().empty());
  {
    auto reader = open(dir / "journal", 100, false, true);
    CHECK(reader->snapshots() == snapshots);
    check_same(replay(*reader), folded);
  }
  CHECK(index_keys().empty());  // a read-only open changes nothing
  {
    auto journal = open(dir / "journal", 100, false);
    CHECK(journal->snapshots() == snapshots);
    check_same(replay(*journal), folded);
  }
  CHECK(index_keys().size() == 2);
  // And the index alone is what is listed now: a snapshot without an entry is not seen.
  test::with_rocksdb(dir / "journal", [&](rocksdb::DB& db, auto& cf) {
    REQUIRE(db.Delete({}, cf[2], "i" + seq_key(snapshots.back())).ok());
  });
  CHECK(open(dir / "journal", 100, false, true)->snapshots() ==
        std::vector<std::uint64_t>{snapshots.front()});
}

TEST_CASE("the disk keeps the two newest snapshots, not every snapshot ever taken") {
  test::TempDir dir("snapshot");
  auto journal = open(dir / "journal", 50, false);
  const RunState folded = write(*journal, test::random_history(300, 3000, 11));
  REQUIRE(journal->stats().snapshots >= 40);
  CHECK(journal->snapshots().size() == 2);
  // Each snapshot holds the whole plan (~300 tasks here): had dropped ones stayed on disk in
  // files of their own, the directory would hold 40 of them.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "journal")) {
    const auto ext = entry.path().extension();
    files += ext == ".sst" || ext == ".blob" ? 1 : 0;
  }
  CHECK(files < 12);
  journal.reset();
  check_same(replay(*open(dir / "journal", 50, false, true)), folded);
}
