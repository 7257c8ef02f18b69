#include "storage/journal_actor.hpp"

#include <map>

namespace br {
namespace {

using namespace br::atoms;

// The writer thread's answer comes back as a message, so promises are only touched by the
// actor; it is not part of the interface others see.
using JournalActorImpl = JournalActor::extend<
    caf::reacts_to<durable_atom, std::uint64_t, std::uint64_t, std::string>>;

struct JournalActorState {
  AppendEncoded append;
  std::uint64_t next_ticket = 0;
  // Requests waiting for their records to become durable, by ticket.
  std::map<std::uint64_t, caf::typed_response_promise<std::uint64_t>> waiting;
  static inline const char* name = "br.journal";
};

JournalActorImpl::behavior_type journal_actor(
    JournalActorImpl::stateful_pointer<JournalActorState> self, AppendEncoded append) {
  self->state.append = std::move(append);
  return {
      // Records arrive encoded (each one a Cap'n Proto JournalRecord, with the run's id) so
      // that the same message could come from another process; they are decoded here,
      // bounded, to check them and for the snapshot fold, and stored as they came.
      [=](append_atom, const EncodedRecords& encoded) -> caf::result<std::uint64_t> {
        std::vector<JournalRecord> records;
        std::vector<std::string> bytes;
        records.reserve(encoded.size());
        bytes.reserve(encoded.size());
        for (const auto& e : encoded) {
          auto record = e.decode(journal_decode_limits());
          if (!record) return caf::make_error(caf::sec::invalid_argument, record.error().str());
          records.push_back(std::move(record).value());
          bytes.push_back(e.bytes);
        }
        auto& st = self->state;
        const std::uint64_t ticket = st.next_ticket++;
        auto promise = self->make_response_promise<std::uint64_t>();
        st.waiting.emplace(ticket, promise);
        // The callback may run on the journal's writer thread: only hand the answer back.
        auto me = caf::actor_cast<JournalActorImpl>(self);
        // The bytes as they came are what is stored: a record is encoded once, by its author.
        st.append(std::move(bytes), std::move(records), [me, ticket](Result<std::uint64_t> r) {
          if (r.ok()) caf::anon_send(me, durable_atom_v, ticket, r.value(), std::string());
          else caf::anon_send(me, durable_atom_v, ticket, std::uint64_t{0}, r.error().str());
        });
        return promise;
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

JournalActor spawn_journal_actor(caf::actor_system& system, Journal& journal) {
  return spawn_journal_actor(system, [&journal](std::vector<std::string> encoded,
                                                std::vector<JournalRecord> records,
                                                Journal::Done done) {
    journal.append_encoded_async(std::move(encoded), std::move(records), std::move(done));
  });
}

JournalActor spawn_journal_actor(caf::actor_system& system, AppendEncoded append) {
  return system.spawn(journal_actor, std::move(append));
}

}  // namespace br
