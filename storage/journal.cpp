// The RocksDB journal: group commit on a writer thread, run-state snapshots on a snapshot
// thread, and replay from the newest readable snapshot.
#include "storage/journal.hpp"

#include <malloc.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "protocol/codec.hpp"

namespace br {
namespace {

constexpr const char* kMetaFamily = "meta";
constexpr const char* kSnapshotFamily = "snapshots";
constexpr std::size_t kSnapshotsKept = 2;  // the newest, and one to fall back on
constexpr const char* kRunIdKey = "run_id";
constexpr const char* kSchemaKey = "schema_version";
// Present when every snapshot has an entry in the snapshot index (below). Journals from before
// the index lack it until their first open for writing adds the entries.
constexpr const char* kSnapshotIndexKey = "snapshot_index";
// The sequence number of the first record still stored, written with each compaction of the
// records. Journals from before it lack it and are asked with an iterator, which reads the
// first record's value too: the plan, 26 MB at 39k tasks, that a restart read once more.
constexpr const char* kFirstRecordKey = "first_record";
constexpr char kIndexPrefix = 'i';

std::string seq_key(std::uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[static_cast<std::size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

// The snapshot index: an empty value per snapshot, beside it in the snapshots family, so that
// listing the snapshots reads a few bytes. Listing the snapshots themselves positions an
// iterator on each, and RocksDB 7.8 reads a blob value (megabytes, checksummed) wherever its
// iterator stops: at 39k tasks that was half of a restart's CPU. Snapshot keys are 8 bytes
// starting with 0 (seq < 2^56), so the 9-byte index keys sort after all of them.
std::string index_key(std::uint64_t seq) { return kIndexPrefix + seq_key(seq); }

// Plans, stored once each beside the snapshots that name them, under the seq of their
// planCreated or planRevised record: in parts of kPlanPartTasks tasks ('p' + seq + part), and
// an index entry ('q' + seq) whose value is the number of parts, written with the first
// snapshot that names the plan. A snapshot without its plan is a tenth of the size, and no
// more than a part of a plan is ever encoded and held by RocksDB's memtable at once: a 39k-task
// plan written whole was 34 MB three times over (encoding, write batch, memtable).
constexpr char kPlanPrefix = 'p';
constexpr char kPlanIndexPrefix = 'q';
constexpr std::size_t kPlanPartTasks = 4096;
constexpr std::size_t kPlanFlushBytes = std::size_t{8} << 20;
constexpr std::uint32_t kMaxPlanParts = 1u << 20;
std::string plan_key(std::uint64_t seq) { return kPlanPrefix + seq_key(seq); }
std::string plan_part_key(std::uint64_t seq, std::uint32_t part) {
  std::string key = plan_key(seq);
  for (int shift = 24; shift >= 0; shift -= 8) key += static_cast<char>((part >> shift) & 0xff);
  return key;
}
std::string plan_index_key(std::uint64_t seq) { return kPlanIndexPrefix + seq_key(seq); }

std::optional<std::uint64_t> key_seq(const rocksdb::Slice& key) {
  if (key.size() != 8) return std::nullopt;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<unsigned char>(key[i]);
  return seq;
}

// RocksDB's informational LOG file is not kept: it is one more file to fill a disk with, and
// Debian's RocksDB (built with assertions) aborts when writing it after a failed write, where
// br should report the error and stop cleanly. Journal failures reach br as Status values.
class DiscardLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*args*/) override {}
};

// A journal that cannot be read or written is the state dir's or the disk's problem, not the
// input's.
Error journal_error(const std::string& dir, const std::string& message,
                    ErrorCategory category = ErrorCategory::infrastructure) {
  return Error::of("journal " + dir + ": " + message, category);
}

// Turns RocksDB's open failures into messages that say what to do.
Error open_error(const std::string& dir, const rocksdb::Status& s) {
  const std::string what = s.ToString();
  // Checked before the lock: on a read-only directory, taking the lock is what fails first.
  if (what.find("Permission denied") != std::string::npos ||
      what.find("Read-only file system") != std::string::npos) {
    return journal_error(dir, "cannot write the state directory (" + what +
                                  "); make it writable or use another --state-dir (br status "
                                  "and br task list read it as it is)");
  }
  if (s.IsIOError() && what.find("lock") != std::string::npos) {
    return journal_error(dir, "in use by another br process (its RocksDB lock is held); stop "
                              "that process or use another --state-dir");
  }
  if (s.IsCorruption()) {
    return journal_error(dir, "is damaged (" + what + "), so br neither reads nor rewrites it; "
                              "restore the state dir from a backup, or move it away to start a "
                              "new run");
  }
  if (what.find("No space left") != std::string::npos) {
    return journal_error(dir, "the disk is full (" + what + "); free space and retry");
  }
  return journal_error(dir, "cannot open: " + what);
}

}  // namespace

class Journal::Impl {
 public:
  struct Pending {
    std::vector<std::string> encoded;
    std::vector<JournalRecord> records;  // the same, for the snapshot fold (when tracking)
    Done done;
  };
  // Queues a group for the writer thread (records kept only when tracking).
  void enqueue(Pending pending, std::vector<JournalRecord> records, Done done);
  // Durable records for the snapshot thread: they got sequence numbers first_seq + 1, ….
  struct Durable {
    std::uint64_t first_seq = 0;
    std::vector<JournalRecord> records;
  };
  // The fold of the stored journal, and what it started from.
  struct Folded {
    RunState state;
    std::uint64_t snapshot_seq = 0;            // the snapshot it started from; 0: none
    std::uint64_t snapshot_plan_seq = 0;       // the plan it names; 0: it holds its plan
    std::vector<std::uint64_t> bad_snapshots;  // skipped because they did not decode or fit
  };

