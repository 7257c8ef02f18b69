// Planning under a config: `br plan --config` takes [limits] and [run] strategy and batch
// sizes from br.toml, a --strategy flag overrides the config's, and the plan it shows is the
// plan `br run` makes with that config.
#include <catch2/catch.hpp>

#include <string>

#include "actors/planner/decomposer.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/planning.hpp"
#include "protocol/codec.hpp"

using namespace br;

namespace {

Config config_of(const std::string& toml) {
  auto config = parse_config(toml, "br.toml", ".");
  INFO((config.ok() ? std::string() : config.error().str()));
  REQUIRE(config.ok());
  return std::move(config).value();
}

SpecFile file_of(const std::string& text) { return SpecFile{text, sha256_hex(text)}; }

// n features, each one a chain of backend → api → tests → docs, every third after the last.
std::string spec_of(int features) {
  std::string out = "# Chains\n## Features\n";
  for (int i = 0; i < features; ++i) {
    out += "### Feature " + std::to_string(i) + " {#f" + std::to_string(i) + "}\n";
    out += "**Priority:** " + std::string(i % 2 ? "High" : "Low") + "\n";
    if (i % 3 == 2) out += "**Depends on:** #f" + std::to_string(i - 1) + "\n";
    out += "**Description:** Business logic and a REST endpoint for item " + std::to_string(i) +
           ".\n";
  }
  return out;
}

const char* kConfig = R"(
[run]
strategy = "shortest"
batch_max_tasks = 2
batch_max_minutes = 180

[limits]
max_tasks = 500
spec_max_bytes = 100000
)";

std::vector<std::vector<std::string>> id_lists(const Plan& plan,
                                               const std::vector<std::vector<std::size_t>>& lists) {
  std::vector<std::vector<std::string>> out;
  for (const auto& list : lists) {
    out.emplace_back();
    for (auto i : list) out.back().push_back(plan.tasks[i].id.str());
  }
  return out;
}

}  // namespace

TEST_CASE("plan settings come from [limits] and [run]; a --strategy flag overrides [run]") {
  const Config config = config_of(kConfig);
  auto settings = plan_settings(config);
  REQUIRE(settings.ok());
  CHECK(settings->strategy == Strategy::shortest);
  CHECK(settings->batch.max_tasks == 2);
  CHECK(settings->batch.max_minutes == 180);
  CHECK(settings->limits.max_tasks == 500);
  CHECK(settings->limits.spec_max_bytes == 100000);

  auto flagged = plan_settings(config, "priority");
  REQUIRE(flagged.ok());
  CHECK(flagged->strategy == Strategy::priority);
  CHECK(flagged->batch.max_tasks == 2);  // only the strategy is overridden

  auto defaults = plan_settings(Config{});
  REQUIRE(defaults.ok());
  CHECK(defaults->strategy == Strategy::critical_path);
  CHECK(defaults->limits.max_tasks == LimitsConfig{}.max_tasks);
  CHECK(defaults->batch.max_tasks == BatchLimits{}.max_tasks);

  auto bad = plan_settings(config, "fastest");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().str().find("fastest") != std::string::npos);
}

TEST_CASE("the plan follows the config's strategy and batch limits") {
  const Config config = config_of(kConfig);
  const std::string text = spec_of(30);
  auto checked = plan_spec(file_of(text), "spec.md", *plan_settings(config));
  REQUIRE(checked.ok());
  CHECK(checked->settings.strategy == Strategy::shortest);
  for (const auto& batch : plan_batches(*checked)) {
    CHECK(batch.size() <= 2);
    std::uint32_t minutes = 0;
    for (auto i : batch) minutes += checked->plan.tasks[i].minutes;
    CHECK(minutes <= 180);
  }
  // A flag's strategy reorders the batches; the tasks stay the same.
  auto flagged = plan_spec(file_of(text), "spec.md", *plan_settings(config, "priority"));
  REQUIRE(flagged.ok());
  CHECK(encode(flagged->plan) == encode(checked->plan));
  CHECK(plan_batches(*flagged) != plan_batches(*checked));
}

TEST_CASE("the config's limits decide whether a spec can be planned") {
  const std::string text = spec_of(300);  // 1,200 tasks, ~30 kB
  auto by_default = plan_spec(file_of(text), "spec.md", *plan_settings(Config{}));
  REQUIRE(by_default.ok());

  auto few_tasks = plan_spec(file_of(text), "spec.md", *plan_settings(config_of(kConfig)));
  REQUIRE_FALSE(few_tasks.ok());
  CHECK(few_tasks.error().str().find("limits.max_tasks = 500") != std::string::npos);

  auto small = plan_spec(file_of(text), "spec.md",
                         *plan_settings(config_of("[limits]\nspec_max_bytes = 2048\n")));
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().str().find("limits.spec_max_bytes") != std::string::npos);

  auto raised = plan_spec(file_of(text), "spec.md",
                          *plan_settings(config_of("[limits]\nmax_tasks = 1200\n")));
  REQUIRE(raised.ok());
  CHECK(raised->plan.tasks.size() == 1200);
}

