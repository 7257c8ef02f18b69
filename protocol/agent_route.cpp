#include "protocol/agent_route.hpp"

#include <algorithm>

namespace br {
namespace {

AgentRoute apply(const AgentConfig& config, std::string name, const AgentOverride& table) {
  AgentRoute route;
  route.name = std::move(name);
  route.command = table.command.value_or(config.command);
  route.output = table.output.value_or(config.output);
  route.timeout_ms = table.timeout_ms.value_or(config.timeout_ms);
  return route;
}

}  // namespace

AgentRoute route_for(const AgentConfig& config, Complexity complexity, Domain domain) {
  if (auto it = config.by_domain.find(domain); it != config.by_domain.end()) {
    return apply(config, "domain:" + std::string(to_string(domain)), it->second);
  }
  if (auto it = config.by_complexity.find(complexity); it != config.by_complexity.end()) {
    return apply(config, std::string(to_string(complexity)), it->second);
  }
  return apply(config, "default", AgentOverride{});
}

Complexity batch_complexity(const Batch& batch) {
  Complexity most = Complexity::simple;
  for (const auto& item : batch.tasks) most = std::max(most, item.task.complexity);
  return batch.tasks.empty() ? Complexity::medium : most;
}

AgentRoute route_for(const AgentConfig& config, const Batch& batch) {
  return route_for(config, batch_complexity(batch), batch.domain);
}

AgentConfig routed(const AgentConfig& config, const AgentRoute& route) {
  AgentConfig out = config;
  out.command = route.command;
  out.output = route.output;
  out.timeout_ms = route.timeout_ms;
  return out;
}

std::vector<AgentRoute> all_routes(const AgentConfig& config) {
  std::vector<AgentRoute> out{apply(config, "default", AgentOverride{})};
  for (const auto& [complexity, table] : config.by_complexity) {
    out.push_back(apply(config, std::string(to_string(complexity)), table));
  }
  for (const auto& [domain, table] : config.by_domain) {
    out.push_back(apply(config, "domain:" + std::string(to_string(domain)), table));
  }
  return out;
}

std::int64_t longest_timeout_ms(const AgentConfig& config) {
  std::int64_t most = 0;
  for (const auto& route : all_routes(config)) most = std::max(most, route.timeout_ms);
  return most;
}

std::string route_table(const AgentRoute& route) {
  if (route.name == "default") return "[agent]";
  const std::string_view domain = "domain:";
  if (route.name.compare(0, domain.size(), domain) == 0) {
    return "[agent.domains." + route.name.substr(domain.size()) + "]";
  }
  return "[agent." + route.name + "]";
}

std::string command_text(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& word : argv) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

}  // namespace br
