#include "actors/scheduler/batch_optimizer.hpp"

#include <algorithm>
#include <set>

namespace br {

std::vector<std::vector<std::size_t>> form_batches(const std::vector<std::size_t>& ordered,
                                                   const std::vector<Task>& tasks,
                                                   const BatchLimits& limits,
                                                   const std::vector<bool>& alone) {
  const auto is_alone = [&](std::size_t task) { return task < alone.size() && alone[task]; };
  const std::size_t max_tasks = std::max<std::size_t>(1, limits.max_tasks);
  std::vector<bool> taken(ordered.size(), false);
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t lead = 0; lead < ordered.size(); ++lead) {
    if (taken[lead]) continue;
    taken[lead] = true;
    const Task& first = tasks[ordered[lead]];
    std::vector<std::size_t> batch = {ordered[lead]};
    std::uint32_t minutes = first.minutes;
    // Two passes over the rest: same feature first, then any feature of the same domain.
    for (int pass = 0; pass < 2 && batch.size() < max_tasks && !is_alone(ordered[lead]); ++pass) {
      for (std::size_t k = lead + 1; k < ordered.size() && batch.size() < max_tasks; ++k) {
        if (taken[k] || is_alone(ordered[k])) continue;
        const Task& t = tasks[ordered[k]];
        if (t.domain != first.domain) continue;
        if ((pass == 0) != (t.feature == first.feature)) continue;
        if (minutes + t.minutes > limits.max_minutes) continue;
        taken[k] = true;
        batch.push_back(ordered[k]);
        minutes += t.minutes;
      }
    }
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
