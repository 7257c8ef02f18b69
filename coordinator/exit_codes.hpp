// Exit codes of every br command (docs/cli.md).
#pragma once

namespace br {

inline constexpr int kExitOk = 0;
inline constexpr int kExitTaskFailed = 1;  // the run finished and some task failed
inline constexpr int kExitBadInput = 2;    // bad spec, config or usage
inline constexpr int kExitInternal = 3;    // internal or infrastructure error
inline constexpr int kExitBudget = 4;      // the run reached [agent] max_cost_usd and stopped

}  // namespace br
