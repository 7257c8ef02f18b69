#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "actors/scheduler/batch_optimizer.hpp"
#include "actors/scheduler/ready_queue.hpp"

using namespace br;

namespace {

Task task(std::string id, std::string feature, Domain domain, std::uint32_t minutes) {
  Task t;
  t.id = TaskId(std::move(id));
  t.feature = FeatureId(std::move(feature));
  t.domain = domain;
  t.minutes = minutes;
  return t;
}

// The batching rules written out the slow, obvious way (a rescan of everything ready for
// every lead), as form_batches did before the ReadyQueue: the queue must agree with it.
std::vector<std::vector<std::size_t>> reference_batches(const std::vector<std::size_t>& ordered,
                                                        const std::vector<Task>& tasks,
                                                        const BatchLimits& limits,
                                                        const std::vector<bool>& alone) {
  const auto is_alone = [&](std::size_t t) { return t < alone.size() && alone[t]; };
  std::vector<bool> taken(ordered.size(), false);
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t lead = 0; lead < ordered.size(); ++lead) {
    if (taken[lead]) continue;
    taken[lead] = true;
    const Task& first = tasks[ordered[lead]];
    std::vector<std::size_t> batch = {ordered[lead]};
    std::uint32_t minutes = first.minutes;
    for (int pass = 0; pass < 2 && batch.size() < limits.max_tasks && !is_alone(ordered[lead]);
         ++pass) {
      for (std::size_t k = lead + 1; k < ordered.size() && batch.size() < limits.max_tasks; ++k) {
        if (taken[k] || is_alone(ordered[k])) continue;
        const Task& t = tasks[ordered[k]];
        if (t.domain != first.domain || (pass == 0) != (t.feature == first.feature)) continue;
        if (minutes + t.minutes > limits.max_minutes) continue;
        taken[k] = true;
        batch.push_back(ordered[k]);
        minutes += t.minutes;
      }
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

std::vector<Task> random_tasks(std::mt19937& rng, std::size_t n) {
  const std::uint32_t minutes[] = {60, 90, 120};
  std::vector<Task> tasks;
  for (std::size_t i = 0; i < n; ++i) {
    tasks.push_back(task("t" + std::to_string(i), "f" + std::to_string(rng() % 9),
                         static_cast<Domain>(rng() % 7), minutes[rng() % 3]));
  }
  return tasks;
}

}  // namespace

TEST_CASE("the ready queue forms the batches of the batching rules, on random ready sets") {
  std::mt19937 rng(20261201);
  for (int round = 0; round < 300; ++round) {
    const auto tasks = random_tasks(rng, 1 + rng() % 40);
    std::vector<std::size_t> ordered(tasks.size());
    for (std::size_t i = 0; i < ordered.size(); ++i) ordered[i] = i;
    std::shuffle(ordered.begin(), ordered.end(), rng);
    std::vector<bool> alone(tasks.size());
    for (std::size_t i = 0; i < alone.size(); ++i) alone[i] = rng() % 6 == 0;
    const BatchLimits limits{1 + rng() % 3, 180 + 60 * static_cast<std::uint32_t>(rng() % 3)};
    INFO("round " << round);
    CHECK(form_batches(ordered, tasks, limits, alone) ==
          reference_batches(ordered, tasks, limits, alone));
  }
}

TEST_CASE("the ready queue keeps its order across pushes and pops, as a fresh sort would") {
  std::mt19937 rng(7);
  const auto tasks = random_tasks(rng, 200);
  std::vector<std::uint32_t> rank(tasks.size());
  for (std::size_t i = 0; i < rank.size(); ++i) rank[i] = static_cast<std::uint32_t>(i);
  std::shuffle(rank.begin(), rank.end(), rng);
  ReadyQueue queue(ready_items(tasks, rank));
  std::set<std::size_t> ready;  // what the queue should hold
  const BatchLimits limits{3, 240};
  for (int step = 0; step < 2000; ++step) {
    if (rng() % 3 != 0) {
      const std::size_t t = rng() % tasks.size();
      queue.push(t);
      ready.insert(t);
    } else if (!ready.empty()) {
      // The expected batch: the rules applied to the ready set sorted by rank.
      std::vector<std::size_t> ordered(ready.begin(), ready.end());
      std::sort(ordered.begin(), ordered.end(),
                [&](std::size_t a, std::size_t b) { return rank[a] < rank[b]; });
      const auto expected = reference_batches(ordered, tasks, limits, {}).front();
      const auto batch = queue.pop_batch(limits);
      REQUIRE(batch == expected);
      for (std::size_t t : batch) ready.erase(t);
    }
    REQUIRE(queue.size() == ready.size());
  }
}

TEST_CASE("a queued task can be taken out, and pushing it twice queues it once") {
  const std::vector<Task> tasks = {task("a", "f", Domain::api, 60), task("b", "f", Domain::api, 60)};
  ReadyQueue queue(ready_items(tasks, {0, 1}));
  queue.push(0);
  queue.push(0);
  queue.push(1, true);
  CHECK(queue.size() == 2);
  CHECK(queue.erase(0));
  CHECK_FALSE(queue.erase(0));
  CHECK(queue.pop_batch(BatchLimits{}) == std::vector<std::size_t>{1});
  CHECK(queue.empty());
  CHECK(queue.pop_batch(BatchLimits{}).empty());
}

TEST_CASE("looking for a partner that fits is bounded, however many do not") {
  // A 150-minute lead leaves room for 90 minutes: thousands of 120-minute tasks of its domain
  // are passed over; the scan gives up after kMaxPartnerScan of them, so the 60-minute task at
  // the very end is not found, and the batch stays a batch of one.
  std::vector<Task> tasks = {task("lead", "f", Domain::api, 150)};
  for (int i = 0; i < 5000; ++i) tasks.push_back(task("big" + std::to_string(i), "g", Domain::api, 120));
  tasks.push_back(task("small", "h", Domain::api, 60));
  std::vector<std::uint32_t> rank(tasks.size());
  for (std::size_t i = 0; i < rank.size(); ++i) rank[i] = static_cast<std::uint32_t>(i);
  ReadyQueue queue(ready_items(tasks, rank));
  for (std::size_t i = 0; i < tasks.size(); ++i) queue.push(i);
  CHECK(queue.pop_batch(BatchLimits{3, 240}) == std::vector<std::size_t>{0});
  // Within the bound the partner is found.
  std::vector<Task> near = {task("lead", "f", Domain::api, 150), task("big", "g", Domain::api, 120),
                            task("small", "h", Domain::api, 60)};
  ReadyQueue near_queue(ready_items(near, {0, 1, 2}));
  for (std::size_t i = 0; i < near.size(); ++i) near_queue.push(i);
  CHECK(near_queue.pop_batch(BatchLimits{3, 240}) == std::vector<std::size_t>{0, 2});
}

TEST_CASE("strategy ranks put every task of the plan in the strategy's order") {
  std::vector<Task> tasks = {task("a", "f", Domain::api, 60), task("b", "f", Domain::api, 120),
                             task("c", "f", Domain::api, 90)};
  const auto graph = DependencyGraph::build(tasks).value();
  CHECK(strategy_ranks(Strategy::shortest, graph, tasks) == std::vector<std::uint32_t>{0, 2, 1});
  CHECK(strategy_ranks(Strategy::critical_path, graph, tasks) ==
        std::vector<std::uint32_t>{2, 0, 1});
}
