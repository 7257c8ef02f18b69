#include "actors/scheduler/strategy.hpp"

#include <algorithm>
#include <tuple>

namespace br {

std::string_view to_string(Strategy s) {
  switch (s) {
    case Strategy::critical_path: return "critical-path";
    case Strategy::priority: return "priority";
    case Strategy::shortest: return "shortest";
  }
  return "critical-path";
}

Result<Strategy> parse_strategy(std::string_view name) {
  for (Strategy s : {Strategy::critical_path, Strategy::priority, Strategy::shortest}) {
    if (name == to_string(s)) return s;
  }
  return Error::of("unknown strategy '" + std::string(name) +
                   "'; use one of critical-path, priority, shortest");
}

std::vector<std::size_t> order_ready(const std::vector<std::size_t>& ready, Strategy strategy,
                                     const DependencyGraph& graph, const std::vector<Task>& tasks) {
  const auto& remaining = graph.remaining_minutes();
  // Priority enum order is critical < high < medium < low, so smaller ranks first.
  const auto key = [&](std::size_t i) {
    const auto priority = static_cast<int>(tasks[i].priority);
    // Negated so that larger remaining paths sort first in an ascending order.
    const auto longest_first = -static_cast<std::int64_t>(remaining[i]);
    switch (strategy) {
      case Strategy::critical_path:
        return std::make_tuple(longest_first, static_cast<std::int64_t>(priority));
      case Strategy::priority:
        return std::make_tuple(static_cast<std::int64_t>(priority), longest_first);
      case Strategy::shortest:
        return std::make_tuple(static_cast<std::int64_t>(tasks[i].minutes),
                               static_cast<std::int64_t>(priority));
    }
    return std::make_tuple(longest_first, static_cast<std::int64_t>(priority));
  };
  std::vector<std::size_t> out = ready;
  std::sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
    const auto ka = key(a), kb = key(b);
    if (ka != kb) return ka < kb;
    return tasks[a].id < tasks[b].id;
  });
  return out;
}

}  // namespace br
