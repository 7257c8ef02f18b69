// The task dependency graph: validation (unknown ids, self-edges, cycles reported as the
// cycle itself), topological order, execution levels, the critical path weighted by task
// minutes, ready tasks and descendants. Tasks are numbered by their position in the plan and
// edges are kept in compressed (CSR) arrays. Every algorithm is iterative and O(V+E), so deep
// or large graphs (100,000 tasks, 1,000,000 edges) neither overflow the stack nor crawl.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

// A contiguous run of task indices (a row of a CSR array).
struct IndexRange {
  const std::uint32_t* first = nullptr;
  const std::uint32_t* last = nullptr;
  const std::uint32_t* begin() const { return first; }
  const std::uint32_t* end() const { return last; }
  std::size_t size() const { return static_cast<std::size_t>(last - first); }
  bool empty() const { return first == last; }
};

struct CriticalPath {
  std::vector<std::uint32_t> tasks;  // from the first task to the last
  std::uint64_t minutes = 0;
};

class DependencyGraph {
 public:
  // Validates and indexes `tasks`. Every problem is reported: unknown dependency (with the
  // task that names it), self-dependency, duplicate task id, and a cycle as "a -> b -> a".
  // Duplicate edges are merged.
  static Result<DependencyGraph> build(const std::vector<Task>& tasks);

  std::size_t size() const { return minutes_.size(); }
  std::size_t edge_count() const { return dependency_ids_.size(); }

  IndexRange dependencies(std::size_t task) const;  // what `task` waits for
  IndexRange dependents(std::size_t task) const;    // what waits for `task`

  // Every task before all of its dependents; ties broken by plan order.
  const std::vector<std::uint32_t>& topological_order() const { return order_; }
  // level[i] = 0 for tasks without dependencies, else 1 + the highest level of a dependency.
  const std::vector<std::uint32_t>& level_of() const { return level_; }
  // Tasks grouped by level, each group in plan order: the groups that can run in parallel.
  std::vector<std::vector<std::uint32_t>> levels() const;
  // Longest path by minutes from `task` to any task with no dependents, `task` included:
  // the critical-path scheduling score.
  const std::vector<std::uint64_t>& remaining_minutes() const { return remaining_; }
  CriticalPath critical_path() const;

  // Tasks not done whose dependencies are all done, in plan order.
  std::vector<std::uint32_t> ready(const std::vector<bool>& done) const;
  // Everything that transitively depends on `task`, in topological order.
  std::vector<std::uint32_t> descendants(std::size_t task) const;

 private:
  std::vector<std::uint32_t> minutes_;
  // CSR: the dependencies of task i are dependency_ids_[dependency_start_[i] ..
  // dependency_start_[i+1]); likewise for dependents.
  std::vector<std::uint32_t> dependency_start_, dependency_ids_;
  std::vector<std::uint32_t> dependent_start_, dependent_ids_;
  std::vector<std::uint32_t> order_;
  std::vector<std::uint32_t> level_;
  std::vector<std::uint64_t> remaining_;
};

}  // namespace br
