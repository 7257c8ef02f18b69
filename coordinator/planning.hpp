// From a spec to a checked plan: parse, decompose, build the dependency graph, under the
// limits and batching rules of br.toml. `br plan` prints what this makes and `br run`
// journals it: both call plan_spec, so what one shows is what the other runs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "actors/graph/dependency_graph.hpp"
#include "actors/scheduler/batch_optimizer.hpp"
#include "actors/scheduler/strategy.hpp"
#include "protocol/config.hpp"
#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

// What planning takes from br.toml: the limits a spec must fit ([limits]) and how its ready
// tasks are ordered and batched ([run] strategy, batch_max_tasks, batch_max_minutes) — the
// values `br run` gives its scheduler — and, for `br plan` to show, the agent routes.
struct PlanSettings {
  LimitsConfig limits;
  Strategy strategy = Strategy::critical_path;
  BatchLimits batch;
  bool commands_check = false;  // [verify] check_command or test_command runs after each task
  bool require_checks = false;  // [verify] require_checks
  AgentConfig agent;            // [agent] and its route tables: which command each batch runs
};

// The settings of `config`; a non-empty `strategy` (a --strategy flag) overrides [run]
// strategy. The error names an unknown strategy and lists the known ones.
Result<PlanSettings> plan_settings(const Config& config, std::string_view strategy = {});

struct CheckedPlan {
  Plan plan;
  std::shared_ptr<const DependencyGraph> graph;
  std::string spec_path;
  std::string spec_hash;  // SHA-256 of the spec bytes, hex
  PlanSettings settings;  // what it was planned under: its batches follow these
  std::vector<std::size_t> unchecked;  // tasks nothing machine-checks (tasks_without_checks)
};

struct SpecFile {
  std::string text;
  std::string hash;  // SHA-256, hex
};
// Reads at most limits.spec_max_bytes + 1 bytes (the parser reports the excess).
Result<SpecFile> read_spec_file(const std::string& spec_path, const LimitsConfig& limits);

// The tasks (indices, in plan order) that nothing would machine-check: no expected file, no
// file:/contains:/run: criterion, and no check or test command configured. An agent that
// does nothing passes them, so br plan marks them and require_checks refuses them.
std::vector<std::size_t> tasks_without_checks(const Plan& plan, bool commands_check);

// Parses and decomposes `file` (read from `spec_path`), checks the plan against
// settings.limits and builds its graph. Pure: no files, no clock. Errors are the spec's
// diagnostics (file:line: message), the limit that was exceeded, the graph's, or, with
// settings.require_checks, every task without checks at its feature's line.
Result<CheckedPlan> plan_spec(const SpecFile& file, const std::string& spec_path,
                              const PlanSettings& settings);

// read_spec_file, then plan_spec.
Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const PlanSettings& settings);
// The same with the default strategy and batch limits.
Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const LimitsConfig& limits);

// Checks a decomposed plan against the limits and builds its graph.
Result<CheckedPlan> check_plan(Plan plan, const std::string& spec_path, std::string spec_hash,
                               const LimitsConfig& limits);

// A plan from the journal: rebuilds its graph (which was valid when journaled).
Result<std::shared_ptr<const DependencyGraph>> graph_of(const Plan& plan);

std::string sha256_hex(const std::string& bytes);

}  // namespace br
