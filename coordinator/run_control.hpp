// Control of a live run from another terminal, through its state dir: `br stop` (and
// `br cancel`) leaves a request there that the run (`br run`, `br resume`, `br retry` or
// `br-coordinator`) takes up within a fraction of a second and handles as Ctrl-C. The request
// folder is the run's own: made 0700 by its user, and a request is taken only from a folder
// that is still that (a directory, not a link, owned by the run's user, open to nobody else),
// so only the run's user (who could as well edit its journal) can stop it; no port, no token.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/state_dir.hpp"
#include "protocol/result.hpp"

namespace br {

// An argument as the shell reads it back: as is when plain, else in single quotes (for the
// commands br prints to be run next).
std::string shell_word(const std::string& word);

// The command that reads this run ("br --state-dir DIR"): what every printed hint starts with.
std::string reader_command(const StateDir& dir);

// Makes the run's control folder its own (see above): created 0700, or an existing one checked
// and closed to others. An error says why requests cannot reach the run; it can go on without.
Status own_control(const StateDir& dir);

// Leaves a stop request naming `who` ("br stop, pid 4242"); written whole, then renamed.
Status request_stop(const StateDir& dir, const std::string& who);

// The pending stop request's `who`, and the request removed; nullopt when there is none.
std::optional<std::string> take_stop_request(const StateDir& dir);

// `br cancel`: asks the live run to cancel `tasks` (ids), on behalf of `who`.
Status request_cancel(const StateDir& dir, const std::set<std::string>& tasks,
                      const std::string& who);

struct CancelRequest {
  std::string who;
  std::set<std::string> tasks;
};
// Every pending cancel request, each removed as it is read.
std::vector<CancelRequest> take_cancel_requests(const StateDir& dir);

}  // namespace br
