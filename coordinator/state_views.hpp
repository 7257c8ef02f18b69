// What `br status` and `br task list` show of a replayed run: text for people, JSON (shape
// versioned in docs/cli.md) for programs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "protocol/run_state.hpp"

namespace br {

inline constexpr int kJsonVersion = 1;

nlohmann::json status_json(const RunState& state);
std::string status_text(const RunState& state);

// Tasks in plan order, optionally only those with one status.
nlohmann::json task_list_json(const RunState& state, std::optional<TaskStatus> only);
std::string task_list_text(const RunState& state, std::optional<TaskStatus> only);

}  // namespace br
