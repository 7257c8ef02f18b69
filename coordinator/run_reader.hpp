// Reading the run in a state dir without taking its journal's lock, so that br status,
// br task, br logs, br report and br cancel work while the run is live.
#pragma once

#include <vector>

#include "coordinator/state_dir.hpp"
#include "protocol/result.hpp"
#include "protocol/run_state.hpp"

namespace br {

// The run replayed from its journal.
Result<RunState> load_run(const StateDir& dir);

// The run and every record still in its journal, oldest first (all of them unless it was
// compacted); the journal is let go before this returns.
struct RunRecords {
  RunState run;
  std::vector<JournalRecord> records;
};

Result<RunRecords> load_run_records(const StateDir& dir);

}  // namespace br
