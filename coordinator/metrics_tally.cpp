#include "coordinator/metrics_tally.hpp"

#include <variant>

namespace br {

MetricsTally::MetricsTally(const RunState& state) : usage_(state.usage()) {
  for (const auto& task : state.tasks()) {
    attempts_ += task.attempt;
    if (task.attempt > 1) retries_ += task.attempt - 1;
  }
}

std::vector<double> MetricsTally::add(const std::vector<JournalRecord>& records,
                                      const RunState& after) {
  std::vector<double> waits;
  for (const auto& record : records) {
    if (const auto* d = std::get_if<rec::BatchDispatched>(&record.body)) {
      for (std::size_t i = 0; i < d->tasks.size(); ++i) {
        ++attempts_;
        // The same numbering as the constructor's: attempt n > 1 is the (n-1)th retry.
        if (i < d->attempts.size() && d->attempts[i] > 1) ++retries_;
        const TaskState* task = after.find(d->tasks[i]);
        if (task != nullptr && task->ready_ms > 0 && task->dispatched_ms >= task->ready_ms) {
          waits.push_back(static_cast<double>(task->dispatched_ms - task->ready_ms) / 1000.0);
        }
      }
    } else if (const auto* s = std::get_if<rec::TaskSucceeded>(&record.body)) {
      usage_.add(s->usage);
    } else if (const auto* f = std::get_if<rec::TaskFailed>(&record.body)) {
      usage_.add(f->usage);
    }
  }
  return waits;
}

MetricsSample MetricsTally::sample(const RunState& state) const {
  MetricsSample s;
  s.tasks = state.counts();
  s.attempts = attempts_;
  s.retries = retries_;
  s.ready_queue = state.counts().ready;
  for (const auto& [name, worker] : state.workers()) {
    if (worker.alive) ++s.workers_connected;
  }
  s.usage = usage_;
  return s;
}

}  // namespace br
