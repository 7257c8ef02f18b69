// Exit codes of br, br-coordinator and br-worker (docs/cli.md): one per error category, so a
// failure's code follows from what kind of failure it is.
#pragma once

#include <string>
#include <string_view>

#include "protocol/result.hpp"

namespace br {

inline constexpr int kExitOk = 0;
inline constexpr int kExitTaskFailed = 1;  // the run finished and some task failed
inline constexpr int kExitBadInput = 2;    // bad spec, config or usage
inline constexpr int kExitInternal = 3;    // internal or infrastructure error
inline constexpr int kExitBudget = 4;      // the run reached [agent] max_cost_usd and stopped
inline constexpr int kExitInterrupted = 130;  // like a shell: stopped by SIGINT (or br stop)

constexpr int exit_code_of(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::bad_input: return kExitBadInput;
    case ErrorCategory::task_failed: return kExitTaskFailed;
    case ErrorCategory::infrastructure: return kExitInternal;
    case ErrorCategory::internal: return kExitInternal;
    case ErrorCategory::budget_reached: return kExitBudget;
    case ErrorCategory::interrupted: return kExitInterrupted;
  }
  return kExitInternal;
}

// Prints the error to stderr (`prefix`, e.g. "br cancel: ", before it) and returns the exit
// code of its category: how every command ends on an error.
int report_failure(const Error& error, std::string_view prefix = {});
int report_failure(ErrorCategory category, const std::string& message);

}  // namespace br
