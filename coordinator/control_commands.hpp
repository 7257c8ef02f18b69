// `br stop` and `br cancel`: change the run going on in a state dir from another terminal,
// through its control requests (coordinator/run_control.hpp) and waiting until its journal
// shows the change; a cancel of a run not going on is journaled here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/state_dir.hpp"

namespace br {

// Asks the live run to stop and waits until it has (its journal is let go) or `timeout_s`.
int stop_command(const StateDir& dir, std::uint32_t timeout_s);

// Checks `names` against the run, asks the live run to cancel them and waits until its
// journal shows them cancelled (or `timeout_s`); a run not going on is changed here.
int cancel_command(const StateDir& dir, const std::vector<std::string>& names,
                   std::uint32_t timeout_s);

}  // namespace br
