// The journal actor: the actors' door to the Journal. A request (append_atom, records) is
// answered with the sequence number of the last record once all of them are durable.
// Requests are answered in the order they were made.
#pragma once

#include <caf/fwd.hpp>

#include <memory>

namespace br {

class Journal;

// The journal must outlive the actor.
caf::actor spawn_journal_actor(caf::actor_system& system, Journal& journal);

}  // namespace br
