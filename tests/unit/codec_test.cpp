#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>

#include "protocol/br.capnp.h"
#include "protocol/codec.hpp"
#include "tests/support/samples.hpp"

using namespace br;

namespace {

template <class T>
T round_trip(const T& value) {
  auto decoded = decode<T>(encode(value));
  INFO((decoded.ok() ? std::string() : decoded.error().str()));
  REQUIRE(decoded.ok());
  return decoded.value();
}

template <class Wire>
std::string bytes_of(capnp::MallocMessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Every proper prefix of a message, and every single-byte corruption of it, decodes to an
// error or a value — never a crash, never an exception.
template <class T>
void check_truncations(const std::string& bytes) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode<T>(std::string_view(bytes.data(), n));
    INFO("prefix of " << n << " bytes");
    CHECK_FALSE(r.ok());
  }
}

}  // namespace

TEST_CASE("every message type survives a round trip unchanged") {
  CHECK(round_trip(test::sample_feature()) == test::sample_feature());
  CHECK(round_trip(test::sample_task()) == test::sample_task());
  CHECK(round_trip(test::sample_plan()) == test::sample_plan());
  CHECK(round_trip(test::sample_batch()) == test::sample_batch());
  CHECK(round_trip(test::sample_result()) == test::sample_result());
  TaskResult own_files = test::sample_result();
  own_files.infrastructure = true;  // added at the end of TaskResult (@13)
  CHECK(round_trip(own_files).infrastructure);
  // Added at the end of TaskResult (@14) and of taskSucceeded/taskFailed (@49, @50).
  CHECK(round_trip(own_files).agent.route == "complex");
  for (const RecordBody& body :
       {RecordBody{rec::TaskSucceeded{TaskId("a/01"), 1, "w", {}, "", "", {},
                                      AttemptAgent{"simple", "cheap-agent --fast"}}},
        RecordBody{rec::TaskFailed{TaskId("a/01"), 2, "why", {},
                                   AttemptAgent{"domain:ui", "ui-agent"}}}}) {
    const JournalRecord record{0, "run", 5, body};
    auto decoded = decode<JournalRecord>(encode(record), journal_decode_limits());
    REQUIRE(decoded.ok());
    CHECK(decoded->body == record.body);
  }
  CHECK(round_trip(test::sample_hello()) == test::sample_hello());
  const WorkRequest work{"host-2", 3};
  CHECK(round_trip(work) == work);
  const TaskProgress progress{TaskId("a/01"), 2, BatchId("b-3"), "host-2/1", 1700000000001};
  CHECK(round_trip(progress) == progress);
  const HelloReply reply{true, "wrong token", "run-9"};
  CHECK(round_trip(reply) == reply);
  const ReadyTasks ready{{TaskId("a/01"), TaskId("b/02")}, {TaskId("c/03")}};
  CHECK(round_trip(ready) == ready);
}

TEST_CASE("usage out of its bounds is refused when decoded, as from an untrusted peer") {
  TaskResult r = test::sample_result();
  r.usage.tokens_in = kMaxUsageTokens + 1;
  CHECK_FALSE(decode<TaskResult>(encode(r)).ok());
  r = test::sample_result();
  r.usage.cost_micro_usd = kMaxUsageMicroUsd + 1;
  CHECK_FALSE(decode<TaskResult>(encode(r)).ok());
  r = test::sample_result();
  r.usage = Usage{};  // unknown travels as unknown
  CHECK(round_trip(r).usage == Usage{});
}

TEST_CASE("a commit id from outside is 40 lowercase hex digits or nothing") {
  for (const std::string& bad : {std::string(39, 'a'), std::string(40, 'A'), std::string(40, 'g'),
                                std::string("../../etc/passwd")}) {
    TaskResult r = test::sample_result();
    r.commit = bad;
    CHECK_FALSE(decode<TaskResult>(encode(r)).ok());
    Batch b = test::sample_batch();
    b.base = bad;
    CHECK_FALSE(decode<Batch>(encode(b)).ok());
  }
  TaskResult none = test::sample_result();
  none.commit.clear();
  CHECK(round_trip(none) == none);
}

