#include "coordinator/planning.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "actors/planner/decomposer.hpp"
#include "actors/planner/spec_parser.hpp"
#include "protocol/acceptance_criterion.hpp"
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
  settings.commands_check =
      !config.verify.check_command.empty() || !config.verify.test_command.empty();
  settings.require_checks = config.verify.require_checks;
  settings.agent = config.agent;
  return settings;
}

std::vector<std::size_t> tasks_without_checks(const Plan& plan, bool commands_check) {
  std::vector<std::size_t> out;
  if (commands_check) return out;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    const bool checked = !t.files.empty() ||
                         std::any_of(t.acceptance.begin(), t.acceptance.end(),
                                     [](const Criterion& c) { return is_machine_checkable(c); });
    if (!checked) out.push_back(i);
  }
  return out;
}

namespace {

// One diagnostic per task, at its feature's heading, so the fix is a jump away; a long list
// is cut.
Error unchecked_error(const CheckedPlan& checked) {
  constexpr std::size_t kShown = 20;
  std::unordered_map<std::string_view, std::uint32_t> line_of;
  for (const auto& f : checked.plan.features) line_of.emplace(f.id.str(), f.line);
  Error error;
  for (std::size_t k = 0; k < checked.unchecked.size() && k < kShown; ++k) {
    const Task& t = checked.plan.tasks[checked.unchecked[k]];
    error.diagnostics.push_back(Diagnostic{
        checked.spec_path, line_of[t.feature.str()],
        "task " + t.id.str() +
            " has nothing machine-checkable (no expected file, no file:, contains: or run: "
            "criterion, no [verify] check_command or test_command) and [verify] "
            "require_checks = true; give its feature a Files: entry or a machine-checkable "
            "criterion, or configure a check"});
  }
  if (checked.unchecked.size() > kShown) {
    error.diagnostics.push_back(Diagnostic{
        checked.spec_path, 0,
        "... and " + std::to_string(checked.unchecked.size() - kShown) +
            " more tasks like these (br plan without require_checks marks them all)"});
  }
  return error;
}

}  // namespace

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
  checked->unchecked = tasks_without_checks(checked->plan, settings.commands_check);
  if (settings.require_checks && !checked->unchecked.empty()) return unchecked_error(*checked);
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
