#include <catch2/catch.hpp>

#include "actors/scheduler/batch_optimizer.hpp"
#include "actors/scheduler/strategy.hpp"

using namespace br;

namespace {

Task task(const char* id, const char* feature, Domain domain, std::uint32_t minutes,
          Priority priority = Priority::medium, std::vector<const char*> deps = {}) {
  Task t;
  t.id = TaskId(id);
  t.feature = FeatureId(feature);
  t.domain = domain;
  t.minutes = minutes;
  t.priority = priority;
  for (auto d : deps) t.depends_on.emplace_back(d);
  return t;
}

std::vector<std::string> ids(const std::vector<std::size_t>& order,
                             const std::vector<Task>& tasks) {
  std::vector<std::string> out;
  for (auto i : order) out.push_back(tasks[i].id.str());
  return out;
}

}  // namespace

TEST_CASE("each strategy orders ready tasks by its documented score") {
  // long1 heads a 180-minute chain; quick is short but critical; low is low priority.
  const std::vector<Task> tasks = {
      task("long1", "f", Domain::backend, 90, Priority::low),
      task("long2", "f", Domain::backend, 90, Priority::low, {"long1"}),
      task("quick", "g", Domain::backend, 60, Priority::critical),
      task("mid", "h", Domain::backend, 120, Priority::high),
  };
  const auto graph = DependencyGraph::build(tasks).value();
  const std::vector<std::size_t> ready = {2, 3, 0};
  CHECK(ids(order_ready(ready, Strategy::critical_path, graph, tasks), tasks) ==
        std::vector<std::string>{"long1", "mid", "quick"});
  CHECK(ids(order_ready(ready, Strategy::priority, graph, tasks), tasks) ==
        std::vector<std::string>{"quick", "mid", "long1"});
  CHECK(ids(order_ready(ready, Strategy::shortest, graph, tasks), tasks) ==
        std::vector<std::string>{"quick", "long1", "mid"});
}

TEST_CASE("ties are broken by task id, so the order is deterministic") {
  const std::vector<Task> tasks = {task("b", "f", Domain::api, 60), task("a", "f", Domain::api, 60),
                                   task("c", "f", Domain::api, 60)};
  const auto graph = DependencyGraph::build(tasks).value();
  for (Strategy s : {Strategy::critical_path, Strategy::priority, Strategy::shortest}) {
    CHECK(ids(order_ready({0, 1, 2}, s, graph, tasks), tasks) ==
          std::vector<std::string>{"a", "b", "c"});
  }
}

TEST_CASE("strategy names parse, and a bad one lists the valid names") {
  CHECK(parse_strategy("shortest").value() == Strategy::shortest);
  CHECK(parse_strategy("fastest").error().str() ==
        "unknown strategy 'fastest'; use one of critical-path, priority, shortest");
}

TEST_CASE("batches never mix domains and prefer the same feature") {
  const std::vector<Task> tasks = {
      task("f1/api", "f1", Domain::api, 60),     task("f2/ui", "f2", Domain::ui, 60),
      task("f2/api", "f2", Domain::api, 60),     task("f1/api2", "f1", Domain::api, 60),
      task("f3/api", "f3", Domain::api, 60),     task("f3/ui", "f3", Domain::ui, 60),
  };
  const auto batches = form_batches({0, 1, 2, 3, 4, 5}, tasks);
  REQUIRE(batches.size() == 3);
  CHECK(ids(batches[0], tasks) == std::vector<std::string>{"f1/api", "f1/api2", "f2/api"});
  CHECK(ids(batches[1], tasks) == std::vector<std::string>{"f2/ui", "f3/ui"});
  CHECK(ids(batches[2], tasks) == std::vector<std::string>{"f3/api"});
  for (const auto& b : batches) CHECK(validate_batch(b, tasks).ok());
}

TEST_CASE("a task being retried is batched by itself") {
  const std::vector<Task> tasks = {task("a", "f", Domain::api, 60), task("b", "f", Domain::api, 60),
                                   task("c", "f", Domain::api, 60)};
  const auto batches = form_batches({0, 1, 2}, tasks, BatchLimits{}, {false, true, false});
  REQUIRE(batches.size() == 2);
  CHECK(ids(batches[0], tasks) == std::vector<std::string>{"a", "c"});
  CHECK(ids(batches[1], tasks) == std::vector<std::string>{"b"});
}

TEST_CASE("batches stay within three tasks and 240 minutes") {
  std::vector<Task> tasks;
  const char* names[] = {"a", "b", "c", "d", "e", "f", "g"};
  for (int i = 0; i < 7; ++i) tasks.push_back(task(names[i], "f", Domain::backend, i < 3 ? 120 : 60));
  std::vector<std::size_t> order = {0, 1, 2, 3, 4, 5, 6};
  const auto batches = form_batches(order, tasks);
  std::size_t total = 0;
  for (const auto& b : batches) {
    CHECK(b.size() <= 3);
    std::uint32_t minutes = 0;
    for (auto i : b) minutes += tasks[i].minutes;
    CHECK(minutes <= 240);
    total += b.size();
  }
  CHECK(total == tasks.size());  // every task lands in exactly one batch
  CHECK(ids(batches[0], tasks) == std::vector<std::string>{"a", "b"});  // 120 + 120
}

TEST_CASE("an incoherent batch is refused with the rule it broke") {
  const std::vector<Task> tasks = {task("a", "f", Domain::api, 120), task("b", "f", Domain::ui, 60),
                                   task("c", "f", Domain::api, 150, Priority::medium, {"a"})};
  CHECK(validate_batch({0, 1}, tasks).error().str() ==
        "batch mixes domains: 'a' is api, 'b' is ui");
  CHECK(validate_batch({0, 2}, tasks, BatchLimits{3, 300}).error().str() ==
        "batch has 'c' and its dependency 'a'");
  CHECK(validate_batch({0, 2}, tasks).error().str() == "batch takes 270 minutes, more than 240");
  CHECK(validate_batch({0, 0}, tasks).error().str() == "batch has task 'a' twice");
  CHECK(validate_batch({}, tasks).error().str() == "batch is empty");
}
