// Forms batches: 2–3 ready tasks that one agent does in one session. A batch never mixes
// domains (a database migration and a UI page need different context), stays within a time
// budget, and prefers tasks of the same feature (they share files and context).
//
// Rules, applied to the ready tasks in strategy order:
//   1. The best-ranked task not yet batched leads the next batch.
//   2. Partners come from the same domain, same feature first (in strategy order), then other
//      features (in strategy order), while the batch has fewer than max_tasks and its total
//      minutes stay within max_minutes.
//   3. A task with no partner of its domain goes alone: a batch of one only happens when
//      nothing compatible is ready, since waiting for a partner would stall the run.
//   4. A task marked `alone` (one being retried) is batched by itself: when an agent fails a
//      batch, every task in it fails, and a retry in the same company could fail again for
//      the other task's sake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct BatchLimits {
  std::size_t max_tasks = 3;
  std::uint32_t max_minutes = 240;
};

// `ordered` holds task indices into `tasks`, best first (order_ready). Returns batches of
// task indices, in the order they should be handed out. O(n log n), through a ReadyQueue
// (which the scheduler keeps for the whole run, forming one batch per waiting slot).
// `alone[i]`, when given, marks task i to be batched by itself.
std::vector<std::vector<std::size_t>> form_batches(const std::vector<std::size_t>& ordered,
                                                   const std::vector<Task>& tasks,
                                                   const BatchLimits& limits = {},
                                                   const std::vector<bool>& alone = {});

// Checks a batch for coherence: 1..max_tasks distinct tasks of one domain, within the
// minutes, none depending on another in the batch. The error says which rule broke.
Status validate_batch(const std::vector<std::size_t>& batch, const std::vector<Task>& tasks,
                      const BatchLimits& limits = {});

}  // namespace br
