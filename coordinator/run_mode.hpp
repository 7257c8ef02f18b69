// Whether a run asks before each batch (br run without --auto) or runs them all (--auto), and
// how `br resume` and `br retry` carry that on: the state dir remembers the mode its run last
// ran in (STATE/mode), as it remembers its config, so a run started with --auto resumes
// without asking and one started at the prompt keeps asking.
#pragma once

#include <optional>
#include <string>

#include "coordinator/state_dir.hpp"

namespace br {

enum class RunMode { ask, automatic };

// What the command line said: `br run` asks unless --auto; `br resume` and `br retry` take
// --auto or --ask, else the remembered mode, else ask (a run whose mode was never remembered:
// asking dispatches nothing the user has not seen, and off a terminal it says what to pass).
RunMode choose_run_mode(bool is_run, bool auto_flag, bool ask_flag,
                        std::optional<RunMode> remembered);

// Why `command` (run, resume, retry) cannot ask here (no terminal), with the fix; `remembered`
// says the mode came from the state dir rather than the command line.
std::string no_terminal_to_ask(const std::string& command, bool remembered);

// The mode `dir`'s run last ran in; none when it was never remembered or cannot be read.
std::optional<RunMode> remembered_run_mode(const StateDir& dir);

// Remembers `mode` as the mode of `dir`'s run. Best effort, as remember_config: a state dir
// that cannot take it only loses the default (and resume then asks).
void remember_run_mode(const StateDir& dir, RunMode mode);

}  // namespace br
