#include "coordinator/planning.hpp"

#include <openssl/evp.h>

#include "actors/planner/decomposer.hpp"
#include "actors/planner/spec_parser.hpp"
#include "protocol/bounded_read.hpp"

namespace br {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

Result<std::shared_ptr<const DependencyGraph>> graph_of(const Plan& plan) {
  auto graph = DependencyGraph::build(plan.tasks);
  if (!graph) return graph.error();
  return std::shared_ptr<const DependencyGraph>(
      std::make_shared<DependencyGraph>(std::move(graph).value()));
}

Result<SpecFile> read_spec_file(const std::string& spec_path, const LimitsConfig& limits) {
  auto text = read_at_most(spec_path, limits.spec_max_bytes);
  if (!text) {
    const std::string why = not_an_input_file(spec_path);
    if (why.empty() || why == kNoSuchFile) {
      return Error::of(spec_path + ": cannot read the spec (does the file exist?)");
    }
    return Error::of(spec_path + ": cannot read the spec: " + why);
  }
  SpecFile file;
  file.text = std::move(*text);
  file.hash = sha256_hex(file.text);
  return file;
}

Result<CheckedPlan> check_plan(Plan plan, const std::string& spec_path, std::string spec_hash,
                               const LimitsConfig& limits) {
  if (plan.tasks.size() > limits.max_tasks) {
    return Error::of(spec_path + ": the plan has " + std::to_string(plan.tasks.size()) +
                     " tasks, more than limits.max_tasks = " + std::to_string(limits.max_tasks) +
                     "; raise it in br.toml or split the spec");
  }
  auto graph = graph_of(plan);
  if (!graph) return graph.error();
  CheckedPlan checked;
  checked.plan = std::move(plan);
  checked.graph = std::move(graph).value();
  checked.spec_path = spec_path;
  checked.spec_hash = std::move(spec_hash);
  return checked;
}

Result<PlanSettings> plan_settings(const Config& config, std::string_view strategy) {
  auto parsed = parse_strategy(strategy.empty() ? std::string_view(config.run.strategy) : strategy);
  if (!parsed) return parsed.error();
  PlanSettings settings;
  settings.limits = config.limits;
  settings.strategy = *parsed;
  settings.batch.max_tasks = config.run.batch_max_tasks;
  settings.batch.max_minutes = config.run.batch_max_minutes;
  return settings;
}

Result<CheckedPlan> plan_spec(const SpecFile& file, const std::string& spec_path,
                              const PlanSettings& settings) {
  ParseLimits parse_limits;
  parse_limits.max_bytes = settings.limits.spec_max_bytes;
  parse_limits.max_features = settings.limits.max_tasks;  // every feature gives at least one task
  auto spec = parse_spec(file.text, spec_path, parse_limits);
  if (!spec) return spec.error();
  auto checked = check_plan(make_plan(std::move(spec).value()), spec_path, file.hash,
                            settings.limits);
  if (!checked) return checked.error();
  checked->settings = settings;
  return checked;
}

Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const PlanSettings& settings) {
  auto file = read_spec_file(spec_path, settings.limits);
  if (!file) return file.error();
  return plan_spec(*file, spec_path, settings);
}

Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const LimitsConfig& limits) {
  PlanSettings settings;
  settings.limits = limits;
  return plan_spec_file(spec_path, settings);
}

}  // namespace br