TEST_CASE("git objects between hosts: a result's pack, requests for objects and their chunks") {
  using namespace std::string_literals;
  TaskResult r = test::sample_result();
  r.commit = std::string(40, 'a');
  r.pack = "PACK\0\0\0\2 any bytes \xff\0"s;
  CHECK(round_trip(r) == r);
  r.commit.clear();  // a pack names the commit it brings
  CHECK_FALSE(decode<TaskResult>(encode(r)).ok());

  const ObjectsRequest request{std::string(40, 'b'), {std::string(40, 'c')}, 1 << 20};
  CHECK(round_trip(request) == request);
  ObjectsRequest bad = request;
  bad.have.push_back("../../etc");
  CHECK_FALSE(decode<ObjectsRequest>(encode(bad)).ok());
  const ObjectsChunk chunk{"", std::string(40, 'd'), 7, "\0PACK\xfe"s};
  CHECK(round_trip(chunk) == chunk);
}

TEST_CASE("texts keep their NUL bytes: what decodes is what was sent") {
  // Found by tests/fuzz/wire_fuzz: texts were cut at their first NUL on encode.
  using namespace std::string_literals;
  WorkerHello hello = test::sample_hello();
  hello.token = "s3\0cret"s;
  CHECK(round_trip(hello).token == hello.token);
  Feature feature = test::sample_feature();
  feature.requirements = {"Leaders can\0 plan"s, "\0"s};
  feature.id = FeatureId("a\0b"s);
  CHECK(round_trip(feature) == feature);
  TaskResult result = test::sample_result();
  result.reason = "exit 1\0 and more"s;
  CHECK(round_trip(result) == result);
  const JournalRecord record{0, "run\0x"s, 5, rec::TaskFailed{TaskId("a/01"), 1, "why\0"s}};
  auto back = decode<JournalRecord>(encode(record), journal_decode_limits());
  REQUIRE(back.ok());
  CHECK(*back == record);
}

TEST_CASE("bytes that are not 8-byte aligned decode as aligned ones do") {
  // Aligned bytes are read in place; the others are copied first.
  const std::string bytes = encode(test::sample_plan());
  std::string shifted(bytes.size() + 1, '\0');
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  const std::string_view unaligned(shifted.data() + 1, bytes.size());
  REQUIRE(reinterpret_cast<std::uintptr_t>(unaligned.data()) % 8 != 0);
  auto a = decode<Plan>(bytes);
  auto b = decode<Plan>(unaligned);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.value() == test::sample_plan());
  CHECK(b.value() == test::sample_plan());
}

TEST_CASE("a feature without domain or complexity override keeps them empty") {
  Feature f = test::sample_feature();
  f.domain.reset();
  f.complexity.reset();
  const Feature back = round_trip(f);
  CHECK_FALSE(back.domain.has_value());
  CHECK_FALSE(back.complexity.has_value());
}

TEST_CASE("every journal record kind survives a round trip unchanged") {
  for (const auto& body : test::every_record_body()) {
    JournalRecord record{0, "run-7", 1700000000123, body};
    INFO(kind_name(body));
    const JournalRecord back = round_trip(record);
    CHECK(back == record);
    CHECK(back.body.index() == body.index());
  }
}

TEST_CASE("round trips compare unequal when a field differs") {
  // Guards the equality used above: if it ignored fields, the round-trip tests would pass
  // for a codec that drops them.
  Task a = test::sample_task();
  Task b = a;
  b.files.back() += "x";
  CHECK(a != b);
  Batch c = test::sample_batch();
  Batch d = c;
  d.tasks[1].attempt = 9;
  CHECK(c != d);
}

