#include "coordinator/run_reader.hpp"

#include <memory>
#include <utility>

#include "storage/journal.hpp"

namespace br {
namespace {

// Opens the journal in the state dir without taking its lock, so it works during a run.
Result<std::unique_ptr<Journal>> open_run(const StateDir& dir) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  return Journal::open(dir.journal(), options);
}

// Every record still in the journal, oldest first (all of them unless it was compacted).
Result<std::vector<JournalRecord>> read_records(const Journal& journal) {
  std::vector<JournalRecord> records;
  auto scanned = journal.scan(1, [&](const JournalRecord& r) {
    records.push_back(r);
    return true;
  });
  if (!scanned) return scanned.error();
  return records;
}

}  // namespace

Result<RunState> load_run(const StateDir& dir) {
  auto journal = open_run(dir);
  if (!journal) return journal.error();
  return (*journal)->replay();
}

Result<RunRecords> load_run_records(const StateDir& dir) {
  auto journal = open_run(dir);
  if (!journal) return journal.error();
  auto run = (*journal)->replay();
  if (!run) return run.error();
  auto records = read_records(**journal);
  if (!records) return records.error();
  return RunRecords{std::move(run).value(), std::move(records).value()};
}

}  // namespace br