  std::string dir;
  std::string run_id;
  bool read_only = false;
  std::size_t max_group_records = 65536;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* records_cf = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf = nullptr;
  rocksdb::ColumnFamilyHandle* snapshots_cf = nullptr;  // null: an old read-only journal
  std::uint64_t snapshot_every = 0;
  bool indexed = false;  // every snapshot has an index entry (kSnapshotIndexKey)
  bool compact = false;

  // The durable state, folded by the snapshot thread. Seeded at open; dropped for good (and
  // `tracking` cleared) if a record does not apply, since a snapshot must equal replay's fold.
  std::atomic<bool> tracking{false};
  mutable std::mutex track_mu;
  std::optional<RunState> tracked;      // guarded by track_mu
  std::uint64_t last_snapshot_seq = 0;  // guarded by track_mu
  std::vector<std::uint64_t> stored;    // guarded by track_mu: snapshot seqs, oldest first
  // Guarded by track_mu: the plans stored apart, and the plan each snapshot this process
  // knows names (0: it holds its own). A plan goes once no kept snapshot may name it.
  std::set<std::uint64_t> plans_stored;
  std::map<std::uint64_t, std::uint64_t> plan_of;
  std::uint64_t plans_dropped_below = 0;  // guarded by track_mu

  std::atomic<std::uint64_t> durable_seq{0};
  std::atomic<std::uint64_t> stat_records{0};
  std::atomic<std::uint64_t> stat_groups{0};
  std::atomic<std::uint64_t> stat_snapshots{0};

  std::mutex mu;
  std::condition_variable wake;
  std::deque<Pending> queue;    // guarded by mu
  bool stopping = false;        // guarded by mu
  std::optional<Error> broken;  // guarded by mu: after a failed write, every append fails
  std::thread writer;

  mutable std::mutex fold_mu;
  std::condition_variable fold_wake;
  mutable std::condition_variable fold_idle;
  std::deque<Durable> fold_queue;  // guarded by fold_mu
  bool fold_busy = false;          // guarded by fold_mu
  bool fold_stopping = false;      // guarded by fold_mu
  std::thread snapshotter;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    wake.notify_one();
    if (writer.joinable()) writer.join();
    // After the writer: it hands the snapshot thread its last groups before it ends.
    {
      std::lock_guard<std::mutex> lock(fold_mu);
      fold_stopping = true;
    }
    fold_wake.notify_one();
    if (snapshotter.joinable()) snapshotter.join();
    if (db) {
      // The records and meta keys go to table files now, so that the next open has no WAL
      // to replay into a memtable: a new run's first record (its plan, 26 MB at 39k tasks)
      // was read back that way while the same open folded it. Best effort: the WAL still
      // holds them.
      if (!read_only && records_cf && meta_cf) {
        rocksdb::FlushOptions flush;
        flush.wait = true;
        (void)db->Flush(flush, {records_cf, meta_cf});
      }
      if (records_cf) db->DestroyColumnFamilyHandle(records_cf);
      if (meta_cf) db->DestroyColumnFamilyHandle(meta_cf);
      if (snapshots_cf) db->DestroyColumnFamilyHandle(snapshots_cf);
      db.reset();
    }
  }

  // Folds durable groups into the tracked state and writes a snapshot when one is due. Runs
  // on the snapshot thread, so neither folding nor encoding delays a group commit; a backlog
  // is folded whole and then snapshotted once. Never fails an append: a snapshot is a cache.
  void fold(std::deque<Durable>& work) {
    std::lock_guard<std::mutex> lock(track_mu);
    if (!tracked) return;
    for (auto& group : work) {
      std::uint64_t seq = group.first_seq;
      for (auto& record : group.records) {
        record.seq = ++seq;
        if (!tracked->apply(std::move(record))) {  // folded once, then dropped
          tracked.reset();  // never snapshot a state that differs from replay's
          tracking = false;
          return;
        }
      }
    }
    if (tracked->last_seq() - last_snapshot_seq >= snapshot_every) write_snapshot(*tracked);
  }

