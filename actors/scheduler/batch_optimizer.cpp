#include "actors/scheduler/batch_optimizer.hpp"

#include "actors/scheduler/ready_queue.hpp"

#include <algorithm>
#include <set>

namespace br {

std::vector<std::vector<std::size_t>> form_batches(const std::vector<std::size_t>& ordered,
                                                   const std::vector<Task>& tasks,
                                                   const BatchLimits& limits,
                                                   const std::vector<bool>& alone) {
  // The queue works on positions in `ordered`: position k has rank k.
  std::vector<const Task*> subset;
  std::vector<std::uint32_t> rank;
  subset.reserve(ordered.size());
  rank.reserve(ordered.size());
  for (std::size_t k = 0; k < ordered.size(); ++k) {
    subset.push_back(&tasks[ordered[k]]);
    rank.push_back(static_cast<std::uint32_t>(k));
  }
  ReadyQueue queue(ready_items(subset, rank));
  for (std::size_t k = 0; k < ordered.size(); ++k) {
    queue.push(k, ordered[k] < alone.size() && alone[ordered[k]]);
  }
  std::vector<std::vector<std::size_t>> batches;
  while (!queue.empty()) {
    auto batch = queue.pop_batch(limits);
    for (auto& k : batch) k = ordered[k];
    batches.push_back(std::move(batch));
  }
  return batches;
}

Status validate_batch(const std::vector<std::size_t>& batch, const std::vector<Task>& tasks,
                      const BatchLimits& limits) {
  if (batch.empty()) return Error::of("batch is empty");
  if (batch.size() > limits.max_tasks) {
    return Error::of("batch has " + std::to_string(batch.size()) + " tasks, more than " +
                     std::to_string(limits.max_tasks));
  }
  std::set<std::size_t> seen;
  std::uint32_t minutes = 0;
  for (std::size_t i : batch) {
    if (i >= tasks.size()) return Error::of("batch names task " + std::to_string(i) + " of " +
                                            std::to_string(tasks.size()));
    if (!seen.insert(i).second) return Error::of("batch has task '" + tasks[i].id.str() + "' twice");
    if (tasks[i].domain != tasks[batch[0]].domain) {
      return Error::of("batch mixes domains: '" + tasks[batch[0]].id.str() + "' is " +
                       std::string(to_string(tasks[batch[0]].domain)) + ", '" + tasks[i].id.str() +
                       "' is " + std::string(to_string(tasks[i].domain)));
    }
    minutes += tasks[i].minutes;
  }
  if (minutes > limits.max_minutes) {
    return Error::of("batch takes " + std::to_string(minutes) + " minutes, more than " +
                     std::to_string(limits.max_minutes));
  }
  for (std::size_t i : batch) {
    for (const auto& dep : tasks[i].depends_on) {
      for (std::size_t j : batch) {
        if (tasks[j].id == dep) {
          return Error::of("batch has '" + tasks[i].id.str() + "' and its dependency '" +
                           dep.str() + "'");
        }
      }
    }
  }
  return Ok{};
}

}  // namespace br
