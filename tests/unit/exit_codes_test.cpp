#include <catch2/catch.hpp>

#include <utility>

#include "node/exit_codes.hpp"

using namespace br;

TEST_CASE("each error category has the exit code docs/cli.md gives it") {
  const std::pair<ErrorCategory, int> table[] = {
      {ErrorCategory::bad_input, 2},      {ErrorCategory::task_failed, 1},
      {ErrorCategory::infrastructure, 3}, {ErrorCategory::internal, 3},
      {ErrorCategory::budget_reached, 4}, {ErrorCategory::interrupted, 130},
  };
  for (const auto& [category, code] : table) {
    INFO(static_cast<int>(category));
    CHECK(exit_code_of(category) == code);
  }
}

TEST_CASE("an error is bad input unless it says otherwise, and a caller may say better") {
  CHECK(Error::of("spec.md:3: no features").category == ErrorCategory::bad_input);
  CHECK(Error::at("spec.md", 3, "no features").category == ErrorCategory::bad_input);
  const Error disk = Error::of("journal .br/journal: the disk is full",
                               ErrorCategory::infrastructure);
  CHECK(disk.category == ErrorCategory::infrastructure);
  const Error recast = Error::of("a cycle").as(ErrorCategory::internal);
  CHECK(recast.category == ErrorCategory::internal);
  CHECK(recast.str() == "a cycle");
}

TEST_CASE("reporting a failure returns its category's exit code") {
  CHECK(report_failure(Error::of("x", ErrorCategory::infrastructure), "br stop: ") == 3);
  CHECK(report_failure(ErrorCategory::bad_input, "br: no such task") == 2);
}