  // A snapshot is one Put, so never torn. It does not go through the WAL: megabytes there
  // would lengthen the fsync of the next group commit. It is flushed to its own table file
  // instead (by RocksDB, off the write path), and only then are the snapshots no longer kept
  // and, with compaction, the records the older kept snapshot covers deleted: a crash before
  // the flush loses the snapshot (a cache) but never anything it stands for.
  void write_snapshot(const RunState& state) {
    // Tried once per `snapshot_every` records, whether or not it works: a cache is not worth
    // retrying on every group while the disk is full.
    last_snapshot_seq = state.last_seq();
    const std::uint64_t plan_seq = indexed ? state.plan_seq() : 0;
    const bool new_plan = plan_seq != 0 && plans_stored.count(plan_seq) == 0;
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    rocksdb::WriteBatch put;
    if (new_plan) {
      const auto parts = write_plan(state.plan(), plan_seq);
      if (!parts) return;
      put.Put(snapshots_cf, plan_index_key(plan_seq), std::to_string(*parts));
    }
    std::string bytes = encode_snapshot(state, plan_seq != 0);
    if (bytes.size() > journal_decode_limits().max_bytes) return;  // would never be read back
    put.Put(snapshots_cf, seq_key(state.last_seq()), bytes);
    // In the same batch and the same flush: the index never names a snapshot that is not there.
    put.Put(snapshots_cf, index_key(state.last_seq()), rocksdb::Slice());
    bytes.clear();
    if (!db->Write(no_wal, &put).ok()) return;
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (!db->Flush(flush, snapshots_cf).ok()) return;
    stat_snapshots.fetch_add(1);
    stored.push_back(state.last_seq());
    if (plan_seq != 0) plans_stored.insert(plan_seq);
    plan_of[state.last_seq()] = plan_seq;
    if (stored.size() <= kSnapshotsKept) return;
    stored.erase(stored.begin(), stored.end() - static_cast<std::ptrdiff_t>(kSnapshotsKept));
    plan_of.erase(plan_of.begin(), plan_of.lower_bound(stored.front()));
    rocksdb::WriteBatch drop;
    drop.DeleteRange(snapshots_cf, seq_key(0), seq_key(stored.front()));
    drop.DeleteRange(snapshots_cf, index_key(0), index_key(stored.front()));
    // Plans older than every plan a kept snapshot names; none while a kept snapshot's plan is
    // unknown (one from before this process that was not the one folded at open).
    std::uint64_t needed = std::numeric_limits<std::uint64_t>::max();
    bool known = true;
    for (std::uint64_t seq : stored) {
      auto it = plan_of.find(seq);
      if (it == plan_of.end()) {
        known = false;
      } else if (it->second != 0) {
        needed = std::min(needed, it->second);
      }
    }
    // Also the parts of a plan whose index a crash kept from being written.
    if (known && needed > plans_dropped_below) {
      drop.DeleteRange(snapshots_cf, plan_key(0), plan_key(needed));
      drop.DeleteRange(snapshots_cf, plan_index_key(0), plan_index_key(needed));
      plans_stored.erase(plans_stored.begin(), plans_stored.lower_bound(needed));
      plans_dropped_below = needed;
    }
    // Records up to the older kept snapshot are covered twice over.
    if (compact) {
      drop.DeleteRange(records_cf, seq_key(1), seq_key(stored.front() + 1));
      drop.Put(meta_cf, kFirstRecordKey, std::to_string(stored.front() + 1));
    }
    // Not synced on its own: the next synced append carries it to disk.
    (void)db->Write(rocksdb::WriteOptions(), &drop);
    // Compacting the references now (they are a few bytes each) lets the blob files of the
    // dropped snapshots go at once, so the disk holds the kept snapshots and little more.
    (void)db->CompactRange(rocksdb::CompactRangeOptions(), snapshots_cf, nullptr, nullptr);
    // The encoding, the batch and the flush were megabytes each: give them back to the OS
    // rather than leave them to fragment the heap.
    ::malloc_trim(0);
  }

  // Writes `plan` in parts (see kPlanPartTasks), without the WAL, flushed as they add up;
  // the snapshot's own flush covers the last ones. Returns the number of parts.
  std::optional<std::uint32_t> write_plan(const Plan& plan, std::uint64_t plan_seq) {
    const std::size_t tasks = plan.tasks.size();
    const auto parts =
        static_cast<std::uint32_t>(std::max<std::size_t>(1, (tasks + kPlanPartTasks - 1) / kPlanPartTasks));
    if (parts > kMaxPlanParts) return std::nullopt;
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    std::size_t unflushed = 0;
    for (std::uint32_t part = 0; part < parts; ++part) {
      std::string bytes = encode_plan_part(plan, part * kPlanPartTasks, kPlanPartTasks);
      if (bytes.size() > journal_decode_limits().max_bytes) return std::nullopt;
      rocksdb::WriteBatch batch;
      batch.Put(snapshots_cf, plan_part_key(plan_seq, part), bytes);
      unflushed += bytes.size();
      std::string().swap(bytes);
      if (!db->Write(no_wal, &batch).ok()) return std::nullopt;
      if (unflushed >= kPlanFlushBytes) {
        rocksdb::FlushOptions flush;
        flush.wait = true;
        if (!db->Flush(flush, snapshots_cf).ok()) return std::nullopt;
        unflushed = 0;
      }
    }
    return parts;
  }

  // The plan stored under `plan_seq`, put together from its parts.
  Result<Plan> read_plan(const rocksdb::ReadOptions& read, std::uint64_t plan_seq) const {
    const std::string what = "its plan (record " + std::to_string(plan_seq) + ")";
    std::string count;
    if (!db->Get(read, snapshots_cf, plan_index_key(plan_seq), &count).ok()) {
      return Error::of(what + " cannot be read");
    }
    std::uint32_t parts = 0;
    const auto parsed = std::from_chars(count.data(), count.data() + count.size(), parts);
    if (parsed.ec != std::errc() || parsed.ptr != count.data() + count.size() || parts == 0 ||
        parts > kMaxPlanParts) {
      return Error::of(what + " has a malformed index entry");
    }
    // Each part is read (a checksum over megabytes: Debian's RocksDB has no hardware CRC32C)
    // and decoded by one of two threads, the second taking the later half of the parts;
    // they are joined in order.
    DecodeLimits limits = journal_decode_limits();
    limits.second_thread = false;
    const auto read_parts = [&](std::uint32_t from, std::uint32_t to,
                                std::vector<Plan>& out) -> Status {
      for (std::uint32_t part = from; part < to; ++part) {
        rocksdb::PinnableSlice bytes;
        if (!db->Get(read, snapshots_cf, plan_part_key(plan_seq, part), &bytes).ok()) {
          return Error::of(what + ": part " + std::to_string(part) + " cannot be read");
        }
        auto decoded = decode<Plan>(std::string_view(bytes.data(), bytes.size()), limits);
        if (!decoded) return Error::of(what + ": " + decoded.error().str());
        out.push_back(std::move(decoded).value());
      }
      return Ok{};
    };
    const std::uint32_t half = parts >= 2 ? parts / 2 : parts;
    std::vector<Plan> first_parts, second_parts;
    std::future<Status> second;
    if (half < parts) {
      second = std::async(std::launch::async,
                          [&] { return read_parts(half, parts, second_parts); });
    }
    Status first = read_parts(0, half, first_parts);
    if (second.valid()) {
      Status later = second.get();
      if (first && !later) first = later;
    }
    if (!first) return first.error();
    Plan plan;
    plan.title = std::move(first_parts.front().title);
    plan.overview = std::move(first_parts.front().overview);
    plan.features = std::move(first_parts.front().features);
    plan.tasks.reserve(std::size_t{parts} * kPlanPartTasks);
    for (auto* list : {&first_parts, &second_parts}) {
      for (Plan& part : *list) {
        std::move(part.tasks.begin(), part.tasks.end(), std::back_inserter(plan.tasks));
        part.tasks = {};  // the moved-from strings' part of the heap goes now, not at the end
      }
    }
    return plan;
  }

