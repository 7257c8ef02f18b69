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
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

#include "protocol/codec.hpp"

namespace br {
namespace {

constexpr const char* kMetaFamily = "meta";
constexpr const char* kSnapshotFamily = "snapshots";
constexpr std::size_t kSnapshotsKept = 2;  // the newest, and one to fall back on
constexpr const char* kRunIdKey = "run_id";
constexpr const char* kSchemaKey = "schema_version";

std::string seq_key(std::uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[static_cast<std::size_t>(i)] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

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

Error journal_error(const std::string& dir, const std::string& message) {
  return Error::of("journal " + dir + ": " + message);
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
  bool compact = false;

  // The durable state, folded by the snapshot thread. Seeded at open; dropped for good (and
  // `tracking` cleared) if a record does not apply, since a snapshot must equal replay's fold.
  std::atomic<bool> tracking{false};
  mutable std::mutex track_mu;
  std::optional<RunState> tracked;      // guarded by track_mu
  std::uint64_t last_snapshot_seq = 0;  // guarded by track_mu
  std::vector<std::uint64_t> stored;    // guarded by track_mu: snapshot seqs, oldest first

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
        if (!tracked->apply(record)) {
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
    std::string bytes = encode_snapshot(state);
    if (bytes.size() > journal_decode_limits().max_bytes) return;  // would never be read back
    rocksdb::WriteOptions no_wal;
    no_wal.disableWAL = true;
    rocksdb::WriteBatch put;
    put.Put(snapshots_cf, seq_key(state.last_seq()), bytes);
    bytes.clear();
    if (!db->Write(no_wal, &put).ok()) return;
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (!db->Flush(flush, snapshots_cf).ok()) return;
    stat_snapshots.fetch_add(1);
    stored.push_back(state.last_seq());
    if (stored.size() <= kSnapshotsKept) return;
    stored.erase(stored.begin(), stored.end() - static_cast<std::ptrdiff_t>(kSnapshotsKept));
    rocksdb::WriteBatch drop;
    drop.DeleteRange(snapshots_cf, seq_key(0), seq_key(stored.front()));
    // Records up to the older kept snapshot are covered twice over.
    if (compact) drop.DeleteRange(records_cf, seq_key(1), seq_key(stored.front() + 1));
    // Not synced on its own: the next synced append carries it to disk.
    (void)db->Write(rocksdb::WriteOptions(), &drop);
    // Compacting the references now (they are a few bytes each) lets the blob files of the
    // dropped snapshots go at once, so the disk holds the kept snapshots and little more.
    (void)db->CompactRange(rocksdb::CompactRangeOptions(), snapshots_cf, nullptr, nullptr);
    // The encoding, the batch and the flush were megabytes each: give them back to the OS
    // rather than leave them to fragment the heap.
    ::malloc_trim(0);
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
  Status scan(std::uint64_t from_seq, const std::function<bool(const JournalRecord&)>& visit,
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
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, snapshots_cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (auto seq = key_seq(it->key())) out.push_back(*seq);
    }
    return out;
  }

  // Sequence number of the first record still stored (durable + 1 when there is none): after
  // compaction, the records before it live on only in snapshots.
  std::uint64_t first_stored_seq(const rocksdb::Snapshot* view) const {
    rocksdb::ReadOptions read;
    read.snapshot = view;
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
      std::string bytes;
      Result<RunState> snapshot = Error::of("it cannot be read");
      if (db->Get(read, snapshots_cf, seq_key(*at), &bytes).ok()) {
        snapshot = decode_snapshot(bytes, journal_decode_limits());
      }
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
        [&](const JournalRecord& record) {
          if (record.seq != expected) {
            failure = journal_error(dir, "gap: record " + std::to_string(record.seq) + " where " +
                                             std::to_string(expected) + " was expected");
            return false;
          }
          ++expected;
          auto applied = out.state.apply(record);
          if (!applied) {
            failure = journal_error(dir, "record " + std::to_string(record.seq) + " (" +
                                             std::string(kind_name(record.body)) +
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
        for (std::uint64_t seq : folded->bad_snapshots) batch.Delete(snapshots_cf, seq_key(seq));
        (void)db->Write(rocksdb::WriteOptions(), &batch);
      }
      tracked = std::move(folded->state);
      last_snapshot_seq = folded->snapshot_seq;
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
        for (const auto& bytes : group[i].encoded) batch.Put(records_cf, seq_key(++seq), bytes);
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
  if (auto intact = check_not_damaged(dir); !intact) return intact.error();
  const bool existed = journal_exists(dir);
  if (!existed && (!options.create_if_missing || options.read_only)) {
    return journal_error(dir, "no journal here; start a run with `br run --auto SPEC` first");
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
  db_options.max_open_files = 64;
  db_options.info_log = std::make_shared<DiscardLogger>();

  // Records are written once and read back only at replay: a small memtable is enough, and
  // RocksDB's 64 MiB default (twice over while one flushes) is memory a coordinator of a big
  // run has better uses for.
  // Every family gets the small memtable: RocksDB reserves each WAL file at 1.1 times the
  // largest family's write buffer, and with the meta and snapshot families at the default a
  // journal took ~70 MiB of disk at once — all a nearly full disk had, so every later prompt
  // and log write of the run failed (issue 16, row 3). A snapshot larger than the buffer is
  // still taken whole: it only makes its memtable flush at once.
  rocksdb::ColumnFamilyOptions records_options;
  records_options.write_buffer_size = std::size_t{8} << 20;
  records_options.max_write_buffer_number = 2;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, records_options}, {kMetaFamily, records_options}};
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
  rocksdb::ColumnFamilyOptions snapshot_options = records_options;
  snapshot_options.enable_blob_files = true;
  snapshot_options.min_blob_size = 0;
  snapshot_options.enable_blob_garbage_collection = false;
  if (with_snapshots) families.push_back({kSnapshotFamily, snapshot_options});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, dir, families, &handles, &raw)
          : rocksdb::DB::Open(db_options, dir, families, &handles, &raw);
  if (!s.ok()) {
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
      return journal_error(dir, "has no run id: not a br journal, or created by a br that "
                                "crashed before its first write; remove it or use another "
                                "--state-dir");
    }
    rocksdb::WriteBatch meta;
    meta.Put(impl->meta_cf, kRunIdKey, options.run_id);
    meta.Put(impl->meta_cf, kSchemaKey, std::to_string(kJournalSchemaVersion));
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = impl->db->Write(sync, &meta);
    if (!s.ok()) return open_error(dir, s);
    stored_run = options.run_id;
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
  return impl_->scan(from_seq, visit, nullptr);
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
