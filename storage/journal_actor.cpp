#include "storage/journal_actor.hpp"

#include <map>

#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"
#include "storage/journal.hpp"

namespace br {
namespace {

using namespace br::atoms;

struct JournalActorState {
  Journal* journal = nullptr;
  std::uint64_t next_ticket = 0;
  // Requests waiting for their records to become durable, by ticket.
  std::map<std::uint64_t, caf::response_promise> waiting;
  static inline const char* name = "br.journal";
};

caf::behavior journal_actor(caf::stateful_actor<JournalActorState>* self, Journal* journal) {
  self->state.journal = journal;
  return {
      // Records arrive encoded (each one a Cap'n Proto JournalRecord, with the run's id) so
      // that the same message could come from another process; they are decoded here,
      // bounded, to check them and for the snapshot fold, and stored as they came.
      [=](append_atom, const std::vector<std::string>& encoded) -> caf::result<std::uint64_t> {
        std::vector<JournalRecord> records;
        records.reserve(encoded.size());
        for (const auto& bytes : encoded) {
          auto record = decode<JournalRecord>(bytes, journal_decode_limits());
          if (!record) return caf::make_error(caf::sec::invalid_argument, record.error().str());
          records.push_back(std::move(record).value());
        }
        auto& st = self->state;
        const std::uint64_t ticket = st.next_ticket++;
        st.waiting.emplace(ticket, self->make_response_promise());
        // The callback runs on the journal's writer thread: only hand the answer back.
        caf::actor me = caf::actor_cast<caf::actor>(self);
        // The bytes as they came are what is stored: a record is encoded once, by its author.
        st.journal->append_encoded_async(
            encoded, std::move(records), [me, ticket](Result<std::uint64_t> r) {
              if (r.ok()) caf::anon_send(me, durable_atom_v, ticket, r.value(), std::string());
              else caf::anon_send(me, durable_atom_v, ticket, std::uint64_t{0}, r.error().str());
            });
        return caf::delegated<std::uint64_t>();
      },
      [=](durable_atom, std::uint64_t ticket, std::uint64_t seq, const std::string& error) {
        auto& waiting = self->state.waiting;
        auto it = waiting.find(ticket);
        if (it == waiting.end()) return;
        if (error.empty()) it->second.deliver(seq);
        else it->second.deliver(caf::make_error(caf::sec::runtime_error, error));
        waiting.erase(it);
      },
  };
}

}  // namespace

caf::actor spawn_journal_actor(caf::actor_system& system, Journal& journal) {
  return system.spawn(journal_actor, &journal);
}

}  // namespace br