  void snapshot_loop() {
    for (;;) {
      std::deque<Durable> work;
      {
        std::unique_lock<std::mutex> lock(fold_mu);
        fold_wake.wait(lock, [&] { return !fold_queue.empty() || fold_stopping; });
        if (fold_queue.empty()) return;  // stopping, and everything handed over is folded
        work.swap(fold_queue);
        fold_busy = true;
      }
      fold(work);
      {
        std::lock_guard<std::mutex> lock(fold_mu);
        fold_busy = false;
      }
      fold_idle.notify_all();
    }
  }

  void wait_for_snapshots() const {
    std::unique_lock<std::mutex> lock(fold_mu);
    fold_idle.wait(lock, [&] { return fold_queue.empty() && !fold_busy; });
  }

  // `view` (a RocksDB snapshot, or null for the latest) makes several reads agree with each
  // other while the snapshot thread writes and compacts.
  // `visit` may move from the record it is given: each is decoded for it alone.
  Status scan(std::uint64_t from_seq, const std::function<bool(JournalRecord&)>& visit,
              const rocksdb::Snapshot* view) const {
    rocksdb::ReadOptions read;
    read.fill_cache = false;  // a scan reads everything once
    read.readahead_size = 2 << 20;
    read.snapshot = view;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, records_cf));
    const auto limits = journal_decode_limits();
    for (it->Seek(seq_key(from_seq)); it->Valid(); it->Next()) {
      auto seq = key_seq(it->key());
      if (!seq) return journal_error(dir, "record with a malformed key");
      auto record =
          decode<JournalRecord>(std::string_view(it->value().data(), it->value().size()), limits);
      if (!record) {
        return journal_error(dir, "record " + std::to_string(*seq) + ": " + record.error().str());
      }
      record->seq = *seq;
      if (!visit(*record)) return Ok{};
    }
    if (!it->status().ok()) return journal_error(dir, "read failed: " + it->status().ToString());
    return Ok{};
  }

  std::vector<std::uint64_t> snapshot_seqs(const rocksdb::Snapshot* view = nullptr) const {
    std::vector<std::uint64_t> out;
    if (!snapshots_cf) return out;
    rocksdb::ReadOptions read;
    read.snapshot = view;
    if (!indexed) {  // a journal from before the index: each step reads a snapshot
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, snapshots_cf));
      for (it->SeekToFirst(); it->Valid() && it->key().size() == 8; it->Next()) {
        if (auto seq = key_seq(it->key())) out.push_back(*seq);
      }
      return out;
    }
    return indexed_seqs(kIndexPrefix, view);
  }

  // The seqs of an index (kIndexPrefix, kPlanIndexPrefix), ascending. Reads only its keys.
  std::vector<std::uint64_t> indexed_seqs(char prefix, const rocksdb::Snapshot* view) const {
    std::vector<std::uint64_t> out;
    rocksdb::ReadOptions read;
    read.snapshot = view;
    const std::string end(1, static_cast<char>(prefix + 1));
    const rocksdb::Slice upper(end);
    read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, snapshots_cf));
    for (it->Seek(std::string(1, prefix)); it->Valid(); it->Next()) {
      const rocksdb::Slice key = it->key();
      if (key.size() != 9) continue;
      if (auto seq = key_seq(rocksdb::Slice(key.data() + 1, 8))) out.push_back(*seq);
    }
    return out;
  }

  // The snapshot stored at `seq`, with its plan when that is stored apart.
  Result<RunState> read_snapshot(const rocksdb::ReadOptions& read, std::uint64_t seq,
                                 std::uint64_t& plan_seq) const {
    // Pinned: decoded where RocksDB read it, not copied into a string first.
    rocksdb::PinnableSlice bytes;
    if (!db->Get(read, snapshots_cf, seq_key(seq), &bytes).ok()) {
      return Error::of("it cannot be read");
    }
    auto parts = decode_snapshot_parts(std::string_view(bytes.data(), bytes.size()),
                                       journal_decode_limits());
    bytes.Reset();
    if (!parts) return parts.error();
    plan_seq = parts->plan_apart ? parts->plan_seq : 0;
    if (parts->plan_apart) {
      auto plan = read_plan(read, parts->plan_seq);
      if (!plan) return plan.error();
      parts->plan = std::move(plan).value();
    }
    auto state = RunState::restore(std::move(parts).value());
    if (!state) return Error::of("RunSnapshot: " + state.error().str());
    return state;
  }

  // Gives a journal from before the snapshot index its index, in one write with the key that
  // says it is there. Not synced: if it is lost, the next open for writing does it again.
  void add_snapshot_index() {
    if (indexed || read_only || !snapshots_cf) return;
    rocksdb::WriteBatch batch;
    for (std::uint64_t seq : snapshot_seqs()) {
      batch.Put(snapshots_cf, index_key(seq), rocksdb::Slice());
    }
    batch.Put(meta_cf, kSnapshotIndexKey, "1");
    if (db->Write(rocksdb::WriteOptions(), &batch).ok()) indexed = true;
  }

  // Sequence number of the first record still stored (durable + 1 when there is none): after
  // compaction, the records before it live on only in snapshots.
  std::uint64_t first_stored_seq(const rocksdb::Snapshot* view) const {
    rocksdb::ReadOptions read;
    read.snapshot = view;
    std::string first;
    if (db->Get(read, meta_cf, kFirstRecordKey, &first).ok()) {
      std::uint64_t seq = 0;
      const auto parsed = std::from_chars(first.data(), first.data() + first.size(), seq);
      if (parsed.ec == std::errc() && parsed.ptr == first.data() + first.size() && seq > 0) {
        return seq;
      }
    }
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, records_cf));
    it->SeekToFirst();
    if (it->Valid()) {
      if (auto seq = key_seq(it->key())) return *seq;
    }
    return durable_seq.load() + 1;
  }

  // The fold of what is stored: the newest snapshot that decodes and fits this journal, then
  // the records after it, all read from one consistent view.
  Result<Folded> fold_stored() const {
    Folded out;
    rocksdb::ManagedSnapshot view(db.get());
    rocksdb::ReadOptions read;
    read.snapshot = view.snapshot();
    // After taking the view: every snapshot in it covers records durable by now.
    const std::uint64_t durable = durable_seq.load();
    const std::uint64_t first = first_stored_seq(read.snapshot);
    std::optional<std::string> newest_rejection;
    const auto seqs = snapshot_seqs(read.snapshot);
    for (auto at = seqs.rbegin(); at != seqs.rend(); ++at) {
      std::uint64_t plan_seq = 0;
      Result<RunState> snapshot = read_snapshot(read, *at, plan_seq);
      if (snapshot && (snapshot->last_seq() != *at || snapshot->run_id() != run_id)) {
        snapshot = Error::of("it is the state of run '" + snapshot->run_id() + "' at record " +
                             std::to_string(snapshot->last_seq()) + ", not of this journal");
      }
      if (snapshot && snapshot->last_seq() > durable) {
        snapshot = Error::of("the journal ends at record " + std::to_string(durable));
      }
      if (!snapshot) {
        out.bad_snapshots.push_back(*at);
        if (!newest_rejection) {
          newest_rejection =
              "snapshot at record " + std::to_string(*at) + ": " + snapshot.error().str();
        }
        continue;
      }
      if (snapshot->last_seq() + 1 < first) continue;  // older than what was compacted
      out.state = std::move(snapshot).value();
      out.snapshot_seq = *at;
      out.snapshot_plan_seq = plan_seq;
      break;
    }
    if (first > 1 && out.snapshot_seq == 0) {
      return journal_error(
          dir, (newest_rejection ? *newest_rejection + "; records" : std::string("records")) +
                   " 1 to " + std::to_string(first - 1) +
                   " were compacted into snapshots and no snapshot that covers them reads "
                   "back, so the run cannot be replayed; restore the state directory from a "
                   "backup or start the run again");
    }
    std::uint64_t expected = out.state.last_seq() + 1;
    std::optional<Error> failure;
    auto scanned = scan(
        expected,
        [&](JournalRecord& record) {
          if (record.seq != expected) {
            failure = journal_error(dir, "gap: record " + std::to_string(record.seq) + " where " +
                                             std::to_string(expected) + " was expected");
            return false;
          }
          ++expected;
          const std::uint64_t seq = record.seq;
          const std::string_view kind = kind_name(record.body);
          auto applied = out.state.apply(std::move(record));
          if (!applied) {
            failure = journal_error(dir, "record " + std::to_string(seq) + " (" +
                                             std::string(kind) +
                                             "): " + applied.error().str());
            return false;
          }
          return true;
        },
        read.snapshot);
    if (!scanned) return scanned.error();
    if (failure) return *failure;
    return out;
  }

  // Gives the snapshot thread its starting point: the empty state of a new journal, or the
  // fold of a stored one. Snapshots that were skipped are removed, so that the ones kept (and
  // the records compaction deletes) always rest on readable snapshots. A journal that does not
  // fold is left to replay() to report; it is appended to without snapshots.
  void seed(bool created) {
    if (read_only || !snapshots_cf || snapshot_every == 0) return;
    std::lock_guard<std::mutex> lock(track_mu);
    if (created) {
      tracked.emplace();
    } else {
      auto folded = fold_stored();
      if (!folded) return;
      if (!folded->bad_snapshots.empty()) {
        rocksdb::WriteBatch batch;
        for (std::uint64_t seq : folded->bad_snapshots) {
          batch.Delete(snapshots_cf, seq_key(seq));
          batch.Delete(snapshots_cf, index_key(seq));
        }
        (void)db->Write(rocksdb::WriteOptions(), &batch);
      }
      tracked = std::move(folded->state);
      last_snapshot_seq = folded->snapshot_seq;
      if (folded->snapshot_seq != 0) plan_of[folded->snapshot_seq] = folded->snapshot_plan_seq;
      for (std::uint64_t seq : indexed_seqs(kPlanIndexPrefix, nullptr)) plans_stored.insert(seq);
      for (std::uint64_t seq : snapshot_seqs()) {
        if (std::find(folded->bad_snapshots.begin(), folded->bad_snapshots.end(), seq) ==
            folded->bad_snapshots.end()) {
          stored.push_back(seq);
        }
      }
    }
    tracking = true;
  }

  void write_loop() {
    std::uint64_t next_seq = durable_seq.load();
    for (;;) {
      std::vector<Pending> group;
      std::optional<Error> failed;
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return !queue.empty() || stopping; });
        if (queue.empty()) return;  // stopping, and everything queued is written
        std::size_t records = 0;
        while (!queue.empty() && (group.empty() || records < max_group_records)) {
          records += queue.front().encoded.size();
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        failed = broken;
      }

      std::vector<std::uint64_t> last_of(group.size());
      std::uint64_t seq = next_seq;
      rocksdb::WriteBatch batch;
      for (std::size_t i = 0; i < group.size(); ++i) {
        for (auto& bytes : group[i].encoded) {
          batch.Put(records_cf, seq_key(++seq), bytes);
          std::string().swap(bytes);  // the batch has them: a plan's 26 MB is not held twice
        }
        last_of[i] = seq;
      }
      if (!failed) {
        rocksdb::WriteOptions options;
        options.sync = true;  // durable on return: the WAL is fsynced
        const rocksdb::Status s = db->Write(options, &batch);
        if (s.ok()) {
          stat_records.fetch_add(seq - next_seq);
          stat_groups.fetch_add(1);
          durable_seq.store(seq);
          hand_over(group, next_seq);
          next_seq = seq;
        } else {
          failed = journal_error(
              dir, "write failed: " + s.ToString() + "; the run stops here and can be resumed");
          std::lock_guard<std::mutex> lock(mu);
          broken = failed;
        }
      }
      for (std::size_t i = 0; i < group.size(); ++i) {
        if (!group[i].done) continue;
        if (failed) {
          group[i].done(*failed);
        } else {
          group[i].done(last_of[i]);
        }
      }
    }
  }

  // Passes a durable group to the snapshot thread: a move and a notify, all the write path
  // pays for snapshots.
  void hand_over(std::vector<Pending>& group, std::uint64_t first_seq) {
    if (!tracking.load()) return;
    Durable durable{first_seq, {}};
    for (auto& pending : group) {
      if (durable.records.empty()) {
        durable.records = std::move(pending.records);
      } else {
        std::move(pending.records.begin(), pending.records.end(),
                  std::back_inserter(durable.records));
      }
    }
    {
      std::lock_guard<std::mutex> lock(fold_mu);
      fold_queue.push_back(std::move(durable));
    }
    fold_wake.notify_one();
  }
};

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::~Journal() = default;

