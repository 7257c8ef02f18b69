#include <catch2/catch.hpp>

#include "actors/graph/dependency_graph.hpp"
#include "actors/graph/retry_policy.hpp"

using namespace br;

namespace {

Task task(const std::string& id, std::uint32_t minutes, std::vector<std::string> deps = {}) {
  Task t;
  t.id = TaskId(id);
  t.minutes = minutes;
  for (auto& d : deps) t.depends_on.emplace_back(d);
  return t;
}

std::vector<std::string> names(const std::vector<std::uint32_t>& idx, const std::vector<Task>& t) {
  std::vector<std::string> out;
  for (auto i : idx) out.push_back(t[i].id.str());
  return out;
}

}  // namespace

TEST_CASE("a cycle is reported as a path") {
  const std::vector<Task> tasks = {task("a", 60, {"c"}), task("b", 60, {"a"}),
                                   task("c", 60, {"b"}), task("d", 60)};
  auto g = DependencyGraph::build(tasks);
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().str() == "dependency cycle: a -> c -> b -> a (each task depends on the next)");
}

TEST_CASE("unknown, self and duplicate ids are all reported together") {
  const std::vector<Task> tasks = {task("a", 60, {"zz"}), task("b", 60, {"b"}), task("a", 60)};
  auto g = DependencyGraph::build(tasks);
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().str() ==
        "duplicate task id 'a' (tasks 1 and 3 of the plan)\n"
        "task 'a' depends on unknown task 'zz'\n"
        "task 'b' depends on itself");
}

TEST_CASE("levels of a diamond, and the critical path weighted by minutes") {
  // a(60) → b(120) → d(60); a → c(60) → d; e(60) alone.
  const std::vector<Task> tasks = {task("a", 60), task("b", 120, {"a"}), task("c", 60, {"a"}),
                                   task("d", 60, {"b", "c", "b"}), task("e", 60)};
  auto g = DependencyGraph::build(tasks).value();
  CHECK(g.edge_count() == 4);  // the duplicate d → b is merged
  const auto levels = g.levels();
  REQUIRE(levels.size() == 3);
  CHECK(names(levels[0], tasks) == std::vector<std::string>{"a", "e"});
  CHECK(names(levels[1], tasks) == std::vector<std::string>{"b", "c"});
  CHECK(names(levels[2], tasks) == std::vector<std::string>{"d"});
  const auto path = g.critical_path();
  CHECK(names(path.tasks, tasks) == std::vector<std::string>{"a", "b", "d"});
  CHECK(path.minutes == 240);
  CHECK(g.remaining_minutes()[2] == 120);  // c + d
}

TEST_CASE("the critical path follows minutes, not the number of tasks") {
  // Three short tasks (3 × 60) against one long one (240).
  const std::vector<Task> tasks = {task("s1", 60), task("s2", 60, {"s1"}), task("s3", 60, {"s2"}),
                                   task("long", 240)};
  auto g = DependencyGraph::build(tasks).value();
  CHECK(names(g.critical_path().tasks, tasks) == std::vector<std::string>{"long"});
}

TEST_CASE("ready tasks and descendants") {
  const std::vector<Task> tasks = {task("a", 60), task("b", 60, {"a"}), task("c", 60, {"a"}),
                                   task("d", 60, {"b", "c"}), task("e", 60)};
  auto g = DependencyGraph::build(tasks).value();
  CHECK(names(g.ready({false, false, false, false, false}), tasks) ==
        std::vector<std::string>{"a", "e"});
  CHECK(names(g.ready({true, true, false, false, false}), tasks) ==
        std::vector<std::string>{"c", "e"});
  CHECK(names(g.descendants(0), tasks) == std::vector<std::string>{"b", "c", "d"});
  CHECK(g.descendants(4).empty());
}

TEST_CASE("a 200,000-deep chain is analysed without recursion") {
  std::vector<Task> tasks;
  const std::size_t n = 200000;
  tasks.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    tasks.push_back(task("t" + std::to_string(i), 60,
                         i == 0 ? std::vector<std::string>{}
                                : std::vector<std::string>{"t" + std::to_string(i - 1)}));
  }
  auto g = DependencyGraph::build(tasks).value();
  CHECK(g.levels().size() == n);
  CHECK(g.critical_path().minutes == 60 * n);
  CHECK(g.descendants(0).size() == n - 1);
  tasks[0].depends_on.emplace_back("t" + std::to_string(n - 1));  // close the loop
  auto cyclic = DependencyGraph::build(tasks);
  REQUIRE_FALSE(cyclic.ok());
  CHECK_THAT(cyclic.error().str(), Catch::StartsWith("dependency cycle: t0 -> t199999 -> "));
}

TEST_CASE("backoff doubles, is capped, and jitter stays within bounds") {
  const RetryPolicy p{5, 1000, 10000, 0.2};
  CHECK(backoff_ms(p, 1, 0.5) == 1000);
  CHECK(backoff_ms(p, 2, 0.5) == 2000);
  CHECK(backoff_ms(p, 3, 0.5) == 4000);
  CHECK(backoff_ms(p, 5, 0.5) == 10000);     // 16000 capped
  CHECK(backoff_ms(p, 4000000000u, 0.5) == 10000);  // no overflow
  CHECK(backoff_ms(p, 1, 0.0) == 800);
  CHECK(backoff_ms(p, 1, 0.999999) == 1200);
  CHECK(should_retry(p, 4));
  CHECK_FALSE(should_retry(p, 5));
  CHECK(validate(RetryPolicy{0, 1, 1, 0}).error().str() == "retry: max_attempts must be at least 1");
  CHECK(validate(RetryPolicy{3, 10, 5, 0}).error().str() ==
        "retry: max delay must not be below the base delay");
}
