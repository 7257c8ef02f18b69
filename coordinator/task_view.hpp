// One task, looked at closely: `br task show ID` (its plan, its state, every attempt with the
// agent's last lines and where its prompt and log are) and the log files `br logs ID` prints.
// Pure functions of a run, its journal's attempts and the state dir's files.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/report_view.hpp"
#include "coordinator/state_dir.hpp"
#include "protocol/run_state.hpp"

namespace br {

// The last `max_bytes` of a file ("" when it cannot be read), starting at a line when cut,
// after a "…" line.
std::string file_tail(const std::string& path, std::size_t max_bytes);

// The last `lines` non-empty lines of `text`.
std::vector<std::string> last_lines(const std::string& text, std::size_t lines);

// Where an attempt's files are on this host, or why they are not.
struct AttemptFiles {
  std::string log;     // path, "" when not here
  std::string prompt;  // path, "" when not here
  std::string why_no_log;  // when log is "": "pruned: ..." or "on the host that ran it ..."
};
AttemptFiles attempt_files(const StateDir& dir, const AttemptSpan& attempt);

// `br task show ID --json` (docs/cli.md). `task` is an index in the run's plan; `attempts` are
// the journal's (all tasks': the task's own are picked out).
nlohmann::json task_json(const RunState& state, std::size_t task,
                         const std::vector<AttemptSpan>& attempts, const StateDir& dir,
                         std::size_t tail_lines = 10);
std::string task_text(const nlohmann::json& doc);

// The attempt `br logs ID [--attempt N]` shows: number N, or the last one dispatched; nullopt
// when there is none.
std::optional<AttemptSpan> pick_attempt(const std::vector<AttemptSpan>& attempts, std::size_t task,
                                        std::optional<std::uint32_t> number);

}  // namespace br