bool journal_exists(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec);
}

Status check_not_damaged(const std::string& dir) {
  if (journal_exists(dir)) return Ok{};
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Ok{};
  // Only files with records in them count: a br killed while RocksDB created the folder can
  // leave its LOCK and IDENTITY, and nothing is lost in starting over then.
  const auto holds_records = [](const std::filesystem::path& file) {
    const std::string name = file.filename().string();
    const std::string ext = file.extension().string();
    return name.rfind("MANIFEST-", 0) == 0 || ext == ".log" || ext == ".sst" || ext == ".blob";
  };
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!holds_records(it->path())) continue;
    return journal_error(dir, "holds records but no readable journal (its CURRENT file is "
                              "missing), so br neither reads nor replaces it; restore the "
                              "folder from a backup, or move it away to start a new run");
  }
  return Ok{};
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& dir,
                                               const JournalOptions& options) {
  // A reader beside a live writer (`br status` during a run, or while br resume opens it) can
  // list a WAL or table file that the writer's flush or compaction deletes before the reader
  // opens it ("No such file or directory: 000104.log"; for a table file RocksDB says
  // "Corruption: Can't access"), or read a MANIFEST from before a flush together with the WAL
  // list from after it, and so miss what the flush moved (even the run id). The writer has
  // moved on to newer files: open again.
  for (int tries = 1;; ++tries) {
    bool transient = false;
    auto opened = open_once(dir, options, transient);
    if (opened || !transient || tries == 20) return opened;
  }
}

