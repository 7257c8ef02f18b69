#include "actors/graph/dependency_graph.hpp"

#include <algorithm>
#include <limits>
#include <string_view>
#include <unordered_map>

namespace br {
namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

IndexRange DependencyGraph::dependencies(std::size_t task) const {
  return {dependency_ids_.data() + dependency_start_[task],
          dependency_ids_.data() + dependency_start_[task + 1]};
}

IndexRange DependencyGraph::dependents(std::size_t task) const {
  return {dependent_ids_.data() + dependent_start_[task],
          dependent_ids_.data() + dependent_start_[task + 1]};
}

Result<DependencyGraph> DependencyGraph::build(const std::vector<Task>& tasks) {
  if (tasks.size() >= std::numeric_limits<std::uint32_t>::max()) {
    return Error::of("too many tasks: " + std::to_string(tasks.size()));
  }
  const auto n = static_cast<std::uint32_t>(tasks.size());
  std::vector<Diagnostic> errors;
  const auto error = [&](std::string message) {
    errors.push_back(Diagnostic{{}, 0, std::move(message)});
  };

  // Views into `tasks`' strings: no copies of 100,000 ids.
  std::unordered_map<std::string_view, std::uint32_t> index;
  index.reserve(tasks.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    auto [it, inserted] = index.emplace(tasks[i].id.str(), i);
    if (!inserted) {
      error("duplicate task id " + quoted(tasks[i].id.str()) + " (tasks " +
            std::to_string(it->second + 1) + " and " + std::to_string(i + 1) + " of the plan)");
    }
  }

  DependencyGraph g;
  g.minutes_.resize(n);
  g.dependency_start_.assign(n + 1, 0);
  std::size_t edges = 0;
  for (const auto& t : tasks) edges += t.depends_on.size();
  g.dependency_ids_.reserve(edges);
  std::vector<std::uint32_t> row;
  for (std::uint32_t i = 0; i < n; ++i) {
    g.minutes_[i] = tasks[i].minutes;
    row.clear();
    for (const auto& dep : tasks[i].depends_on) {
      auto it = index.find(dep.str());
      if (it == index.end()) {
        error("task " + quoted(tasks[i].id.str()) + " depends on unknown task " +
              quoted(dep.str()));
      } else if (it->second == i) {
        error("task " + quoted(tasks[i].id.str()) + " depends on itself");
      } else {
        row.push_back(it->second);
      }
    }
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    g.dependency_ids_.insert(g.dependency_ids_.end(), row.begin(), row.end());
    g.dependency_start_[i + 1] = static_cast<std::uint32_t>(g.dependency_ids_.size());
  }
  if (!errors.empty()) return Error{std::move(errors)};

  // Dependents: the same edges, reversed, by counting sort.
  g.dependent_start_.assign(n + 1, 0);
  for (std::uint32_t dep : g.dependency_ids_) ++g.dependent_start_[dep + 1];
  for (std::uint32_t i = 0; i < n; ++i) g.dependent_start_[i + 1] += g.dependent_start_[i];
  g.dependent_ids_.resize(g.dependency_ids_.size());
  {
    std::vector<std::uint32_t> fill(g.dependent_start_.begin(), g.dependent_start_.end() - 1);
    for (std::uint32_t i = 0; i < n; ++i) {
      for (std::uint32_t dep : g.dependencies(i)) g.dependent_ids_[fill[dep]++] = i;
    }
  }

  // Kahn's algorithm, computing levels on the way. `order_` doubles as the FIFO queue.
  std::vector<std::uint32_t> waiting(n);
  g.level_.assign(n, 0);
  g.order_.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    waiting[i] = static_cast<std::uint32_t>(g.dependencies(i).size());
    if (waiting[i] == 0) g.order_.push_back(i);
  }
  for (std::size_t head = 0; head < g.order_.size(); ++head) {
    const std::uint32_t u = g.order_[head];
    for (std::uint32_t d : g.dependents(u)) {
      g.level_[d] = std::max(g.level_[d], g.level_[u] + 1);
      if (--waiting[d] == 0) g.order_.push_back(d);
    }
  }

