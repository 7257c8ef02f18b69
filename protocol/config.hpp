// br.toml: the run's settings. Every key has a default; an unknown key or a bad value is an
// error naming the file, line and key. The reference is docs/config.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct RunConfig {
  std::uint32_t workers = 2;              // local worker slots for `br run`
  std::string strategy = "critical-path"; // critical-path | priority | shortest
  std::uint32_t max_attempts = 3;         // attempts per task before it fails for good
  std::int64_t backoff_base_ms = 1000;    // first retry delay; doubles per attempt
  std::int64_t backoff_max_ms = 60000;
  double backoff_jitter = 0.2;            // ± fraction of the delay
  std::int64_t lease_ms = 0;              // 0: agent timeout + verify timeout + 60 s
  std::uint32_t batch_max_tasks = 3;
  std::uint32_t batch_max_minutes = 240;
  std::string workspace = ".";            // where agents work, relative to the config file
  // What stays in the state dir of an attempt that passed: "all" (prompt and log), "logs"
  // (the prompt goes: the plan can rebuild it; it was most of a big run's state dir) or
  // "none". Failed attempts always keep both.
  std::string keep_succeeded = "logs";
  // "worktree": every attempt runs in a git worktree of its own at a base holding the work it
  // depends on, and passed attempts are merged into `branch`. "none": all agents share the
  // workspace directory itself (for agents that change no files; nothing is committed).
  std::string isolation = "worktree";
  std::string branch = "br/{run}";        // the integration branch; {run} is the run id
};

// How the agent prints its result, so br can read its usage (actors/worker/usage_reader.hpp).
enum class AgentOutput : std::uint8_t { text, claude_json, codex_json };

// One [agent.simple], [agent.medium], [agent.complex] or [agent.domains.NAME] table: what it
// sets for the batches routed to it (protocol/agent_route.hpp); an unset key is [agent]'s.
struct AgentOverride {
  std::optional<std::vector<std::string>> command;
  std::optional<AgentOutput> output;
  std::optional<std::int64_t> timeout_ms;
};

struct AgentConfig {
  std::vector<std::string> command;       // argv, run without a shell
  AgentOutput output = AgentOutput::text;
  // Routes, most specific first: by the batch's domain, then by its complexity; a batch that
  // none matches runs the settings above.
  std::map<Domain, AgentOverride> by_domain;
  std::map<Complexity, AgentOverride> by_complexity;
  // Budgets in micro-USD (protocol/usage.hpp); 0: no limit. The run's budget stops dispatch once
  // the journaled cost reaches it; an attempt whose own cost passes the task's budget fails.
  std::uint64_t max_cost_micro_usd = 0;
  std::uint64_t max_cost_per_task_micro_usd = 0;
  std::int64_t timeout_ms = std::int64_t{30} * 60 * 1000;
  std::vector<std::string> env_allow;     // environment variables passed through to agents
};

struct VerifyConfig {
  std::vector<std::string> check_command; // argv; empty: no check
  std::vector<std::string> test_command;
  std::int64_t timeout_ms = std::int64_t{10} * 60 * 1000;
  std::int64_t file_wait_ms = std::int64_t{10} * 1000;  // how long to wait for expected files after exit
  // A plan with a task that nothing machine-checks (no expected file, no file:/contains:/run:
  // criterion, neither command above) is an error, not a task an agent of /bin/true passes.
  bool require_checks = false;
  // `run:` criteria are commands written in the spec, run as the user of the host that
  // verifies. Unset: they run in `br run`'s and br-coordinator's own slots (the spec's author
  // is the one running br there) and not on a br-worker, whose owner may not have written or
  // read the spec. Only the verifying host's own config counts (allows_run_criteria).
  std::optional<bool> allow_run_criteria;
};

// Where verification happens, for the defaults that differ between hosts.
enum class VerifyingHost : std::uint8_t { local, remote_worker };

// Whether `run:` criteria run on `host`: [verify] allow_run_criteria when the config sets it,
// else yes for local slots and no for a br-worker.
bool allows_run_criteria(const VerifyConfig& config, VerifyingHost host);

struct ContextConfig {
  std::uint32_t token_budget = 4000;      // prompt budget, tokens ≈ bytes / 4
};

struct NetworkConfig {
  std::string listen = "127.0.0.1:7420";
  std::string token;                      // required when listening beyond loopback
  std::string tls_cert, tls_key, tls_ca;  // TLS between hosts when set
  // br-worker: the name the coordinator's certificate must be for (empty: any the CA signed).
  std::string tls_peer_name;
  std::uint32_t max_connections = 256;
  // A connection that has not said hello within this is closed, and beyond `max_pending` such
  // connections the oldest are: silent sockets cannot take the coordinator's fds.
  std::int64_t hello_timeout_ms = 5000;
  std::uint32_t max_pending = 64;
};

// Shorter tokens are refused: a guesser is disconnected after a few tries, but a token of a
// handful of characters would still fall to patience.
inline constexpr std::size_t kMinTokenLength = 16;

struct LimitsConfig {
  std::uint64_t spec_max_bytes = std::uint64_t{16} << 20;
  std::uint64_t max_tasks = 200000;
  std::uint64_t message_max_bytes = std::uint64_t{16} << 20;
  std::uint64_t agent_output_max_bytes = std::uint64_t{64} << 20;
  // The git objects one remote attempt may add (its pack): it travels in one result message.
  std::uint64_t change_max_bytes = std::uint64_t{8} << 20;
};

// /metrics for Prometheus (coordinator/metrics.hpp). Off unless `listen` is set, for `br run`
// and br-coordinator alike: a run opens no port nobody asked for.
struct MetricsConfig {
  std::string listen;  // HOST:PORT; beyond loopback it needs [network] token (basic auth)
  // How long /metrics stays up once the run is over, so a scrape sees its final numbers
  // (SIGINT or SIGTERM ends the wait early).
  std::int64_t linger_ms = 0;
};

// The run's journal (storage/journal.hpp); snapshots make a restart replay only the tail.
struct JournalConfig {
  std::uint64_t snapshot_every = 10000;  // records between run-state snapshots; 0: none
  bool compact = false;                  // delete records two snapshots cover (loses history)
};

struct Config {
  RunConfig run;
  AgentConfig agent;
  VerifyConfig verify;
  ContextConfig context;
  NetworkConfig network;
  LimitsConfig limits;
  JournalConfig journal;
  MetricsConfig metrics;
  std::string path;  // file it came from; empty for defaults
};

// Parses br.toml text. Relative paths (agent and verify commands whose first word contains a
// '/', run.workspace) are resolved against `base_dir`.
Result<Config> parse_config(std::string_view text, const std::string& path,
                            const std::string& base_dir);
Result<Config> load_config(const std::string& path);

// Durations are integers (seconds) or strings with a unit: "250ms", "90s", "30m", "2h".
Result<std::int64_t> parse_duration_ms(std::string_view text);

}  // namespace br