Result<std::unique_ptr<Journal>> Journal::open_once(const std::string& dir,
                                                    const JournalOptions& options,
                                                    bool& transient) {
  if (auto intact = check_not_damaged(dir); !intact) return intact.error();
  const bool existed = journal_exists(dir);
  if (!existed && (!options.create_if_missing || options.read_only)) {
    // No folder at all: a wrong --state-dir, or no run yet. A folder that is there without
    // a journal is not one br left (br removes what it made when creating a run fails).
    std::error_code ec;
    return journal_error(dir, "no journal here; start a run with `br run --auto SPEC` first",
                         std::filesystem::exists(dir, ec) ? ErrorCategory::infrastructure
                                                          : ErrorCategory::bad_input);
  }
  if (!existed && options.run_id.empty()) {
    return journal_error(dir, "a new journal needs a run id");
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = !options.read_only;
  // A record torn by a crash at the WAL's end (a write cut short) is dropped; damage anywhere
  // else (a checksum mismatch, a hole) fails the open, so it is reported, not replayed to a
  // shorter history: kPointInTimeRecovery, RocksDB's default, silently stopped at the first
  // bad record, and the run redid the work of the records it dropped.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.paranoid_checks = true;  // the default, said here because the above relies on it
  // A reader opens every table file at once and keeps them: a writer beside it may compact
  // one away, and an open descriptor still reads what a path no longer names.
  db_options.max_open_files = options.read_only ? -1 : 64;
  db_options.info_log = std::make_shared<DiscardLogger>();
  // Compactions (RocksDB's LOW pool) run niced and at idle I/O priority: they are never urgent
  // for a journal, and on two cores one at open took a third of a restart's CPU from the
  // replay and the first dispatches. Flushes (the HIGH pool) keep their priority: a snapshot
  // waits for one. Process-wide, like the pool itself; every journal in a process wants it.
  static const bool niced = [] {
    rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);
    rocksdb::Env::Default()->LowerThreadPoolIOPriority(rocksdb::Env::Priority::LOW);
    return true;
  }();
  (void)niced;

  // Records are written once and read back only at replay: a small memtable is enough, and
  // RocksDB's 64 MiB default (twice over while one flushes) is memory a coordinator of a big
  // run has better uses for.
  // Every family gets the small memtable: RocksDB reserves each WAL file at 1.1 times the
  // largest family's write buffer, and with the meta and snapshot families at the default a
  // journal took ~70 MiB of disk at once — all a nearly full disk had, so every later prompt
  // and log write of the run failed (issue 16, row 3). A snapshot larger than the buffer is
  // still taken whole: it only makes its memtable flush at once.
  rocksdb::ColumnFamilyOptions small_memtable;
  small_memtable.write_buffer_size = std::size_t{8} << 20;
  small_memtable.max_write_buffer_number = 2;
  // A plan record (26 MB at 39k tasks) goes to a blob file, as a snapshot does (below): each
  // compaction of the records' table files rewrote it whole, and one such compaction took a
  // third of a restart's CPU and its buffers a share of a run's peak memory. Now compactions
  // move a reference; the blob file goes when the records that name it are compacted away.
  // Every other record (a few hundred bytes) stays in the table files.
  rocksdb::ColumnFamilyOptions records_options = small_memtable;
  records_options.enable_blob_files = true;
  records_options.min_blob_size = std::size_t{64} << 10;
  records_options.enable_blob_garbage_collection = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, records_options}, {kMetaFamily, small_memtable}};
  // Journals from before snapshots have no such family; a read-only open cannot add it.
  bool with_snapshots = !options.read_only;
  if (options.read_only) {
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(db_options, dir, &names).ok()) {
      with_snapshots = std::find(names.begin(), names.end(), kSnapshotFamily) != names.end();
    }
  }
  // A snapshot is one big value (a 39k-task run's is 25 MB) that is written once, read at
  // most once and dropped two snapshots later. Compacting table files that hold such values
  // held ~160 MiB at once (whole values in block builders and compression buffers: 60 % of
  // that run's peak heap). So each snapshot goes to a blob file of its own (RocksDB's
  // integrated BlobDB): tables and their compactions hold only references, never the value,
  // and a blob file no reference reaches any more is deleted whole. No blob garbage
  // collection: a file holds one snapshot, so it is all live or all garbage.
  rocksdb::ColumnFamilyOptions snapshot_options = small_memtable;
  snapshot_options.enable_blob_files = true;
  snapshot_options.min_blob_size = 64;  // the index entries (a few bytes) stay inline
  snapshot_options.enable_blob_garbage_collection = false;
  if (with_snapshots) families.push_back({kSnapshotFamily, snapshot_options});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, dir, families, &handles, &raw)
          : rocksdb::DB::Open(db_options, dir, families, &handles, &raw);
  if (!s.ok()) {
    transient = options.read_only && (s.IsPathNotFound() ||
                                      s.ToString().find("No such file") != std::string::npos);
    if (s.IsInvalidArgument() && s.ToString().find(kMetaFamily) != std::string::npos) {
      return journal_error(dir, "this directory holds a RocksDB database that is not a br "
                                "journal; use another --state-dir");
    }
    return open_error(dir, s);
  }

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->read_only = options.read_only;
  impl->max_group_records = std::max<std::size_t>(1, options.max_group_records);
  impl->db.reset(raw);
  impl->records_cf = handles[0];
  impl->meta_cf = handles[1];
  if (with_snapshots) impl->snapshots_cf = handles[2];
  impl->snapshot_every = options.snapshot_every;
  impl->compact = options.compact;

  std::string stored_run, stored_schema;
  const bool has_run = impl->db->Get({}, impl->meta_cf, kRunIdKey, &stored_run).ok();
  const bool has_schema = impl->db->Get({}, impl->meta_cf, kSchemaKey, &stored_schema).ok();

  if (!has_run) {
    if (existed) {
      transient = options.read_only;
      return journal_error(dir, "has no run id: not a br journal, or created by a br that "
                                "crashed before its first write; remove it or use another "
                                "--state-dir");
    }
    rocksdb::WriteBatch meta;
    meta.Put(impl->meta_cf, kRunIdKey, options.run_id);
    meta.Put(impl->meta_cf, kSchemaKey, std::to_string(kJournalSchemaVersion));
    meta.Put(impl->meta_cf, kSnapshotIndexKey, "1");
    meta.Put(impl->meta_cf, kFirstRecordKey, "1");
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = impl->db->Write(sync, &meta);
    if (!s.ok()) return open_error(dir, s);
    stored_run = options.run_id;
    impl->indexed = true;
    stored_schema = std::to_string(kJournalSchemaVersion);
  } else {
    std::uint64_t schema = 0;
    try {
      schema = has_schema ? std::stoull(stored_schema) : 0;
    } catch (const std::exception&) {
      schema = 0;
    }
    if (schema == 0) return journal_error(dir, "has an unreadable schema version");
    if (schema > kJournalSchemaVersion) {
      return journal_error(dir, "was written by a newer br (journal schema " +
                                    std::to_string(schema) + ", this br reads up to " +
                                    std::to_string(kJournalSchemaVersion) + "); upgrade br");
    }
    if (!options.run_id.empty() && options.run_id != stored_run) {
      return journal_error(dir, "belongs to run '" + stored_run + "', not '" + options.run_id +
                                    "'; use `br resume` to continue it or another --state-dir");
    }
    std::string indexed;
    impl->indexed = impl->db->Get({}, impl->meta_cf, kSnapshotIndexKey, &indexed).ok();
  }
  impl->run_id = stored_run;

  std::unique_ptr<rocksdb::Iterator> it(impl->db->NewIterator({}, impl->records_cf));
  it->SeekToLast();
  if (it->Valid()) {
    auto seq = key_seq(it->key());
    if (!seq) return journal_error(dir, "has a record with a malformed key");
    impl->durable_seq = *seq;
  }
  if (!it->status().ok()) return open_error(dir, it->status());
  it.reset();

  std::unique_ptr<Journal> journal(new Journal(std::move(impl)));
  Impl* self = journal->impl_.get();
  self->add_snapshot_index();
  self->seed(!existed);
  if (!self->read_only) {
    self->writer = std::thread([self] { self->write_loop(); });
    if (self->tracking) self->snapshotter = std::thread([self] { self->snapshot_loop(); });
  }
  return journal;
}