// What `br run --config` did before it called plan_spec: the planner actor parsed under the
// config's limits and decomposed, the plan crossed to the coordinator as Cap'n Proto bytes and
// was checked there; its scheduler orders by [run] strategy and batches under [run]
// batch_max_tasks and batch_max_minutes. The plan `br plan --config` shows must be that one.
TEST_CASE("br plan --config shows the tasks, ids, levels and batches br run uses") {
  for (const char* strategy : {"", "critical-path", "priority"}) {
    INFO(strategy);
    Config config = config_of(kConfig);
    const std::string text = spec_of(60);
    auto shown = plan_spec(file_of(text), "spec.md", *plan_settings(config, strategy));
    REQUIRE(shown.ok());

    if (*strategy) config.run.strategy = strategy;  // run_command's --strategy override
    ParseLimits parse_limits;
    parse_limits.max_bytes = config.limits.spec_max_bytes;
    parse_limits.max_features = config.limits.max_tasks;
    auto spec = parse_spec(text, "spec.md", parse_limits);
    REQUIRE(spec.ok());
    auto decoded = decode<Plan>(encode(make_plan(*spec)), journal_decode_limits());
    REQUIRE(decoded.ok());
    auto run = check_plan(std::move(decoded).value(), "spec.md", sha256_hex(text),
                          config.limits);
    REQUIRE(run.ok());
    const Strategy run_strategy = *parse_strategy(config.run.strategy);
    const BatchLimits run_batch{config.run.batch_max_tasks, config.run.batch_max_minutes};

    CHECK(encode(shown->plan) == encode(run->plan));
    CHECK(shown->spec_hash == run->spec_hash);
    REQUIRE(shown->plan.tasks.size() == run->plan.tasks.size());
    for (std::size_t i = 0; i < run->plan.tasks.size(); ++i) {
      CHECK(shown->plan.tasks[i].id == run->plan.tasks[i].id);
    }
    CHECK(shown->graph->levels() == run->graph->levels());
    std::vector<std::vector<std::size_t>> run_batches;
    for (const auto& level : run->graph->levels()) {
      const std::vector<std::size_t> ready(level.begin(), level.end());
      const auto ordered = order_ready(ready, run_strategy, *run->graph, run->plan.tasks);
      for (auto& b : form_batches(ordered, run->plan.tasks, run_batch)) run_batches.push_back(b);
    }
    CHECK(id_lists(shown->plan, plan_batches(*shown)) == id_lists(run->plan, run_batches));
  }
}

TEST_CASE("a task with no file, no machine-checkable criterion and no command is unchecked") {
  const std::string text =
      "# P\n## Features\n### A\n**Acceptance Criteria:**\n- run: make test\n"
      "### B\nFiles: b.py\n### C\n**Acceptance Criteria:**\n- The page shows 400 g flour\n";
  auto plain = plan_spec(file_of(text), "spec.md", *plan_settings(Config{}));
  REQUIRE(plain.ok());
  std::vector<std::string> unchecked;
  for (auto i : plain->unchecked) unchecked.push_back(plain->plan.tasks[i].id.str());
  // run: goes to a's tests; b's file to its backend task; prose checks nothing.
  CHECK(unchecked == std::vector<std::string>{"a/01-backend", "a/03-docs", "b/02-tests",
                                              "b/03-docs", "c/01-backend", "c/02-tests",
                                              "c/03-docs"});
  // A configured check or test command runs after every task: nothing is unchecked.
  auto with_tests = plan_spec(file_of(text), "spec.md",
                              *plan_settings(config_of("[verify]\ntest_command = [\"true\"]\n")));
  REQUIRE(with_tests.ok());
  CHECK(with_tests->unchecked.empty());
}

TEST_CASE("[verify] require_checks refuses a plan with unchecked tasks, naming each at its line") {
  const Config strict = config_of("[verify]\nrequire_checks = true\n");
  const std::string text = "# P\n## Features\n### A\nFiles: a.py\n\n### B\nDoes stuff.\n";
  auto refused = plan_spec(file_of(text), "spec.md", *plan_settings(strict));
  REQUIRE_FALSE(refused.ok());
  const std::string error = refused.error().str();
  // In plan order; a/01-backend has its file, so a's tests come first.
  CHECK(error.find("spec.md:3: task a/02-tests has nothing machine-checkable") == 0);
  CHECK(error.find("a/01-backend") == std::string::npos);
  CHECK(error.find("\nspec.md:6: task b/01-backend has nothing machine-checkable") !=
        std::string::npos);
  CHECK(error.find("require_checks = true") != std::string::npos);
  const std::string checked_text =
      "# P\n## Features\n### A\nFiles: a.py, tests/test_a.py, docs/a.md\n";
  CHECK(plan_spec(file_of(checked_text), "spec.md", *plan_settings(strict)).ok());
}

TEST_CASE("a big plan's batches (formed on two threads) are each level's, in level order") {
  const std::string text = spec_of(6000);  // 24,000 tasks: over the two-thread threshold
  PlanSettings settings;
  settings.limits.spec_max_bytes = std::uint64_t{64} << 20;
  auto checked = plan_spec(file_of(text), "spec.md", settings);
  REQUIRE(checked.ok());
  REQUIRE(checked->plan.tasks.size() == 24000);
  std::vector<std::vector<std::size_t>> expected;
  for (const auto& level : checked->graph->levels()) {
    const std::vector<std::size_t> ready(level.begin(), level.end());
    const auto ordered =
        order_ready(ready, settings.strategy, *checked->graph, checked->plan.tasks);
    for (auto& b : form_batches(ordered, checked->plan.tasks, settings.batch)) {
      expected.push_back(b);
    }
  }
  CHECK(plan_batches(*checked) == expected);
}
