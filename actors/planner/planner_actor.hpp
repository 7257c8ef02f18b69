// The planner actor: (plan_atom, spec path, spec text, max bytes, max tasks) → the spec's Plan as
// Cap'n Proto bytes, or an error carrying every diagnostic (file:line: message).
#pragma once

#include <caf/fwd.hpp>

namespace br {

caf::actor spawn_planner_actor(caf::actor_system& system);

}  // namespace br