void Journal::append_async(std::vector<JournalRecord> records, Done done) {
  std::vector<std::string> encoded;
  encoded.reserve(records.size());
  for (auto& record : records) {
    if (record.run_id.empty()) record.run_id = impl_->run_id;
    // Encoding happens on the caller's thread, so appenders encode in parallel.
    encoded.push_back(encode(record));
    // Without a snapshot thread to fold it, a record is not needed once encoded: a plan's
    // structs go before its bytes are written.
    if (!impl_->tracking.load()) record.body = {};
  }
  // Which also refuses a read-only journal and records of another run.
  append_encoded_async(std::move(encoded), std::move(records), std::move(done));
}

void Journal::append_encoded_async(std::vector<std::string> encoded,
                                   std::vector<JournalRecord> records, Done done) {
  if (impl_->read_only) {
    if (done) done(journal_error(impl_->dir, "opened read-only"));
    return;
  }
  if (encoded.size() != records.size()) {
    if (done) done(journal_error(impl_->dir, "encoded records and records differ in number"));
    return;
  }
  for (const auto& record : records) {
    if (record.run_id != impl_->run_id) {
      if (done) {
        done(journal_error(impl_->dir, "refusing a record of run '" + record.run_id +
                                           "' in the journal of run '" + impl_->run_id + "'"));
      }
      return;
    }
  }
  Impl::Pending pending;
  pending.encoded = std::move(encoded);
  impl_->enqueue(std::move(pending), std::move(records), std::move(done));
}

