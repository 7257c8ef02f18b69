#include "storage/journal.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <algorithm>
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
    std::vector<JournalRecord> records;  // the same, for the snapshot fold
    Done done;
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

  // The durable state, folded by the writer thread; empty until replay() (or a new journal)
  // gives it a starting point, and dropped for good if a record does not apply.
  std::mutex track_mu;
  std::optional<RunState> tracked;  // guarded by track_mu
  std::uint64_t since_snapshot = 0;  // writer thread only

  std::atomic<std::uint64_t> durable_seq{0};
  std::atomic<std::uint64_t> stat_records{0};
  std::atomic<std::uint64_t> stat_groups{0};

  std::mutex mu;
  std::condition_variable wake;
  std::deque<Pending> queue;   // guarded by mu
  bool stopping = false;       // guarded by mu
  std::optional<Error> broken; // guarded by mu: after a failed write, every append fails
  std::thread writer;

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    wake.notify_one();
    if (writer.joinable()) writer.join();
    if (db) {
      if (records_cf) db->DestroyColumnFamilyHandle(records_cf);
      if (meta_cf) db->DestroyColumnFamilyHandle(meta_cf);
      if (snapshots_cf) db->DestroyColumnFamilyHandle(snapshots_cf);
      db.reset();
    }
  }

  // Folds a durable group (records from first_seq + 1 on) into the tracked state and writes
  // a snapshot when one is due. Never fails the append: a snapshot is only a cache.
  void track(std::vector<Pending>& group, std::uint64_t first_seq) {
    if (!snapshots_cf || snapshot_every == 0) return;
    std::lock_guard<std::mutex> lock(track_mu);
    if (!tracked) return;
    std::uint64_t seq = first_seq;
    for (auto& pending : group) {
      for (auto& record : pending.records) {
        record.seq = ++seq;
        if (!tracked->apply(record)) {
          tracked.reset();  // never snapshot a state that differs from replay's
          return;
        }
      }
    }
    since_snapshot += seq - first_seq;
    if (since_snapshot < snapshot_every) return;
    since_snapshot = 0;
    write_snapshot(*tracked);
  }

  void write_snapshot(const RunState& state) {
    rocksdb::WriteBatch batch;
    batch.Put(snapshots_cf, seq_key(state.last_seq()), encode_snapshot(state));
    std::vector<std::uint64_t> kept = snapshot_seqs();
    kept.push_back(state.last_seq());
    if (kept.size() > kSnapshotsKept) {
      const std::uint64_t oldest_kept = kept[kept.size() - kSnapshotsKept];
      batch.DeleteRange(snapshots_cf, seq_key(0), seq_key(oldest_kept));
      // Records up to the older kept snapshot are covered twice over.
      if (compact) batch.DeleteRange(records_cf, seq_key(1), seq_key(oldest_kept + 1));
    }
    // Not synced on its own: the next synced append carries it to disk, and until then the
    // records it covers are all there.
    (void)db->Write(rocksdb::WriteOptions(), &batch);
  }

  std::vector<std::uint64_t> snapshot_seqs() const {
    std::vector<std::uint64_t> out;
    if (!snapshots_cf) return out;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, snapshots_cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (auto seq = key_seq(it->key())) out.push_back(*seq);
    }
    return out;
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
          track(group, next_seq);
          next_seq = seq;
          durable_seq.store(seq);
        } else {
          failed = journal_error(dir, "write failed: " + s.ToString() +
                                          "; the run stops here and can be resumed");
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
};

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::~Journal() = default;

bool journal_exists(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec);
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& dir,
                                               const JournalOptions& options) {
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
  // A record torn by a crash is dropped with everything after it; earlier records stay.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.max_open_files = 64;
  db_options.info_log = std::make_shared<DiscardLogger>();

  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {kMetaFamily, rocksdb::ColumnFamilyOptions()}};
  // Journals from before snapshots have no such family; a read-only open cannot add it.
  bool with_snapshots = !options.read_only;
  if (options.read_only) {
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(db_options, dir, &names).ok()) {
      with_snapshots = std::find(names.begin(), names.end(), kSnapshotFamily) != names.end();
    }
  }
  if (with_snapshots) families.push_back({kSnapshotFamily, rocksdb::ColumnFamilyOptions()});
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
  if (!existed) impl->tracked.emplace();  // a new journal folds from the empty state

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

  if (!impl->read_only) {
    Impl* self = impl.get();
    impl->writer = std::thread([self] { self->write_loop(); });
  }
  return std::unique_ptr<Journal>(new Journal(std::move(impl)));
}

