// br-worker: connects to a br-coordinator, says hello (name, slots, protocol version, token),
// and runs agents for the batches it pulls, one worker actor per slot. When the coordinator
// goes away (crash, restart, network) the slots finish their batches and br-worker reconnects
// with backoff; the slots then hand over the results they hold. Exits 0 when the coordinator
// says the run is over, 2 when it refuses this worker, 3 when it cannot (re)connect in time.
#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "actors/worker/worker_actor.hpp"
#include "node/caf_node.hpp"
#include "node/exit_codes.hpp"
#include "node/network_setup.hpp"
#include "node/worker_setup.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/config.hpp"
#include "protocol/endpoint.hpp"
#include "worker/tcp_probe.hpp"
#include "worker/tls_probe.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Connects to the coordinator's front actor, retrying with capped exponential backoff until
// `deadline`. A coordinator that restarts (systemd, a crash) is back within seconds.
// The coordinator's interface is checked on connecting: one that does not publish
// br::FrontActor (another version of br) is refused by CAF with an interface mismatch.
// With TLS (`tls` not null), a failed connect is explained by a handshake of br's own, and a
// `tls_peer_name` is checked by one before each connect.
// The actor system is started (from `caf_config`) only once a probe has reached the
// coordinator: a worker that never reaches it runs no CAF at all, and exits without tearing
// a middleman down (CAF 0.17 can leak its BASP broker when one that never connected is
// destroyed; seen by LeakSanitizer in the unreachable-coordinator test).
caf::expected<br::FrontActor> connect_until(caf::actor_system_config& caf_config,
                                            std::optional<caf::actor_system>& system,
                                            const std::string& host, std::uint16_t port,
                                            const br::NetworkConfig* tls,
                                            Clock::time_point deadline) {
  auto delay = std::chrono::milliseconds(50);
  for (;;) {
    // CAF's connect would wait out the kernel's SYN retries (~2 min) past any deadline: a
    // probe, bounded by what is left of the window, goes first.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto probe = br::probe_tcp(host, port, std::max(left, std::chrono::milliseconds(100)));
    caf::expected<br::FrontActor> front = caf::make_error(caf::sec::cannot_connect_to_node, probe.why);
    const br::TlsFiles files = tls ? br::TlsFiles{tls->tls_cert, tls->tls_key, tls->tls_ca}
                                   : br::TlsFiles{};
    const auto handshake_limit = std::max(left, std::chrono::milliseconds(1000));
    if (probe.reachable && tls && !tls->tls_peer_name.empty()) {
      const auto checked = br::probe_tls(host, port, handshake_limit, files, tls->tls_peer_name);
      if (!checked.reachable) {
        front = caf::make_error(caf::sec::cannot_connect_to_node, checked.why);
        probe.reachable = false;
        probe.why = checked.why;
      }
    }
    if (probe.reachable) {
      if (!system) system.emplace(caf_config);
      front = tls ? caf::openssl::remote_actor<br::FrontActor>(*system, host, port)
                  : system->middleman().remote_actor<br::FrontActor>(host, port);
      if (!front && tls) {
        // CAF says only that the connection failed; a handshake of our own says why.
        const auto why = br::probe_tls(host, port, handshake_limit, files, "");
        if (!why.reachable) {
          front = caf::make_error(caf::sec::cannot_connect_to_node, why.why);
          probe.reachable = false;
          probe.why = why.why;
        }
      }
    }
    if (front || Clock::now() + delay > deadline) return front;
    if (delay == std::chrono::milliseconds(50)) {
      fmt::print(stderr, "br-worker: cannot reach the coordinator at {}:{} yet ({}); retrying\n",
                 host, port, probe.reachable ? br::network_error_words(front.error()) : probe.why);
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"br-worker: runs coding agents for a br-coordinator.\n\nExample:\n"
               "  BR_TOKEN=$(cat ~/.br-token) br-worker --connect 10.0.0.1:7420 --workspace ~/br-ws "
               "--slots 2 --config br.toml",
               "br-worker"};
  std::string connect, workspace = ".", config_path, name, state_dir = ".br-worker";
  std::uint32_t slots = 1;
  double reconnect_seconds = 60;
  app.set_version_flag("--version", "br-worker " BR_VERSION_STRING);
  app.add_option("--connect", connect, "The coordinator's HOST:PORT")->required();
  app.add_option("--workspace", workspace,
                 "This host's repository: an empty folder (filled from the coordinator) or a "
                 "clone; with isolation = \"none\", where the agents work")
      ->capture_default_str();
  app.add_option("--slots", slots, "Agents to run at once")->check(CLI::Range(1, 64));
  app.add_option("--config", config_path, "br.toml with [agent] and [verify]")->required();
  app.add_option("--name", name, "This worker's name (default: host name and pid)");
  app.add_option("--state-dir", state_dir, "Logs, prompts and context")->capture_default_str();
  app.add_option("--reconnect-for", reconnect_seconds,
                 "Seconds to keep trying to reach the coordinator, at start and after losing it")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return br::exit_code_of(br::ErrorCategory::bad_input);
  }
  auto config = br::load_config(config_path);
  if (!config) {
    return br::report_failure(config.error());
  }
  if (config->agent.command.empty()) {
    return br::report_failure(br::ErrorCategory::bad_input,
                              config_path + ": [agent] has no command");
  }
  if (auto token = br::take_env_token(config->network, std::getenv("BR_TOKEN")); !token) {
    return br::report_failure(token.error());
  }
  if (name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    name = fmt::format("{}-{}", host, ::getpid());
  }
  const auto endpoint = br::parse_endpoint(connect, br::PortZero::refused);
  if (!endpoint) {
    return br::report_failure(br::ErrorCategory::bad_input,
                              "--connect " + connect + ": expected HOST:PORT with a port from 1 "
                              "to 65535, e.g. 10.0.0.1:7420");
  }
  const std::string& host = endpoint->host;
  const std::uint16_t port = endpoint->port;

  const auto& net = config->network;
  const auto tls_on = br::tls_enabled(net, br::NodeRole::worker, config_path);
  if (!tls_on) {
    return br::report_failure(tls_on.error());
  }
  const bool tls = *tls_on;
  caf::actor_system_config caf_config;
  br::configure_caf_node(caf_config, br::CafNodeOptions{true, tls ? &net : nullptr});
  std::optional<caf::actor_system> started;
  const auto reconnect_window = std::chrono::milliseconds(static_cast<long>(reconnect_seconds * 1000));
  auto front = connect_until(caf_config, started, host, port, tls ? &net : nullptr,
                             Clock::now() + reconnect_window);
  if (!front) {
    fmt::print(stderr,
               "br-worker: cannot reach the coordinator at {} after {} s of trying: check that "
               "br-coordinator is running there and listening on port {} (its `--listen`), that "
               "this host can reach {} (firewall, address), and that both use TLS or neither; "
               "the last try: {}\n",
               connect, reconnect_seconds, port, host, br::network_error_words(front.error()));
    std::fflush(stderr);
    // As at the end below: a started middleman is not torn down.
    std::_Exit(br::exit_code_of(br::ErrorCategory::infrastructure));
  }
  caf::actor_system& system = *started;
  for (const auto& sub : {"logs", "prompts", "context"}) {
    std::filesystem::create_directories(std::filesystem::path(state_dir) / sub);
  }
  std::filesystem::create_directories(workspace);

  // The worker's name as a folder name: letters, digits, '-', '_' and '.' only.
  std::string worktree_slug = name;
  for (char& c : worktree_slug) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '-';
  }
  if (!worktree_slug.empty() && worktree_slug.front() == '.') worktree_slug.front() = '-';

  br::CancelSource cancel;
  // br cancel: the coordinator kills one attempt's agent through this process's kill switch,
  // a scheduled actor (the slots block in their batches) given to it with each hello.
  auto attempts = std::make_shared<br::AttemptCancels>();
  br::KillSwitch kill_switch = system.spawn(
      [attempts](br::KillSwitch::pointer) -> br::KillSwitch::behavior_type {
        return {[attempts](br::atoms::cancel_atom, const std::string& batch) {
          (void)attempts->cancel(br::BatchId(batch));
        }};
      });
  std::atomic<bool> refused{false};
  caf::scoped_actor self{system};
  std::vector<br::WorkerActor> workers;
  for (std::uint32_t i = 0; i < slots; ++i) {
    br::WorkerActorConfig w;
    // This host's own config decides on run: criteria: nothing the coordinator sends can.
    w.runner = br::runner_config(
        *config, br::VerifyingHost::remote_worker,
        br::SlotPlace{fmt::format("{}/{}", name, i), std::filesystem::absolute(workspace),
                      std::filesystem::path(state_dir) / "logs",
                      std::filesystem::path(state_dir) / "prompts"});
    w.context_dir = std::filesystem::path(state_dir) / "context" / std::to_string(i);
    // Isolated runs: each slot works in a worktree of the workspace's repository, which
    // holds what the coordinator sent (objects of batch bases) and this host's own commits.
    w.ship_commits = true;
    w.change_max_bytes = config->limits.change_max_bytes;
    w.runner.worktree_name = fmt::format("br-{}-{}", worktree_slug, i);
    w.runner.worktree_dir =
        std::filesystem::absolute(std::filesystem::path(state_dir) / "worktrees" /
                                  w.runner.worktree_name);
    w.cancel = &cancel;
    w.attempts = attempts;
    w.kill_switch = kill_switch;
    w.token = config->network.token;
    w.on_refused = [&refused, name](const std::string& reason) {
      if (!refused.exchange(true)) fmt::print(stderr, "br-worker {}: refused: {}\n", name, reason);
    };
    workers.push_back(br::spawn_remote_worker_actor(system, w, *front));
    self->monitor(workers.back());
  }
  br::FrontActor coordinator = *front;
  self->monitor(coordinator);
  fmt::print("br-worker {}: connected to {} with {} slot(s)\n", name, connect, slots);
  std::fflush(stdout);
  // Done when every worker actor is: the run is over, or this worker was refused. A lost
  // coordinator is reconnected to; the slots say hello again and hand over their results.
  bool gave_up = false;
  std::string lost;  // why the coordinator went away; empty while connected
  for (std::uint32_t down = 0; down < slots && !gave_up;) {
    // A coordinator whose run is over says so (run_over) and then closes the connection; the
    // slots may see the one after main sees the other. A short quiet period tells them apart.
    const auto quiet = lost.empty() ? std::chrono::milliseconds(24 * 3600 * 1000)
                                    : std::chrono::milliseconds(300);
    self->receive(
        [&](caf::down_msg& msg) {
          if (msg.source == coordinator.address()) lost = br::network_error_words(msg.reason);
          else ++down;
        },
        caf::after(quiet) >> [&] {
      fmt::print(stderr, "br-worker {}: lost the coordinator ({}); reconnecting\n", name, lost);
      auto again = connect_until(caf_config, started, host, port, tls ? &net : nullptr,
                                 Clock::now() + reconnect_window);
      if (!again) {
        fmt::print(stderr,
                   "br-worker {}: gave up reaching the coordinator at {} after {} s: {}; check "
                   "that br-coordinator is running there (br-worker --reconnect-for waits "
                   "longer)\n",
                   name, connect, reconnect_seconds, br::network_error_words(again.error()));
        gave_up = true;
        return;
      }
      lost.clear();
      coordinator = *again;
      self->monitor(coordinator);
      for (const auto& worker : workers) self->send(worker, br::atoms::connect_atom_v, coordinator);
      fmt::print("br-worker {}: reconnected to {}\n", name, connect);
      std::fflush(stdout);
        });
  }
  if (gave_up) {
    cancel.cancel();  // results could not be delivered: stop the agents
    attempts->cancel_all();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  // Not `return`: ~actor_system would wait for the detached worker threads, and in CAF 0.17
  // an actor that was sent to a remote node stays referenced by the middleman until that
  // connection's state is torn down, which can be never (seen as a hang in the refusal test).
  // Everything the workers wrote (logs, context) is on disk already; nothing is left to flush.
  std::_Exit(gave_up    ? br::exit_code_of(br::ErrorCategory::infrastructure)
             : refused ? br::exit_code_of(br::ErrorCategory::bad_input)
                       : br::kExitOk);
}
