// What `br plan` prints: features, tasks per execution level, the critical path with its
// minutes, and the batches the scheduler would form level by level — as text, or as the
// JSON document of docs/cli.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "actors/scheduler/strategy.hpp"
#include "coordinator/planning.hpp"

namespace br {

// Level by level: the level's tasks ordered by `strategy`, then formed into batches.
std::vector<std::vector<std::size_t>> plan_batches(const CheckedPlan& plan, Strategy strategy);

nlohmann::json plan_json(const CheckedPlan& plan, Strategy strategy);
std::string plan_text(const CheckedPlan& plan, Strategy strategy);

}  // namespace br
