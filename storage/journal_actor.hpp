// The journal actor: the actors' door to the Journal. A request (append_atom, records) is
// answered with the sequence number of the last record once all of them are durable.
// Requests are answered in the order they were made.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "protocol/actor_messages.hpp"
#include "storage/journal.hpp"

namespace br {

// The journal's append as the actor uses it (Journal::append_encoded_async): `done` may run
// on another thread. Tests pass their own to decide when records become durable.
using AppendEncoded = std::function<void(std::vector<std::string> encoded,
                                         std::vector<JournalRecord> records, Journal::Done done)>;

// The journal must outlive the actor.
JournalActor spawn_journal_actor(caf::actor_system& system, Journal& journal);
JournalActor spawn_journal_actor(caf::actor_system& system, AppendEncoded append);

}  // namespace br
