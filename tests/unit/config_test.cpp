#include <catch2/catch.hpp>

#include "protocol/config.hpp"

using namespace br;

namespace {

Config must_parse(const std::string& text, const std::string& base = "") {
  auto config = parse_config(text, "br.toml", base);
  INFO((config.ok() ? std::string() : config.error().str()));
  REQUIRE(config.ok());
  return config.value();
}

}  // namespace

TEST_CASE("an empty config gives the documented defaults") {
  const Config c = must_parse("");
  CHECK(c.run.workers == 2);
  CHECK(c.run.strategy == "critical-path");
  CHECK(c.run.max_attempts == 3);
  CHECK(c.agent.command.empty());
  CHECK(c.agent.timeout_ms == std::int64_t{30} * 60 * 1000);
  CHECK(c.context.token_budget == 4000);
  CHECK(c.network.listen == "127.0.0.1:7420");
  CHECK(c.limits.spec_max_bytes == 16u << 20);
  CHECK(c.journal.snapshot_every == 10000);
  CHECK_FALSE(c.journal.compact);
  CHECK(c.metrics.listen.empty());  // off unless asked for
  CHECK(c.metrics.linger_ms == 0);
}

TEST_CASE("every section is read") {
  const Config c = must_parse(R"(
[run]
workers = 8
strategy = "shortest"
max_attempts = 5
backoff_base = "500ms"
backoff_max = "2m"
backoff_jitter = 0.1
lease = "45m"
batch_max_tasks = 2
batch_max_minutes = 180
workspace = "ws"

[agent]
command = ["claude", "-p"]
timeout = "20m"
env = ["ANTHROPIC_API_KEY"]

[verify]
check_command = ["./check.sh"]
test_command = ["pytest", "-q"]
timeout = 300
file_wait = "5s"
require_checks = true

[context]
token_budget = 6000

[network]
listen = "0.0.0.0:9000"
token = "0123456789abcdef"
hello_timeout = "3s"
max_pending = 8
max_connections = 10

[limits]
max_tasks = 500

[journal]
snapshot_every = 2500
compact = true

[metrics]
listen = "127.0.0.1:9464"
linger = "15s"
)",
                              "/home/me/project");
  CHECK(c.run.workers == 8);
  CHECK(c.run.strategy == "shortest");
  CHECK(c.run.backoff_base_ms == 500);
  CHECK(c.run.backoff_max_ms == 120000);
  CHECK(c.run.backoff_jitter == Approx(0.1));
  CHECK(c.run.lease_ms == std::int64_t{45} * 60 * 1000);
  CHECK(c.run.workspace == "/home/me/project/ws");
  CHECK(c.agent.command == std::vector<std::string>{"claude", "-p"});  // bare name: PATH
  CHECK(c.agent.timeout_ms == std::int64_t{20} * 60 * 1000);
  CHECK(c.agent.env_allow == std::vector<std::string>{"ANTHROPIC_API_KEY"});
  CHECK(c.verify.check_command == std::vector<std::string>{"/home/me/project/check.sh"});
  CHECK(c.verify.timeout_ms == 300000);
  CHECK(c.verify.file_wait_ms == 5000);
  CHECK(c.verify.require_checks);
  CHECK(c.context.token_budget == 6000);
  CHECK(c.network.token == "0123456789abcdef");
  CHECK(c.network.hello_timeout_ms == 3000);
  CHECK(c.network.max_pending == 8);
  CHECK(c.limits.max_tasks == 500);
  CHECK(c.journal.snapshot_every == 2500);
  CHECK(c.journal.compact);
  CHECK(c.metrics.listen == "127.0.0.1:9464");
  CHECK(c.metrics.linger_ms == 15000);
}

TEST_CASE("checks are not required unless [verify] says so") {
  CHECK_FALSE(must_parse("").verify.require_checks);
}

