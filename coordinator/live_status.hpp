// The live status file: a running coordinator rewrites `status.json` in its state dir at most
// every few hundred milliseconds with what `br status --json` prints, so that reading a big
// live run costs one small file read instead of a replay of its journal (which grows with the
// run and would compete with it for the disk). The file counts only while the journal is
// locked by a live process: RocksDB holds an fcntl lock on the journal's LOCK file for as long
// as the coordinator has it open, and a process killed with SIGKILL loses it at once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "coordinator/state_dir.hpp"
#include "protocol/run_state.hpp"

namespace br {

// The pid holding the journal's lock, or nullopt when no process holds it.
std::optional<long> journal_lock_holder(const std::string& journal_dir);
// Bytes the journal takes on disk (its files, snapshots included).
std::uint64_t journal_bytes(const std::string& journal_dir);

class LiveStatusWriter {
 public:
  // Writes to `dir`'s status file, no more often than every `interval_ms`.
  LiveStatusWriter(const StateDir& dir, std::int64_t interval_ms);
  // Rewrites the file if the interval has passed since the last write (or `force`), with
  // `last_seq` the journal's last durable record (the view's state does not number them).
  // Atomic (write, then rename); not synced: it is a view, the journal is the record.
  void update(const RunState& state, std::uint64_t last_seq, std::int64_t now_ms,
              bool force = false);
  // Removes the file (the run is over or stopped: the journal tells the rest).
  void remove();

 private:
  std::string path_;
  std::string journal_dir_;
  std::int64_t interval_ms_;
  std::int64_t last_ms_ = 0;
};

// The live document if a coordinator holds the journal and has written one, else nullopt
// (then replay the journal). The document is status_json's plus "live": true.
std::optional<nlohmann::json> read_live_status(const StateDir& dir);

}  // namespace br
