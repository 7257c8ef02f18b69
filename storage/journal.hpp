// The write-ahead journal of a run, over RocksDB. Every state transition is appended here and
// acted on only once durable. Appends from any thread are grouped: while one synced write is
// in flight, later appends queue up and go out together in the next one (group commit), so
// the cost of an fsync is shared by everything that arrived during it.
//
// Layout: column family "default" maps an 8-byte big-endian sequence number (from 1, no gaps)
// to a Cap'n Proto JournalRecord; column family "meta" holds the run id and schema version;
// column family "snapshots" maps the sequence number a snapshot covers up to to a Cap'n Proto
// RunSnapshot (a cache of the fold of records 1..seq, so a restart replays only the tail).
//
// Snapshots are taken off the write path: the writer thread hands each durable group to a
// snapshot thread, which folds it into the journal's RunState (seeded at open from the newest
// snapshot and the tail) and writes a snapshot, in one WriteBatch, once `snapshot_every`
// records have passed since the last one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"
#include "protocol/run_state.hpp"

namespace br {

struct JournalOptions {
  // Run this journal belongs to. Creating a journal requires one. Opening an existing journal
  // with a different id is refused; empty adopts the stored id (resume, inspection).
  std::string run_id;
  bool create_if_missing = true;
  // Opens without taking RocksDB's lock, to read a journal while a run writes it.
  bool read_only = false;
  // Upper bound on one group commit; a longer queue is split over several synced writes.
  std::size_t max_group_records = 65536;
  // A snapshot of the run state is written after this many records (0: never), so that
  // replay() reads the newest snapshot and only the records after it. Not synced on its own:
  // the next synced append carries it to disk. Ignored by read-only opens (they only read).
  std::uint64_t snapshot_every = 10000;
  // Deletes the records that the older of the two kept snapshots covers, once a newer one is
  // written. Off by default: the full history is what `br report` draws its timeline from,
  // and a run's journal is small. scan() then starts at the first record still there.
  bool compact = false;
};

class Journal {
 public:
  // Called once the records of one append are durable (value: sequence number of its last
  // record) or could not be written (error). Runs on the journal's writer thread: keep it short.
  using Done = std::function<void(Result<std::uint64_t>)>;

  // Errors name `dir` and say what to do: another br holds the lock, another run's journal,
  // a newer schema, a missing journal with create_if_missing off, an unwritable directory.
  static Result<std::unique_ptr<Journal>> open(const std::string& dir,
                                               const JournalOptions& options);
  // Waits for queued appends to become durable, then closes.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues records for the next group commit; they get consecutive sequence numbers in order.
  // A record with an empty run_id is stamped with the journal's; another run's id is an error.
  void append_async(std::vector<JournalRecord> records, Done done);
  // The same for records the caller has encoded already (the graph actor encodes each record
  // once, and those bytes are what RocksDB stores). `records[i]` is `encoded[i]` decoded, for
  // the snapshot fold; each must carry this journal's run id, else nothing is appended.
  void append_encoded_async(std::vector<std::string> encoded, std::vector<JournalRecord> records,
                            Done done);
  // Appends and waits until durable. Returns the sequence number of the last record.
  Result<std::uint64_t> append(std::vector<JournalRecord> records);

  // Highest durable sequence number, 0 when empty.
  std::uint64_t last_seq() const;
  const std::string& run_id() const;
  const std::string& dir() const;

  // Calls `visit` for every record with seq ≥ from_seq in order, until it returns false.
  // A record that does not decode is an error naming its sequence number.
  Status scan(std::uint64_t from_seq,
              const std::function<bool(const JournalRecord&)>& visit) const;

  // Folds the journal into a RunState: the newest snapshot that decodes and fits, then the
  // records after it (all of them without one). A damaged snapshot is skipped for an older one
  // or the full history; when the records it covered were compacted away, that is an error
  // naming the journal and the snapshot. A gap or an illegal transition is an error.
  // On a journal opened for writing this is the state folded at open plus what was appended
  // since (a copy), when the snapshot thread has caught up; otherwise it reads the journal.
  Result<RunState> replay() const;

  // Sequence numbers of the stored snapshots, oldest first (for tests and `br status`).
  std::vector<std::uint64_t> snapshots() const;
  // Waits until every durable record is folded and any snapshot due is written. Appends never
  // wait for snapshots; tests and benchmarks call this to look at them deterministically.
  void wait_for_snapshots() const;

  // Statistics since open, for benchmarks, tests and `br status --verbose`.
  struct Stats {
    std::uint64_t records = 0;
    std::uint64_t groups = 0;     // synced writes
    std::uint64_t snapshots = 0;  // snapshots written
    // False once a record failed to fold into the tracked state (or the state could not be
    // seeded at open): no more snapshots are written by this Journal, appends go on.
    bool snapshotting = false;
  };
  Stats stats() const;

  class Impl;

 private:
  explicit Journal(std::unique_ptr<Impl> impl);
  // One try of open(); `transient` says whether a reader's failure may pass on its own (a
  // live writer changed the files under it).
  static Result<std::unique_ptr<Journal>> open_once(const std::string& dir,
                                                    const JournalOptions& options,
                                                    bool& transient);
  std::unique_ptr<Impl> impl_;
};

// Does `dir` hold a journal? (Used to decide between a new run and a resume.)
bool journal_exists(const std::string& dir);

// An error when `dir` holds files but no journal (RocksDB's CURRENT, which names the live
// MANIFEST, is gone): a damaged journal, never to be taken for a missing one and replaced by
// a new run. Ok when `dir` is a journal, or missing, or empty.
Status check_not_damaged(const std::string& dir);

}  // namespace br