TEST_CASE("run: criteria run locally by default and on a br-worker only if its config says so") {
  const VerifyConfig unset = must_parse("").verify;
  CHECK_FALSE(unset.allow_run_criteria.has_value());
  CHECK(allows_run_criteria(unset, VerifyingHost::local));
  CHECK_FALSE(allows_run_criteria(unset, VerifyingHost::remote_worker));

  const VerifyConfig on = must_parse("[verify]\nallow_run_criteria = true\n").verify;
  CHECK(allows_run_criteria(on, VerifyingHost::local));
  CHECK(allows_run_criteria(on, VerifyingHost::remote_worker));

  const VerifyConfig off = must_parse("[verify]\nallow_run_criteria = false\n").verify;
  CHECK_FALSE(allows_run_criteria(off, VerifyingHost::local));
  CHECK_FALSE(allows_run_criteria(off, VerifyingHost::remote_worker));
}

TEST_CASE("the agent's output format and budgets are read, in dollars to the millionth") {
  const Config c = must_parse(
      "[agent]\noutput = \"claude-json\"\nmax_cost_usd = 12.5\nmax_cost_per_task_usd = 2\n");
  CHECK(c.agent.output == AgentOutput::claude_json);
  CHECK(c.agent.max_cost_micro_usd == 12500000);
  CHECK(c.agent.max_cost_per_task_micro_usd == 2000000);
  const Config d = must_parse("");
  CHECK(d.agent.output == AgentOutput::text);
  CHECK(d.agent.max_cost_micro_usd == 0);
  CHECK(must_parse("[agent]\noutput = \"codex-json\"\n").agent.output == AgentOutput::codex_json);
}

TEST_CASE("journal snapshots can be turned off") {
  CHECK(must_parse("[journal]\nsnapshot_every = 0\n").journal.snapshot_every == 0);
}

