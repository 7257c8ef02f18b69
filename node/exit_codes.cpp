#include "node/exit_codes.hpp"

#include <fmt/core.h>

#include <cstdio>

namespace br {

int report_failure(const Error& error, std::string_view prefix) {
  fmt::print(stderr, "{}{}\n", prefix, error.str());
  return exit_code_of(error.category);
}

int report_failure(ErrorCategory category, const std::string& message) {
  return report_failure(Error::of(message, category));
}

}  // namespace br