  if (g.order_.size() < n) {
    // Every task left over waits for another left-over task, so following such dependencies
    // from any of them must come back around: that loop is the cycle to show.
    std::uint32_t start = 0;
    while (waiting[start] == 0) ++start;
    std::vector<std::int64_t> seen_at(n, -1);
    std::vector<std::uint32_t> walk;
    std::uint32_t u = start;
    while (seen_at[u] < 0) {
      seen_at[u] = static_cast<std::int64_t>(walk.size());
      walk.push_back(u);
      for (std::uint32_t dep : g.dependencies(u)) {
        if (waiting[dep] > 0) {
          u = dep;
          break;
        }
      }
    }
    std::string cycle;
    for (std::size_t k = static_cast<std::size_t>(seen_at[u]); k < walk.size(); ++k) {
      cycle += tasks[walk[k]].id.str() + " -> ";
    }
    cycle += tasks[u].id.str();
    return Error::of("dependency cycle: " + cycle + " (each task depends on the next)");
  }

  // Longest remaining path, from the sinks back.
  g.remaining_.assign(n, 0);
  for (auto it = g.order_.rbegin(); it != g.order_.rend(); ++it) {
    std::uint64_t longest = 0;
    for (std::uint32_t d : g.dependents(*it)) longest = std::max(longest, g.remaining_[d]);
    g.remaining_[*it] = g.minutes_[*it] + longest;
  }
  return g;
}

std::vector<std::vector<std::uint32_t>> DependencyGraph::levels() const {
  std::uint32_t top = 0;
  for (std::uint32_t l : level_) top = std::max(top, l);
  std::vector<std::vector<std::uint32_t>> out(size() == 0 ? 0 : top + 1);
  for (std::uint32_t i = 0; i < size(); ++i) out[level_[i]].push_back(i);
  return out;
}

CriticalPath DependencyGraph::critical_path() const {
  CriticalPath path;
  if (size() == 0) return path;
  // Start at the task without dependencies that has the longest way to go (first on ties).
  std::uint32_t u = 0;
  bool found = false;
  for (std::uint32_t i = 0; i < size(); ++i) {
    if (!dependencies(i).empty()) continue;
    if (!found || remaining_[i] > remaining_[u]) u = i;
    found = true;
  }
  path.minutes = remaining_[u];
  for (;;) {
    path.tasks.push_back(u);
    const IndexRange next = dependents(u);
    if (next.empty()) break;
    std::uint32_t best = *next.begin();
    for (std::uint32_t d : next) {
      const std::uint64_t here = remaining_[d], longest = remaining_[best];
      if (here > longest || (here == longest && d < best)) best = d;  // ties: plan order
    }
    u = best;
  }
  return path;
}

std::vector<std::uint32_t> DependencyGraph::ready(const std::vector<bool>& done) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < size(); ++i) {
    if (i < done.size() && done[i]) continue;
    bool all = true;
    for (std::uint32_t dep : dependencies(i)) {
      if (dep >= done.size() || !done[dep]) {
        all = false;
        break;
      }
    }
    if (all) out.push_back(i);
  }
  return out;
}

std::vector<std::uint32_t> DependencyGraph::descendants(std::size_t task) const {
  std::vector<bool> seen(size(), false);
  std::vector<std::uint32_t> out;
  for (std::uint32_t d : dependents(task)) {
    if (!seen[d]) seen[d] = true, out.push_back(d);
  }
  for (std::size_t head = 0; head < out.size(); ++head) {
    for (std::uint32_t d : dependents(out[head])) {
      if (!seen[d]) seen[d] = true, out.push_back(d);
    }
  }
  // Level order is a topological order: every dependency sits on a lower level.
  std::sort(out.begin(), out.end(), [&](std::uint32_t a, std::uint32_t b) {
    return level_[a] != level_[b] ? level_[a] < level_[b] : a < b;
  });
  return out;
}

}  // namespace br