void Journal::Impl::enqueue(Pending pending, std::vector<JournalRecord> records, Done done) {
  if (tracking.load()) pending.records = std::move(records);
  if (pending.encoded.empty()) {
    if (done) done(durable_seq.load());
    return;
  }
  pending.done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu);
    queue.push_back(std::move(pending));
  }
  wake.notify_one();
}

Result<std::uint64_t> Journal::append(std::vector<JournalRecord> records) {
  std::promise<Result<std::uint64_t>> promise;
  auto future = promise.get_future();
  append_async(std::move(records),
               [&promise](Result<std::uint64_t> r) { promise.set_value(std::move(r)); });
  return future.get();
}

std::uint64_t Journal::last_seq() const { return impl_->durable_seq.load(); }
const std::string& Journal::run_id() const { return impl_->run_id; }
const std::string& Journal::dir() const { return impl_->dir; }

Journal::Stats Journal::stats() const {
  return Stats{impl_->stat_records.load(), impl_->stat_groups.load(), impl_->stat_snapshots.load(),
               impl_->tracking.load()};
}

Status Journal::scan(std::uint64_t from_seq,
                     const std::function<bool(const JournalRecord&)>& visit) const {
  return impl_->scan(
      from_seq, [&](JournalRecord& record) { return visit(record); }, nullptr);
}

std::vector<std::uint64_t> Journal::snapshots() const { return impl_->snapshot_seqs(); }

void Journal::wait_for_snapshots() const { impl_->wait_for_snapshots(); }

Result<RunState> Journal::replay() const {
  if (impl_->tracking.load()) {
    // The state folded at open and kept up to date costs a copy, not a second replay.
    std::lock_guard<std::mutex> lock(impl_->track_mu);
    if (impl_->tracked && impl_->tracked->last_seq() == impl_->durable_seq.load()) {
      return *impl_->tracked;
    }
  }
  auto folded = impl_->fold_stored();
  if (!folded) return folded.error();
  return std::move(folded->state);
}

}  // namespace br
