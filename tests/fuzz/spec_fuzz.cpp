// Fuzz target: PROJECT_SPEC.md bytes → parse → decompose → dependency graph → levels and
// critical path. Properties: errors are diagnostics naming the file; every task takes 1-120
// minutes and a stated estimate is its feature's total; done features have no tasks; a plan
// that builds has a topological order that is a permutation putting every dependency first,
// levels that cover every task once, and a critical path no longer than the plan.
#include <map>
#include <set>
#include <string>

#include "actors/graph/dependency_graph.hpp"
#include "actors/planner/decomposer.hpp"
#include "actors/planner/spec_parser.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  br::ParseLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_features = 2000;
  auto spec = br::parse_spec(br::fuzz::bytes(data, size), "fuzz.md", limits);
  if (!spec) {
    BR_FUZZ_CHECK(!spec.error().diagnostics.empty());
    for (const auto& d : spec.error().diagnostics) BR_FUZZ_CHECK(d.file == "fuzz.md");
    return 0;
  }
  const br::Plan plan = br::make_plan(*spec);
  std::set<std::string> ids;
  std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> by_feature;  // tasks, minutes
  for (const auto& task : plan.tasks) {
    BR_FUZZ_CHECK(ids.insert(task.id.str()).second);
    BR_FUZZ_CHECK(task.minutes >= 1 && task.minutes <= 120);
    auto& [tasks, minutes] = by_feature[task.feature.str()];
    ++tasks;
    minutes += task.minutes;
  }
  // A stated estimate is its feature's total wherever the tasks can hold it; done work has none.
  for (const auto& f : plan.features) {
    const auto found = by_feature.find(f.id.str());
    BR_FUZZ_CHECK(f.done == (found == by_feature.end()));
    if (f.done || f.minutes == 0) continue;
    const auto [tasks, minutes] = found->second;
    if (f.minutes >= tasks && f.minutes <= 120 * tasks) BR_FUZZ_CHECK(minutes == f.minutes);
  }
  auto graph = br::DependencyGraph::build(plan.tasks);
  if (!graph) return 0;  // a cycle or a missing dependency, reported as such
  const std::size_t n = graph->size();
  BR_FUZZ_CHECK(n == plan.tasks.size());
  const auto& order = graph->topological_order();
  BR_FUZZ_CHECK(order.size() == n);
  std::vector<std::size_t> position(n, n);
  for (std::size_t i = 0; i < n; ++i) {
    BR_FUZZ_CHECK(order[i] < n && position[order[i]] == n);
    position[order[i]] = i;
  }
  for (std::size_t t = 0; t < n; ++t) {
    for (std::uint32_t dep : graph->dependencies(t)) BR_FUZZ_CHECK(position[dep] < position[t]);
  }
  std::size_t in_levels = 0;
  for (const auto& level : graph->levels()) in_levels += level.size();
  BR_FUZZ_CHECK(in_levels == n);
  BR_FUZZ_CHECK(graph->critical_path().tasks.size() <= n);
  return 0;
}