TEST_CASE("bad configs are errors naming the line and key") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"[run]\nworker = 3\n", "br.toml:2: unknown key 'run.worker' (did you mean 'run.workers'?)"},
      {"[run]\nworkers = 0\n", "br.toml:2: run.workers: expected an integer from 1 to 1024"},
      {"[run]\nworkers = \"four\"\n", "br.toml:2: run.workers: expected an integer from 1 to 1024"},
      {"[run]\nstrategy = \"fastest\"\n",
       "br.toml:2: run.strategy: 'fastest' is not one of critical-path, priority, shortest"},
      {"[run]\nbackoff_jitter = 1.5\n", "br.toml:2: run.backoff_jitter: expected a number from 0 to 1"},
      {"[run]\nbatch_max_tasks = 4\n", "br.toml:2: run.batch_max_tasks: expected an integer from 1 to 3"},
      {"[agent]\ncommand = \"claude -p\"\n",
       "br.toml:2: agent.command: expected an array of strings, e.g. [\"make\", \"check\"]"},
      {"[agent]\ncommand = []\n", "br.toml:2: agent.command: must not be empty"},
      {"[agent]\noutput = \"json\"\n",
       "br.toml:2: agent.output: 'json' is not one of text, claude-json, codex-json"},
      {"[agent]\nmax_cost_usd = -1\n",
       "br.toml:2: agent.max_cost_usd: expected an amount of US dollars, e.g. 5 or 2.50 (0: no "
       "limit)"},
      {"[agent]\nmax_cost_per_task_usd = \"3\"\n",
       "br.toml:2: agent.max_cost_per_task_usd: expected an amount of US dollars, e.g. 5 or 2.50 "
       "(0: no limit)"},
      {"[network]\ntoken = \"short\"\n",
       "br.toml:2: network.token: a token needs at least 16 characters (make one with `openssl "
       "rand -hex 16`)"},
      {"[network]\nhello_timeout = 0\n", "br.toml:2: network.hello_timeout: must be more than 0, "
                                          "e.g. \"30m\""},
      {"[network]\nmax_pending = 0\n",
       "br.toml:2: network.max_pending: expected an integer from 1 to 65536"},
      {"[journal]\nsnapshot_every = -1\n",
       "br.toml:2: journal.snapshot_every: expected an integer from 0 to 1000000000"},
      {"[journal]\nsnapshot_every = \"often\"\n",
       "br.toml:2: journal.snapshot_every: expected an integer from 0 to 1000000000"},
      {"[journal]\ncompact = \"yes\"\n", "br.toml:2: journal.compact: expected true or false"},
      {"[verify]\ntimeout = \"1m\"\nallow_run_criteria = \"yes\"\n",
       "br.toml:3: verify.allow_run_criteria: expected true or false"},
      {"[verify]\nallow_run_criteria = 1\n",
       "br.toml:2: verify.allow_run_criteria: expected true or false"},
      {"[verify]\nallow_run_criterion = true\n",
       "br.toml:2: unknown key 'verify.allow_run_criterion' (did you mean "
       "'verify.allow_run_criteria'?)"},
      {"[journal]\nsnapshots = 5\n",
       "br.toml:2: unknown key 'journal.snapshots'; known keys: snapshot_every, compact"},
      {"[agent]\ntimeout = \"10 minutes\"\n",
       "br.toml:2: agent.timeout: expected a duration such as 90 (seconds), \"250ms\", \"90s\", "
       "\"30m\" or \"2h\""},
      {"[agents]\ncommand = [\"x\"]\n",
       "br.toml:1: unknown section 'agents'; known sections: run, agent, verify, context, network, "
       "limits, journal, metrics"},
      {"[metrics]\nlisten = \"9464\"\n",
       "br.toml:2: metrics.listen: '9464' is not HOST:PORT, e.g. \"127.0.0.1:9464\""},
      {"[metrics]\nlisten = \"127.0.0.1:70000\"\n",
       "br.toml:2: metrics.listen: '127.0.0.1:70000' is not HOST:PORT, e.g. \"127.0.0.1:9464\""},
      {"[metrics]\nlinger = \"soon\"\n",
       "br.toml:2: metrics.linger: expected a duration such as 90 (seconds), \"250ms\", \"90s\", "
       "\"30m\" or \"2h\""},
      {"[metrics]\nport = 9464\n",
       "br.toml:2: unknown key 'metrics.port'; known keys: listen, linger"},
      {"run = 3\n", "br.toml:1: [run] must be a table"},
      {"[run]\nworkers = \n", "br.toml:2: Error while parsing key-value pair: expected value, saw '\\n'"},
      {"[run]\nbackoff_base = \"2m\"\nbackoff_max = \"1m\"\n",
       "br.toml: run.backoff_max must not be below run.backoff_base"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto config = parse_config(c.text, "br.toml", "");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().str() == c.error);
  }
}

TEST_CASE("all errors of a config are reported together, in line order") {
  auto config = parse_config("[run]\nworkers = 0\nstratgy = \"x\"\n[verify]\ntimeout = \"z\"\n",
                             "br.toml", "");
  REQUIRE_FALSE(config.ok());
  REQUIRE(config.error().diagnostics.size() == 3);
  CHECK(config.error().diagnostics[0].line == 2);
  CHECK(config.error().diagnostics[1].line == 3);
  CHECK(config.error().diagnostics[2].line == 5);
}

TEST_CASE("durations accept seconds and units") {
  CHECK(parse_duration_ms("90").value() == 90000);
  CHECK(parse_duration_ms("250ms").value() == 250);
  CHECK(parse_duration_ms("2h").value() == 7200000);
  CHECK_FALSE(parse_duration_ms("").ok());
  CHECK_FALSE(parse_duration_ms("5d").ok());
  CHECK_FALSE(parse_duration_ms("99999999999999999999").ok());
}

