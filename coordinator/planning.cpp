#include "coordinator/planning.hpp"

#include <openssl/evp.h>

#include <fstream>

#include "actors/planner/decomposer.hpp"
#include "actors/planner/spec_parser.hpp"

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

Result<CheckedPlan> plan_spec_file(const std::string& spec_path, const LimitsConfig& limits) {
  std::ifstream in(spec_path, std::ios::binary);
  if (!in) return Error::of(spec_path + ": cannot read the spec (does the file exist?)");
  std::string text(limits.spec_max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));

  ParseLimits parse_limits;
  parse_limits.max_bytes = limits.spec_max_bytes;
  auto spec = parse_spec(text, spec_path, parse_limits);
  if (!spec) return spec.error();
  CheckedPlan checked;
  checked.plan = make_plan(*spec);
  if (checked.plan.tasks.size() > limits.max_tasks) {
    return Error::of(spec_path + ": the plan has " + std::to_string(checked.plan.tasks.size()) +
                     " tasks, more than limits.max_tasks = " + std::to_string(limits.max_tasks) +
                     "; raise it in br.toml or split the spec");
  }
  auto graph = graph_of(checked.plan);
  if (!graph) return graph.error();
  checked.graph = std::move(graph).value();
  checked.spec_path = spec_path;
  checked.spec_hash = sha256_hex(text);
  return checked;
}

}  // namespace br
