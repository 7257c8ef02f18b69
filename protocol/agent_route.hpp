// Which agent command runs a batch: [agent.domains.NAME] for its domain, else [agent.simple],
// [agent.medium] or [agent.complex] for its complexity, else [agent] (docs/config.md). Pure,
// so `br plan`, the run's checks and every worker (each from its own config) agree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/config.hpp"
#include "protocol/model.hpp"

namespace br {

struct AgentRoute {
  std::string name;  // "default", "simple", "medium", "complex" or "domain:ui"
  std::vector<std::string> command;
  AgentOutput output = AgentOutput::text;
  std::int64_t timeout_ms = 0;
};

// The one most specific table that exists decides; the keys it leaves unset are [agent]'s
// (a domain table without a command runs [agent] command, not the complexity table's).
AgentRoute route_for(const AgentConfig& config, Complexity complexity, Domain domain);

// A batch is one agent run, and its tasks may differ in complexity: it takes the route of its
// most complex task, so a cheap model never gets a task routed to a stronger one.
AgentRoute route_for(const AgentConfig& config, const Batch& batch);
Complexity batch_complexity(const Batch& batch);

// `config` with the route's command, output and timeout: what the batch's agent runs under.
AgentConfig routed(const AgentConfig& config, const AgentRoute& route);

// Every route the config can give, [agent] first ("default"), each once: for checking that
// their programs exist and for the longest timeout a lease must cover.
std::vector<AgentRoute> all_routes(const AgentConfig& config);
std::int64_t longest_timeout_ms(const AgentConfig& config);

// The table a route comes from, for messages: "[agent]", "[agent.simple]", "[agent.domains.ui]".
std::string route_table(const AgentRoute& route);

// "prog arg …", as the ledger and `br plan` show a command.
std::string command_text(const std::vector<std::string>& argv);

}  // namespace br
