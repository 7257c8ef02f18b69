#include <catch2/catch.hpp>

#include "protocol/agent_route.hpp"

using namespace br;

namespace {

AgentConfig routes_config() {
  auto config = parse_config(
      "[agent]\ncommand = [\"claude\", \"-p\"]\ntimeout = \"30m\"\noutput = \"claude-json\"\n"
      "[agent.simple]\ncommand = [\"claude\", \"-p\", \"--model\", \"haiku\"]\n"
      "[agent.complex]\ncommand = [\"claude\", \"-p\", \"--model\", \"opus\"]\ntimeout = \"2h\"\n"
      "[agent.domains.frontend]\noutput = \"text\"\n",
      "br.toml", "");
  INFO((config.ok() ? std::string() : config.error().str()));
  REQUIRE(config.ok());
  return config->agent;
}

Batch batch_of(Domain domain, std::initializer_list<Complexity> complexities) {
  Batch batch;
  batch.domain = domain;
  for (Complexity c : complexities) {
    BatchTask item;
    item.task.domain = domain;
    item.task.complexity = c;
    batch.tasks.push_back(item);
  }
  return batch;
}

}  // namespace

TEST_CASE("a task goes to its domain's table, else its complexity's, else [agent]") {
  const AgentConfig config = routes_config();
  struct Case {
    Complexity complexity;
    Domain domain;
    const char* name;
    const char* command;
  };
  const Case cases[] = {
      {Complexity::simple, Domain::backend, "simple", "claude -p --model haiku"},
      {Complexity::medium, Domain::backend, "default", "claude -p"},
      {Complexity::complex, Domain::api, "complex", "claude -p --model opus"},
      // The domain table wins over the complexity's, and what it leaves unset is [agent]'s.
      {Complexity::simple, Domain::ui, "domain:ui", "claude -p"},
      {Complexity::complex, Domain::ui, "domain:ui", "claude -p"},
  };
  for (const auto& c : cases) {
    const AgentRoute route = route_for(config, c.complexity, c.domain);
    INFO(to_string(c.complexity) << " " << to_string(c.domain));
    CHECK(route.name == c.name);
    CHECK(command_text(route.command) == c.command);
  }
}

TEST_CASE("a route's unset keys are [agent]'s") {
  const AgentConfig config = routes_config();
  const AgentRoute simple = route_for(config, Complexity::simple, Domain::backend);
  CHECK(simple.timeout_ms == std::int64_t{30} * 60 * 1000);
  CHECK(simple.output == AgentOutput::claude_json);
  const AgentRoute complex = route_for(config, Complexity::complex, Domain::backend);
  CHECK(complex.timeout_ms == std::int64_t{2} * 3600 * 1000);
  const AgentRoute ui = route_for(config, Complexity::medium, Domain::ui);
  CHECK(ui.output == AgentOutput::text);
  CHECK(ui.timeout_ms == std::int64_t{30} * 60 * 1000);
}

TEST_CASE("without route tables every batch runs [agent]") {
  AgentConfig config;
  config.command = {"agent"};
  for (Complexity c : {Complexity::simple, Complexity::medium, Complexity::complex}) {
    const AgentRoute route = route_for(config, c, Domain::docs);
    CHECK(route.name == "default");
    CHECK(route.command == config.command);
  }
  CHECK(all_routes(config).size() == 1);
}

TEST_CASE("a batch of mixed complexity takes its most complex task's route") {
  const AgentConfig config = routes_config();
  CHECK(route_for(config, batch_of(Domain::backend, {Complexity::simple})).name == "simple");
  CHECK(route_for(config, batch_of(Domain::backend, {Complexity::simple, Complexity::medium}))
            .name == "default");
  CHECK(route_for(config, batch_of(Domain::backend,
                                   {Complexity::simple, Complexity::complex, Complexity::medium}))
            .name == "complex");
}

TEST_CASE("routed() gives the agent settings with the route's command, output and timeout") {
  AgentConfig config = routes_config();
  config.env_allow = {"HOME"};
  config.max_cost_per_task_micro_usd = 5;
  const AgentConfig agent = routed(config, route_for(config, Complexity::complex, Domain::api));
  CHECK(command_text(agent.command) == "claude -p --model opus");
  CHECK(agent.timeout_ms == std::int64_t{2} * 3600 * 1000);
  CHECK(agent.env_allow == std::vector<std::string>{"HOME"});
  CHECK(agent.max_cost_per_task_micro_usd == 5);
}

TEST_CASE("all_routes lists [agent] first and every table once; the lease covers the longest") {
  const AgentConfig config = routes_config();
  std::vector<std::string> names;
  for (const auto& route : all_routes(config)) names.push_back(route.name);
  CHECK(names == std::vector<std::string>{"default", "simple", "complex", "domain:ui"});
  CHECK(longest_timeout_ms(config) == std::int64_t{2} * 3600 * 1000);
}
