// What `br plan` prints: features, tasks per execution level, the critical path with its
// minutes, and the batches the scheduler would form level by level — as text, or as the
// JSON document of docs/cli.md. Both are written as they are produced (no DOM, no whole
// string), so a 400k-task plan prints in about the memory of the plan itself.
#pragma once

#include <cstddef>
#include <vector>

#include "coordinator/json_writer.hpp"
#include "coordinator/planning.hpp"

namespace br {

// Level by level: the level's tasks ordered by the plan's strategy, then formed into batches
// under its batch limits (plan.settings).
std::vector<std::vector<std::size_t>> plan_batches(const CheckedPlan& plan);

// The JSON document (docs/cli.md, version kJsonVersion), without a trailing newline.
void write_plan_json(const CheckedPlan& plan, JsonWriter& out);
void write_plan_text(const CheckedPlan& plan, OutputBuffer& out);

}  // namespace br
