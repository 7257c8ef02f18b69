// What /metrics reports, in br's own terms and without Prometheus: the run's numbers as one
// value (MetricsSample), and the tally that keeps the counters from journal records, so the
// listener's loop pays per record, not per task, however large the plan.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/run_state.hpp"
#include "protocol/usage.hpp"

namespace br {

struct MetricsSample {
  ProgressCounts tasks;             // by status
  std::uint64_t attempts = 0;       // attempts dispatched, retries included
  std::uint64_t retries = 0;        // attempts after a task's first
  std::size_t ready_queue = 0;      // tasks ready and waiting for a worker slot
  std::size_t workers_connected = 0;  // alive workers, the coordinator's own slots included
  UsageTotal usage;                 // tokens and cost the agents reported
  bool run_over = false;            // taken after the run ended: its numbers are final
};

class MetricsTally {
 public:
  // Counters as the journal has them so far (a resumed run carries on from its past), from
  // one pass over the tasks.
  explicit MetricsTally(const RunState& state);

  // `records` have just been applied to `after`. Returns how long each task they dispatched
  // waited between becoming ready and being dispatched, in seconds.
  std::vector<double> add(const std::vector<JournalRecord>& records, const RunState& after);

  // O(workers): the task counts are kept by RunState itself.
  MetricsSample sample(const RunState& state) const;

 private:
  std::uint64_t attempts_ = 0;
  std::uint64_t retries_ = 0;
  UsageTotal usage_;
};

}  // namespace br
