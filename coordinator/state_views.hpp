// What `br status` and `br task list` show of a replayed run: text for people, JSON (shape
// versioned in docs/cli.md) for programs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/json_writer.hpp"
#include "protocol/run_state.hpp"

namespace br {

inline constexpr int kJsonVersion = 1;

nlohmann::json status_json(const RunState& state);
std::string status_text(const RunState& state);
// The same text from a status document (status_json's, or the live status file's).
std::string status_text(const nlohmann::json& status);

// Which tasks `br task list` shows: in plan order, those with `status` (any when unset) of
// `feature` (its exact id; any when empty), the first `limit` of them (all when unset).
struct TaskFilter {
  std::optional<TaskStatus> status;
  std::string feature;
  std::optional<std::size_t> limit;
};

// Both write as they go, one task at a time: no DOM or string of every task.
void write_task_list_json(const RunState& state, const TaskFilter& filter, JsonWriter& out);
void write_task_list_text(const RunState& state, const TaskFilter& filter, OutputBuffer& out);

// The tasks of one status that share a reason, as the summary and the report fold them: one
// failure blocks everything that depends on it, so a run of 400k tasks has a few reasons for
// most of them. Groups are in plan order of their first task; each keeps the plan indexes of
// its first `keep` tasks and counts all of them.
struct ReasonGroup {
  std::string_view reason;  // a task's reason in `state`
  std::vector<std::size_t> tasks;
  std::size_t count = 0;
};
std::vector<ReasonGroup> group_by_reason(const RunState& state, TaskStatus status,
                                         std::size_t keep);

}  // namespace br