TEST_CASE("a missing config file is an error that names it") {
  auto config = load_config("/nonexistent/br.toml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().str() == "/nonexistent/br.toml: cannot read the config file (does it exist?)");
}

TEST_CASE("[agent] route tables set command, output and timeout; the rest stays unset") {
  const Config c = must_parse(
      "[agent]\ncommand = [\"claude\", \"-p\"]\n"
      "[agent.simple]\ncommand = [\"tools/cheap-agent\", \"--fast\"]\n"
      "[agent.complex]\ntimeout = \"2h\"\noutput = \"codex-json\"\n"
      "[agent.domains.frontend]\ncommand = [\"ui-agent\"]\n"
      "[agent.domains.docs]\n",
      "/proj");
  REQUIRE(c.agent.by_complexity.size() == 2);
  const AgentOverride& simple = c.agent.by_complexity.at(Complexity::simple);
  // A route's program given as a path is the config file's, as [agent] command's.
  CHECK(simple.command == std::vector<std::string>{"/proj/tools/cheap-agent", "--fast"});
  CHECK_FALSE(simple.output);
  CHECK_FALSE(simple.timeout_ms);
  const AgentOverride& complex = c.agent.by_complexity.at(Complexity::complex);
  CHECK_FALSE(complex.command);
  CHECK(complex.timeout_ms == std::int64_t{2} * 3600 * 1000);
  CHECK(complex.output == AgentOutput::codex_json);
  REQUIRE(c.agent.by_domain.size() == 2);
  CHECK(c.agent.by_domain.at(Domain::ui).command == std::vector<std::string>{"ui-agent"});
  CHECK_FALSE(c.agent.by_domain.at(Domain::docs).command);  // all of it from [agent]
  CHECK(must_parse("[agent]\ncommand = [\"a\"]\n").agent.by_complexity.empty());
}

TEST_CASE("bad [agent] route tables are refused at their line") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"[agent]\ncommand = [\"a\"]\n[agent.simple]\ncomand = [\"b\"]\n",
       "br.toml:4: unknown key 'agent.simple.comand' (did you mean 'agent.simple.command'?)"},
      // Budgets and the environment are the run's, not a route's.
      {"[agent.complex]\nenv = [\"HOME\"]\n",
       "br.toml:2: unknown key 'agent.complex.env'; known keys: command, output, timeout"},
      {"[agent.complex]\nmax_cost_per_task_usd = 3\n",
       "br.toml:2: unknown key 'agent.complex.max_cost_per_task_usd'; known keys: command, "
       "output, timeout"},
      {"[agent.simple]\ncommand = []\n", "br.toml:2: agent.simple.command: must not be empty"},
      {"[agent.medium]\ntimeout = 0\n",
       "br.toml:2: agent.medium.timeout: must be more than 0, e.g. \"30m\""},
      {"[agent]\nsimple = \"haiku\"\n", "br.toml:2: [agent.simple] must be a table"},
      {"[agent.hard]\ncommand = [\"b\"]\n",
       "br.toml:1: unknown key 'agent.hard'; known keys: command, timeout, env, output, "
       "max_cost_usd, max_cost_per_task_usd, simple, medium, complex, domains"},
      {"[agent.domains.frontent]\ncommand = [\"b\"]\n",
       "br.toml:1: agent.domains.frontent: not a domain; domains are database, backend, api, ui "
       "(or frontend), infra, tests, docs"},
      {"[agent.domains.ui]\ncommand = [\"b\"]\n[agent.domains.frontend]\ncommand = [\"c\"]\n",
       "br.toml:3: agent.domains.frontend: a second table for domain ui (one of them is an "
       "alias)"},
      {"[agent.domains.api]\nmodel = \"x\"\n",
       "br.toml:2: unknown key 'agent.domains.api.model'; known keys: command, output, timeout"},
      {"[agent]\ndomains = 1\n", "br.toml:2: [agent.domains] must be a table"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto config = parse_config(c.text, "br.toml", "");
    REQUIRE_FALSE(config.ok());
    CHECK(config.error().str() == c.error);
  }
}
