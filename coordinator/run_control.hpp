// Control of a live run from another terminal, through its state dir: `br stop` (and
// `br cancel`) leaves a request there that the run (`br run`, `br resume`, `br retry` or `br-coordinator`) takes up
// within a fraction of a second and handles as Ctrl-C. The request folder is made 0700, so only
// someone who can write the state dir (who could as well edit its journal) can stop the run;
// no port, no token.
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