void Journal::append_async(std::vector<JournalRecord> records, Done done) {
  if (impl_->read_only) {
    if (done) done(journal_error(impl_->dir, "opened read-only"));
    return;
  }
  Impl::Pending pending;
  pending.encoded.reserve(records.size());
  const bool tracking = impl_->snapshots_cf && impl_->snapshot_every > 0;
  for (auto& record : records) {
    if (record.run_id.empty()) {
      record.run_id = impl_->run_id;
    } else if (record.run_id != impl_->run_id) {
      if (done) {
        done(journal_error(impl_->dir, "refusing a record of run '" + record.run_id +
                                           "' in the journal of run '" + impl_->run_id + "'"));
      }
      return;
    }
    // Encoding happens on the caller's thread, so appenders encode in parallel.
    pending.encoded.push_back(encode(record));
  }
  if (tracking) pending.records = std::move(records);
  if (pending.encoded.empty()) {
    if (done) done(impl_->durable_seq.load());
    return;
  }
  pending.done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.push_back(std::move(pending));
  }
  impl_->wake.notify_one();
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
  return Stats{impl_->stat_records.load(), impl_->stat_groups.load()};
}

Status Journal::scan(std::uint64_t from_seq,
                     const std::function<bool(const JournalRecord&)>& visit) const {
  rocksdb::ReadOptions read;
  read.fill_cache = false;  // a scan reads everything once
  read.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read, impl_->records_cf));
  const auto limits = journal_decode_limits();
  for (it->Seek(seq_key(from_seq)); it->Valid(); it->Next()) {
    auto seq = key_seq(it->key());
    if (!seq) return journal_error(impl_->dir, "record with a malformed key");
    auto record = decode<JournalRecord>(
        std::string_view(it->value().data(), it->value().size()), limits);
    if (!record) {
      return journal_error(impl_->dir,
                           "record " + std::to_string(*seq) + ": " + record.error().str());
    }
    record->seq = *seq;
    if (!visit(*record)) return Ok{};
  }
  if (!it->status().ok()) {
    return journal_error(impl_->dir, "read failed: " + it->status().ToString());
  }
  return Ok{};
}

std::vector<std::uint64_t> Journal::snapshots() const { return impl_->snapshot_seqs(); }

Result<RunState> Journal::replay() const {
  RunState state;
  std::uint64_t expected = 1;
  // The newest snapshot that reads back and fits this journal; older ones are fallbacks.
  std::optional<Error> unreadable;
  const std::uint64_t durable = impl_->durable_seq.load();
  const auto snapshot_seqs = impl_->snapshot_seqs();
  for (auto at = snapshot_seqs.rbegin(); at != snapshot_seqs.rend(); ++at) {
    std::string bytes;
    if (!impl_->db->Get({}, impl_->snapshots_cf, seq_key(*at), &bytes).ok()) continue;
    auto snapshot = decode_snapshot(bytes, journal_decode_limits());
    if (snapshot && (snapshot->last_seq() != *at || snapshot->last_seq() > durable ||
                     snapshot->run_id() != impl_->run_id)) {
      snapshot = Error::of("it does not belong to this journal at record " + std::to_string(*at));
    }
    if (!snapshot) {
      if (!unreadable) {
        unreadable = journal_error(impl_->dir, "snapshot at record " + std::to_string(*at) +
                                                   ": " + snapshot.error().str());
      }
      continue;
    }
    state = std::move(snapshot).value();
    expected = state.last_seq() + 1;
    break;
  }
  std::optional<Error> failure;
  auto scanned = scan(expected, [&](const JournalRecord& record) {
    if (record.seq != expected) {
      failure = journal_error(impl_->dir, "gap: record " + std::to_string(record.seq) +
                                              " where " + std::to_string(expected) +
                                              " was expected");
      return false;
    }
    ++expected;
    auto applied = state.apply(record);
    if (!applied) {
      failure = journal_error(impl_->dir, "record " + std::to_string(record.seq) + " (" +
                                              std::string(kind_name(record.body)) +
                                              "): " + applied.error().str());
      return false;
    }
    return true;
  });
  if (!scanned) return scanned.error();
  if (failure) {
    // Records before the first one left were compacted into snapshots none of which reads.
    if (unreadable && expected == 1) return *unreadable;
    return *failure;
  }
  if (!impl_->read_only) {
    std::lock_guard<std::mutex> lock(impl_->track_mu);
    if (!impl_->tracked && state.last_seq() == impl_->durable_seq.load()) impl_->tracked = state;
  }
  return state;
}

}  // namespace br