TEST_CASE("truncated messages are errors") {
  check_truncations<Batch>(encode(test::sample_batch()));
  check_truncations<TaskResult>(encode(test::sample_result()));
  check_truncations<WorkerHello>(encode(test::sample_hello()));
  check_truncations<JournalRecord>(
      encode(JournalRecord{0, "r", 1, rec::PlanCreated{test::sample_plan(), "s.md", "h"}}));
}

TEST_CASE("the error says what was wrong") {
  const std::string bytes = encode(test::sample_batch());
  SECTION("empty") { CHECK(decode<Batch>("").error().str() == "Batch: empty message"); }
  SECTION("not whole words") {
    CHECK(decode<Batch>(std::string_view(bytes.data(), 13)).error().str() ==
          "Batch: message of 13 bytes is truncated (not a whole number of 8-byte words)");
  }
  SECTION("missing words") {
    auto r = decode<Batch>(std::string_view(bytes.data(), bytes.size() - 8));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().str(), Catch::StartsWith("Batch: malformed: "));
  }
}

TEST_CASE("oversized messages are refused before parsing") {
  DecodeLimits limits;
  limits.max_bytes = 64;
  const std::string bytes = encode(test::sample_batch());
  REQUIRE(bytes.size() > 64);
  auto r = decode<Batch>(bytes, limits);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str() == "Batch: message of " + std::to_string(bytes.size()) +
                               " bytes exceeds the limit of 64 bytes");
}

TEST_CASE("a segment table claiming huge segments is an error, not an allocation") {
  // One segment said to be 2^31 words long, followed by a single word.
  std::string bytes(16, '\0');
  const std::uint32_t count_minus_one = 0, words = 0x80000000u;
  std::memcpy(&bytes[0], &count_minus_one, 4);
  std::memcpy(&bytes[4], &words, 4);
  CHECK_FALSE(decode<Plan>(bytes).ok());
  // Many segments.
  const std::uint32_t many = 0xfffffffeu;
  std::memcpy(&bytes[0], &many, 4);
  CHECK_FALSE(decode<Plan>(bytes).ok());
}

TEST_CASE("a list of zero-sized elements cannot amplify into a huge allocation") {
  // Segment table (1 segment of 6 words), then: root struct pointer to a Plan with 0 data
  // words and 4 pointers; tasks (pointer 3) is a composite list whose tag claims 2^28
  // elements of zero size — 48 bytes on the wire, gigabytes if decoded naively.
  std::vector<std::uint64_t> words = {
      0x0000000600000000ull,                    // segment table: 1 segment, 6 words
      0x0004000000000000ull,                    // root: struct, offset 0, 0 data, 4 ptrs
      0, 0, 0,                                  // title, overview, features: null
      (0ull << 35 | 7ull << 32) | (0u << 2 | 1u),  // tasks: list, offset 0, composite, 0 words
      (std::uint64_t{1} << 28) << 2,            // tag: 2^28 elements, 0 data, 0 ptrs
  };
  std::string bytes(reinterpret_cast<const char*>(words.data()), words.size() * 8);
  auto r = decode<Plan>(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().str(), Catch::StartsWith("Plan: "));
}

TEST_CASE("an enum value from a newer peer is refused") {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<wire::Task>();
  task.setId("a/01");
  task.setDomain(static_cast<wire::Domain>(99));
  auto r = decode<Task>(bytes_of<wire::Task>(message));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str() == "Task: unknown domain value 99");
}

