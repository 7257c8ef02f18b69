// The journal actor's protocol, driven deterministically: an append is answered with the last
// record's sequence number only once the journal says the records are durable, in the order
// the appends were made, with the bytes stored as they came.
#include "storage/journal_actor.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "protocol/codec.hpp"
#include "tests/unit/actor_test_fixture.hpp"

using namespace br;
using namespace br::atoms;

namespace {

// Stands in for Journal::append_encoded_async: holds each append until the test completes it.
struct HeldAppends {
  struct Call {
    std::vector<std::string> encoded;
    std::vector<JournalRecord> records;
    Journal::Done done;
  };
  std::vector<Call> calls;

  AppendEncoded append() {
    return [this](std::vector<std::string> encoded, std::vector<JournalRecord> records,
                  Journal::Done done) {
      calls.push_back(Call{std::move(encoded), std::move(records), std::move(done)});
    };
  }
};

Encoded<JournalRecord> record(const char* task) {
  return Encoded<JournalRecord>::of(JournalRecord{0, "run", 100, rec::TaskReady{TaskId(task)}});
}

// What one append request got back.
struct Reply {
  std::optional<std::uint64_t> seq;
  std::optional<caf::error> error;
};

void append(caf::actor_system& system, const JournalActor& journal, EncodedRecords records,
            Reply& reply) {
  system.spawn([&reply, journal, records](caf::event_based_actor* self) {
    self->request(journal, caf::infinite, append_atom_v, records)
        .then([&reply](std::uint64_t seq) { reply.seq = seq; },
              [&reply](caf::error& error) { reply.error = error; });
  });
}

}  // namespace

TEST_CASE("an append is answered with the last sequence number once it is durable") {
  test::DeterministicActors actors;
  HeldAppends journal;
  auto actor = spawn_journal_actor(actors.system(), journal.append());
  Reply reply;
  const EncodedRecords records = {record("a"), record("b")};
  append(actors.system(), actor, records, reply);
  actors.run();

  REQUIRE(journal.calls.size() == 1);
  // Stored as they came: the bytes its author encoded, decoded only to be checked.
  CHECK(journal.calls[0].encoded == std::vector<std::string>{records[0].bytes, records[1].bytes});
  REQUIRE(journal.calls[0].records.size() == 2);
  CHECK(std::get<rec::TaskReady>(journal.calls[0].records[1].body).task == TaskId("b"));
  CHECK_FALSE(reply.seq);  // not durable yet, so no answer
  CHECK_FALSE(reply.error);

  journal.calls[0].done(std::uint64_t{42});
  actors.run();
  REQUIRE(reply.seq);
  CHECK(*reply.seq == 42);
  CHECK_FALSE(reply.error);
}

TEST_CASE("appends are answered each with its own sequence number, as they become durable") {
  test::DeterministicActors actors;
  HeldAppends journal;
  auto actor = spawn_journal_actor(actors.system(), journal.append());
  Reply first, second;
  append(actors.system(), actor, {record("a")}, first);
  actors.run();
  append(actors.system(), actor, {record("b"), record("c")}, second);
  actors.run();
  REQUIRE(journal.calls.size() == 2);

  journal.calls[0].done(std::uint64_t{7});
  actors.run();
  CHECK(first.seq == std::optional<std::uint64_t>(7));
  CHECK_FALSE(second.seq);

  journal.calls[1].done(std::uint64_t{9});
  actors.run();
  CHECK(second.seq == std::optional<std::uint64_t>(9));
}

TEST_CASE("a journal failure is the append's error, with the journal's words") {
  test::DeterministicActors actors;
  HeldAppends journal;
  auto actor = spawn_journal_actor(actors.system(), journal.append());
  Reply reply;
  append(actors.system(), actor, {record("a")}, reply);
  actors.run();
  REQUIRE(journal.calls.size() == 1);
  journal.calls[0].done(Error::of("state/journal: no space left on device"));
  actors.run();
  CHECK_FALSE(reply.seq);
  REQUIRE(reply.error);
  CHECK(error_text(*reply.error) == "state/journal: no space left on device");
}

TEST_CASE("records that do not decode are refused before anything is written") {
  test::DeterministicActors actors;
  HeldAppends journal;
  auto actor = spawn_journal_actor(actors.system(), journal.append());
  Reply reply;
  append(actors.system(), actor,
         {record("a"), Encoded<JournalRecord>{std::string("\x05\x00 junk", 7)}}, reply);
  actors.run();
  CHECK(journal.calls.empty());
  CHECK_FALSE(reply.seq);
  REQUIRE(reply.error);
  CHECK(*reply.error == caf::sec::invalid_argument);
  CHECK_THAT(error_text(*reply.error), Catch::StartsWith("JournalRecord: "));
}
