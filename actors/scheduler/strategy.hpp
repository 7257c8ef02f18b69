// Scheduling strategies: the order in which ready tasks are handed out. Each is a total order
// (ties end on the task id), so the same ready set always comes out the same way.
//
//   critical-path (default)  longest remaining path in minutes first (the task's own minutes
//                            plus its longest chain of dependents), then priority, then id.
//                            Shortens the makespan: the chain that bounds the run starts first.
//   priority                 spec priority first (critical > high > medium > low), then the
//                            longest remaining path, then id.
//   shortest                 fewest minutes first, then priority, then id. Finishes the most
//                            tasks early.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

enum class Strategy : std::uint8_t { critical_path, priority, shortest };

std::string_view to_string(Strategy s);
// "critical-path", "priority" or "shortest"; the error lists them.
Result<Strategy> parse_strategy(std::string_view name);

// `ready` holds task indices into `tasks` (and `graph`); returns them best first.
std::vector<std::size_t> order_ready(const std::vector<std::size_t>& ready, Strategy strategy,
                                     const DependencyGraph& graph, const std::vector<Task>& tasks);

}  // namespace br