TEST_CASE("a big plan decodes on two threads to the same plan, and either half's error is "
          "reported") {
  Plan plan = test::sample_plan();
  const Task model = plan.tasks.front();
  plan.tasks.clear();
  for (int i = 0; i < 5000; ++i) {  // above the two-thread threshold (4096)
    Task t = model;
    t.id = TaskId("f/" + std::to_string(i));
    t.description = std::string(static_cast<std::size_t>(i % 97), 'd');
    plan.tasks.push_back(std::move(t));
  }
  CHECK(round_trip(plan) == plan);
  for (const unsigned bad : {10u, 4990u}) {  // one in each half
    const std::string bytes = encode(plan);
    auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(words.begin(), bytes.data(), bytes.size());
    capnp::FlatArrayMessageReader reader(words.asPtr());
    capnp::MallocMessageBuilder message;
    message.setRoot(reader.getRoot<wire::Plan>());
    message.getRoot<wire::Plan>().getTasks()[bad].setDomain(static_cast<wire::Domain>(99));
    auto r = decode<Plan>(bytes_of<wire::Plan>(message));
    INFO("bad task " << bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().str() == "Plan: unknown domain value 99");
  }
}

TEST_CASE("a task's criteria travel typed, with their texts for older readers") {
  Task t;
  t.id = TaskId("a/01");
  t.acceptance = criteria_of({"`file: src/a.py`", "contains: src/a.py ~ \"def main\"",
                              "run: pytest -q", "Prose stays prose"});
  const Task back = round_trip(t);
  REQUIRE(back.acceptance.size() == 4);
  CHECK(back.acceptance[0] == Criterion{CriterionKind::file, "src/a.py", "", ""});
  CHECK(back.acceptance[1] == Criterion{CriterionKind::contains, "src/a.py", "def main", ""});
  CHECK(back.acceptance[2] == Criterion{CriterionKind::run, "", "", "pytest -q"});
  CHECK(back.acceptance[3] == prose_criterion("Prose stays prose"));
  // The texts a reader without `criteria` sees: each criterion's one-line form.
  const std::string bytes = encode(t);
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader message(words);
  auto texts = message.getRoot<wire::Task>().getAcceptance();
  REQUIRE(texts.size() == 4);
  CHECK(std::string(texts[1].cStr()) == "contains: src/a.py ~ def main");
  CHECK(std::string(texts[3].cStr()) == "Prose stays prose");
}

TEST_CASE("a task journaled before criteria were typed is typed from its texts when read") {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<wire::Task>();
  task.setId("a/01");
  auto texts = task.initAcceptance(2);
  texts.set(0, "`contains: src/a.py ~ def main`");
  texts.set(1, "It works");
  auto r = decode<Task>(bytes_of<wire::Task>(message));
  REQUIRE(r.ok());
  CHECK(r->acceptance == std::vector<Criterion>{
                             Criterion{CriterionKind::contains, "src/a.py", "def main", ""},
                             prose_criterion("It works")});
}

TEST_CASE("a criterion kind from a newer peer is refused") {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<wire::Task>();
  task.setId("a/01");
  task.initCriteria(1)[0].setKind(static_cast<wire::CriterionKind>(9));
  auto r = decode<Task>(bytes_of<wire::Task>(message));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str() == "Task: unknown criterion kind value 9");
}

TEST_CASE("a journal record of a newer schema version is refused") {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<wire::JournalRecord>();
  record.setRunId("r");
  record.setSchemaVersion(kJournalSchemaVersion + 1);
  record.getBody().initTaskReady().setTask("a/01");
  auto r = decode<JournalRecord>(bytes_of<wire::JournalRecord>(message));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().str(), Catch::Contains("newer than this br"));
}

TEST_CASE("random bytes never crash the decoder") {
  std::mt19937_64 rng(20261124);
  std::size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(static_cast<std::size_t>(rng() % 256), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    accepted += decode<JournalRecord>(bytes).ok();
    accepted += decode<Batch>(bytes).ok();
  }
  // Nearly all random inputs are malformed; the point is that none crashed or threw.
  CHECK(accepted < 40000);
}

TEST_CASE("mutated valid messages never crash the decoder") {
  std::mt19937_64 rng(7);
  const std::string valid = encode(test::sample_batch());
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto r = decode<Batch>(bytes);
    if (r.ok()) CHECK(r->tasks.size() <= 64);  // decoded values stay within the input's size
  }
}
