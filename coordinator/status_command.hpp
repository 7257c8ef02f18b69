// `br status`: the one read a live run gets polled with (`watch br status`, a dashboard), so it
// is kept apart from the rest of the CLI: coordinator/br_main.cpp runs it in a small process
// that does not load CAF, libgit2 or prometheus-cpp (coordinator/README in docs/design.md).
#pragma once

#include <optional>

#include "coordinator/state_dir.hpp"

namespace br {

// `br status` as the full CLI would take it: one word "status", --json, and the global options
// before or after it (--state-dir DIR or =DIR, --color/--colour auto|always|never, either form).
struct StatusCall {
  StateDir dir{".br"};
  bool json = false;
};
// The call when argv is exactly such a command line; nullopt for anything else (another
// command, --help, a typo, a bad value), which the full CLI answers.
std::optional<StatusCall> status_call(int argc, const char* const* argv);

// Prints the run's state (its status.json while it is live, else its journal replayed), as
// text or with `json` as one document (docs/cli.md). Returns the exit code.
int status_command(const StateDir& dir, bool json);

}  // namespace br
