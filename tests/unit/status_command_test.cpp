#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "coordinator/status_command.hpp"

using namespace br;

namespace {

std::optional<StatusCall> call(std::vector<const char*> words) {
  words.insert(words.begin(), "br");
  return status_call(static_cast<int>(words.size()), words.data());
}

}  // namespace

TEST_CASE("br status is answered by the small br in every form the full CLI takes") {
  auto plain = call({"status"});
  REQUIRE(plain);
  CHECK(plain->dir.root == ".br");
  CHECK_FALSE(plain->json);

  for (const auto& words : std::vector<std::vector<const char*>>{
           {"--state-dir", "runs/a", "status", "--json"},
           {"status", "--json", "--state-dir", "runs/a"},
           {"--state-dir=runs/a", "--color", "never", "status", "--json"},
           {"status", "--colour=always", "--json", "--state-dir=runs/a"}}) {
    const auto parsed = call(words);
    REQUIRE(parsed);
    CHECK(parsed->dir.root == "runs/a");
    CHECK(parsed->json);
  }
}

TEST_CASE("anything else goes to the full CLI, which answers it as it always has") {
  for (const auto& words : std::vector<std::vector<const char*>>{
           {},                                   // no command: its usage
           {"run", "--auto", "spec.md"},         // another command
           {"stauts"},                           // a typo, for its suggestion
           {"status", "--help"},                 // help
           {"--json", "status"},                 // --json is status's, not global
           {"status", "extra"},                  // an argument status does not take
           {"status", "--state-dir"},            // a value missing
           {"status", "--state-dir="},           // an empty one
           {"status", "--color", "sometimes"},   // a bad one
           {"status", "--json", "--json"},       // twice
           {"--state-dir", "a", "--state-dir", "b", "status"},
           {"status", "status"},
           {"--version"}}) {
    CHECK_FALSE(call(words));
  }
}
