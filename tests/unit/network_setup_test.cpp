#include <catch2/catch.hpp>

#include "node/network_setup.hpp"
#include "node/worker_setup.hpp"

using namespace br;

TEST_CASE("BR_TOKEN replaces [network] token, and a short one is refused") {
  NetworkConfig net;
  net.token = "from-the-config-file";
  REQUIRE(take_env_token(net, nullptr));
  CHECK(net.token == "from-the-config-file");
  REQUIRE(take_env_token(net, ""));
  CHECK(net.token == "from-the-config-file");
  REQUIRE(take_env_token(net, "the-right-token-16"));
  CHECK(net.token == "the-right-token-16");
  const auto short_one = take_env_token(net, "short");
  REQUIRE_FALSE(short_one);
  CHECK(short_one.error().str().find("BR_TOKEN: a token needs at least 16") == 0);
}

TEST_CASE("TLS is on with a certificate and its key, and only with both") {
  NetworkConfig net;
  CHECK(*tls_enabled(net, NodeRole::coordinator, "br.toml") == false);
  net.tls_cert = "cert.pem";
  const auto half = tls_enabled(net, NodeRole::coordinator, "br.toml");
  REQUIRE_FALSE(half);
  CHECK(half.error().str() ==
        "br.toml: [network] tls_cert and tls_key go together: set both for TLS, or neither");
  net.tls_key = "key.pem";
  CHECK(*tls_enabled(net, NodeRole::worker, "br.toml") == true);
}

TEST_CASE("a worker's tls_peer_name needs a CA to check the coordinator's name against") {
  NetworkConfig net;
  net.tls_cert = "cert.pem";
  net.tls_key = "key.pem";
  net.tls_peer_name = "coordinator.example";
  CHECK_FALSE(tls_enabled(net, NodeRole::worker, "w.toml"));
  CHECK(tls_enabled(net, NodeRole::coordinator, "w.toml"));  // a name only a worker checks
  net.tls_ca = "ca.pem";
  CHECK(*tls_enabled(net, NodeRole::worker, "w.toml") == true);
}

TEST_CASE("a slot's runner takes the agent, verification and keep rules of its host's config") {
  Config config;
  config.agent.command = {"deploy/demo-agent"};
  config.run.keep_succeeded = "all";
  config.context.token_budget = 1234;
  config.limits.agent_output_max_bytes = 99;
  const auto runner = runner_config(config, VerifyingHost::local,
                                    SlotPlace{"local-0", "ws", "logs", "prompts"});
  CHECK(runner.worker == "local-0");
  CHECK(runner.agent.command == config.agent.command);
  CHECK(runner.workspace == "ws");
  CHECK(runner.logs_dir == "logs");
  CHECK(runner.prompts_dir == "prompts");
  CHECK(runner.keep_succeeded_prompt);
  CHECK(runner.keep_succeeded_log);
  CHECK(runner.token_budget == 1234);
  CHECK(runner.log_max_bytes == 99);
  CHECK(runner.allow_run_criteria == allows_run_criteria(config.verify, VerifyingHost::local));
  config.run.keep_succeeded = "none";
  const auto remote = runner_config(config, VerifyingHost::remote_worker, SlotPlace{});
  CHECK_FALSE(remote.keep_succeeded_prompt);
  CHECK_FALSE(remote.keep_succeeded_log);
  CHECK(remote.allow_run_criteria ==
        allows_run_criteria(config.verify, VerifyingHost::remote_worker));
}
