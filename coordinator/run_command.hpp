// `br run --auto SPEC` and `br resume`: plan (or replay), then run the whole pipeline in this
// process — journal, graph, scheduler and N worker actors — until every task is finished or
// the run is interrupted. Returns the process exit code (node/exit_codes.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "actors/graph/run_tracker.hpp"
#include "coordinator/state_dir.hpp"

namespace br {

enum class OutputMode { live, plain, quiet };

struct RunOptions {
  std::string spec;                      // empty: resume the run in the state dir
  std::string config_path;               // empty: defaults
  std::optional<std::uint32_t> workers;  // overrides [run] workers
  std::string strategy;                  // overrides [run] strategy when set
  StateDir state_dir;
  OutputMode output = OutputMode::plain;
  bool verbose = false;
  bool colour = false;
  bool approve = false;  // interactive: ask before each batch (br run without --auto)
  // br resume and br retry that would ask with no terminal to ask at: why, with the fix. Said
  // once the run's journal has been read, so a damaged or missing run is reported first.
  std::string cannot_ask;
  // br-coordinator: publish the front actor here (HOST:PORT; port 0 picks a free one, and the
  // address is printed as "listening on HOST:PORT"). Local workers then default to none.
  std::string listen;
  bool serve = false;  // br-coordinator: listen on `listen`, or else on [network] listen
  // The state dir's run began from another version of `spec`: plan it again, keeping the
  // tasks that succeeded and still exist, instead of refusing.
  bool replan = false;
  // br retry: reopen these tasks of the state dir's stopped or finished run first.
  std::optional<RetrySelection> retry;
};

int run_command(const RunOptions& options);

}  // namespace br
