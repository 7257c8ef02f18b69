// Everything `br run`, `br resume`, `br retry` and br-coordinator do before the first actor
// exists: settings from the config and the command line, the journal opened (or the run
// created), replayed into the run's state, a changed spec refused or replanned, a retry's
// tasks reopened, and a run that is already over said so. CAF-free, so each of these decisions
// is unit-tested; coordinator/run_command.cpp wires the actors around what this returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/graph/dependency_graph.hpp"
#include "actors/scheduler/strategy.hpp"
#include "coordinator/run_command.hpp"
#include "protocol/config.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/result.hpp"
#include "protocol/run_state.hpp"
#include "storage/journal.hpp"

namespace br {

// The command that carries on with this state dir (`verb`: resume, retry --failed), to be
// run verbatim from where this one was: with its --config, and --auto if this run did not ask
// (so it works off a terminal, as this one did, even if STATE/mode was lost).
std::string next_command(const StateDir& dir, const RunOptions& options, const char* verb);

// The run's config with the command line's overrides applied and checked.
struct RunSettings {
  Config config;
  Strategy strategy = Strategy::critical_path;
  std::optional<Endpoint> listen;  // where to serve workers (br-coordinator)
  std::uint32_t local_workers = 0;
  bool tls = false;  // serve workers over TLS ([network] tls_cert and tls_key)
  std::string metrics_token;  // asked of a scrape when set ([network] token, BR_TOKEN)
};

// Reads options.config_path and applies the options; refuses (bad input) what cannot run,
// among them an agent or check program that is not installed here when this process has
// workers of its own. Touches no file but the config.
Result<RunSettings> load_settings(const RunOptions& options);

// A run ready for its actors: the journal open (its lock held) and the state replayed from it.
struct PreparedRun {
  std::unique_ptr<Journal> journal;
  RunState state;
  // The run was over before this command (succeeded, failed or cancelled, and no retry
  // reopened a task): there is nothing to run, and `graph` is null.
  bool over = false;
  std::shared_ptr<const DependencyGraph> graph;
};

// Lines for the user as they come (the workspace's notes, what a retry reopened), already
// left out under OutputMode::quiet where they are not the command's answer.
using SayLine = std::function<void(const std::string&)>;

// Opens, or for a new spec creates, the run in options.state_dir. Bad input (an unreadable or
// changed spec, no run to resume, a retry that names no task of the run) is found before the
// state dir is created; a new run is created all or nothing.
Result<PreparedRun> prepare_run(const RunOptions& options, const RunSettings& settings,
                                const SayLine& say);

}  // namespace br
