// From a spec file to a checked plan: parse, decompose, build the dependency graph. Shared
// by `br plan` (which prints it) and `br run` (which journals it).
#pragma once

#include <memory>
#include <string>

#include "actors/graph/dependency_graph.hpp"
#include "protocol/config.hpp"
#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct CheckedPlan {
  Plan plan;
  std::shared_ptr<const DependencyGraph> graph;
  std::string spec_path;
  std::string spec_hash;  // SHA-256 of the spec bytes, hex
};

struct SpecFile {
  std::string text;
  std::string hash;  // SHA-256, hex
};
// Reads at most limits.spec_max_bytes + 1 bytes (the parser reports the excess).
Result<SpecFile> read_spec_file(const std::string& spec_path, const LimitsConfig& limits);

// Checks a decomposed plan against the limits and builds its graph.
Result<CheckedPlan> check_plan(Plan plan, const std::string& spec_path, std::string spec_hash,
                               const LimitsConfig& limits);

// Read, parse, decompose, check. Errors are the spec's diagnostics (file:line: message), or
// the graph's.
Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const LimitsConfig& limits);

// A plan from the journal: rebuilds its graph (which was valid when journaled).
Result<std::shared_ptr<const DependencyGraph>> graph_of(const Plan& plan);

std::string sha256_hex(const std::string& bytes);

}  // namespace br
