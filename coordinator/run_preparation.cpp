#include "coordinator/run_preparation.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>
#include <vector>

#include "actors/graph/run_tracker.hpp"
#include "actors/worker/agent_runner.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_config.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_mode.hpp"
#include "coordinator/run_workspace.hpp"
#include "node/network_setup.hpp"
#include "protocol/agent_route.hpp"
#include "protocol/wall_clock.hpp"

namespace br {
namespace {

std::string new_run_id() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

// Makes a rename in `dir` durable (fsync of the directory itself).
Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return Error::of(fmt::format("{}: cannot sync the state dir: {}", dir, why),
                     ErrorCategory::infrastructure);
  }
  ::close(fd);
  return Ok{};
}

// Creates the state dir and its journal and journals the plan. All or nothing: the journal is
// made under another name and renamed into place once it holds the plan, so a crash at any
// point leaves either no run or a run with its plan; and whatever this created is removed
// again if a step fails (a full disk, a read-only directory).
// `base`, for an isolated run, is where it starts; its branch is named after the run id.
// `fresh.plan` moves into the run's first record: the run's plan is the one replay reads back,
// and a 39k-task plan is ~60 MiB of strings not to hold twice while it is journaled.
Result<std::unique_ptr<Journal>> create_run(const StateDir& dir, CheckedPlan& fresh,
                                            const JournalOptions& options,
                                            const std::optional<RunBase>& base,
                                            const std::string& branch_template, RunState& state) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool root_existed = fs::exists(dir.root, ec);
  const bool journal_existed = fs::exists(dir.journal(), ec);
  fs::create_directories(dir.root, ec);
  if (ec) {
    return Error::of(fmt::format("{}: cannot create the state dir: {}; make its parent "
                                 "writable or use another --state-dir",
                                 dir.root, ec.message()),
                     ErrorCategory::infrastructure);
  }
  // Left by a br killed while creating a run: that run never began.
  const std::string staging = dir.root + "/journal.new";
  fs::remove_all(staging, ec);
  std::unique_ptr<Journal> journal;
  auto undo = [&](Error error) -> Result<std::unique_ptr<Journal>> {
    journal.reset();  // closes RocksDB before its files go
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    if (!root_existed) fs::remove_all(dir.root, ignored);
    else if (!journal_existed) fs::remove_all(dir.journal(), ignored);
    return error;
  };
  JournalOptions create = options;
  create.run_id = new_run_id();
  // The staging journal takes one record and closes: no snapshot thread, which would fold
  // (and so copy) the whole plan for nothing.
  JournalOptions staging_options = create;
  staging_options.snapshot_every = 0;
  auto opened = Journal::open(staging, staging_options);
  if (!opened) return undo(opened.error());
  journal = std::move(opened).value();
  rec::PlanCreated created{std::move(fresh.plan), fresh.spec_path, fresh.spec_hash};
  if (base) {
    created.branch = branch_name(branch_template, create.run_id);
    created.base_commit = base->base;
    created.repo = std::filesystem::absolute(base->repo).lexically_normal().string();
    // Before the journal exists, so a branch that cannot be made leaves no run behind.
    if (auto made = create_run_branch(base->repo, created.branch, base->base); !made) {
      return undo(made.error().as(ErrorCategory::infrastructure));
    }
  }
  {
    // Moved all the way (an initializer list would copy the 26 MB plan of a 39k-task run);
    // the staging journal drops it once it is encoded.
    std::vector<JournalRecord> plan;
    plan.push_back(JournalRecord{0, "", unix_now_ms(), std::move(created)});
    if (auto seq = journal->append(std::move(plan)); !seq) return undo(seq.error());
  }
  journal.reset();
  if (journal_existed) fs::remove_all(dir.journal(), ec);  // a directory without a journal
  fs::rename(staging, dir.journal(), ec);
  if (ec) {
    return undo(Error::of(fmt::format("{}: cannot create the journal: {}", dir.root,
                                      ec.message()),
                          ErrorCategory::infrastructure));
  }
  if (auto synced = sync_directory(dir.root); !synced) return undo(synced.error());
  opened = Journal::open(dir.journal(), create);
  if (!opened) return undo(opened.error());
  journal = std::move(opened).value();
  auto replayed = journal->replay();  // also gives the journal its state to snapshot from
  if (!replayed) return undo(replayed.error());
  state = std::move(replayed).value();
  return journal;
}

// Journals one record, then applies it to `state`: what the journal holds, the state shows.
Status append_and_apply(Journal& journal, RunState& state, RecordBody body) {
  JournalRecord record{0, "", unix_now_ms(), std::move(body)};
  auto seq = journal.append({record});  // a copy: `record` is applied below
  if (!seq) return seq.error();
  record.seq = *seq;
  record.run_id = journal.run_id();
  if (auto applied = state.apply(record); !applied) {
    return applied.error().as(ErrorCategory::internal);  // a record br made and just journaled
  }
  return Ok{};
}

}  // namespace

std::string next_command(const StateDir& dir, const RunOptions& options, const char* verb) {
  std::string command = "br --state-dir " + shell_word(dir.root) + " " + verb;
  if (!options.approve) command += " --auto";
  if (!options.config_path.empty()) command += " --config " + shell_word(options.config_path);
  return command;
}

Result<RunSettings> load_settings(const RunOptions& options) {
  RunSettings s;
  if (!options.config_path.empty()) {
    auto config = load_config(options.config_path);
    if (!config) return config.error();
    s.config = std::move(config).value();
  }
  if (options.workers) s.config.run.workers = *options.workers;
  if (!options.strategy.empty()) s.config.run.strategy = options.strategy;
  s.local_workers = options.workers ? *options.workers
                    : options.serve  ? 0
                                     : s.config.run.workers;
  const bool metrics_on = !s.config.metrics.listen.empty();
  if (options.serve || metrics_on) {
    if (auto token = take_env_token(s.config.network, std::getenv("BR_TOKEN")); !token) {
      return token.error();
    }
  }
  if (metrics_on) {
    // The worker port's rule: beyond loopback only with a token, and a token once set is
    // asked for on loopback too.
    const auto& listen = s.config.metrics.listen;
    const auto endpoint = parse_endpoint(listen, PortZero::allowed);  // checked by load_config
    if (endpoint && !is_loopback(endpoint->host) && s.config.network.token.empty()) {
      return Error::of("[metrics] listen " + listen + ": serving /metrics beyond loopback needs "
                       "a token; set BR_TOKEN or [network] token, and give Prometheus the same "
                       "(basic_auth password)");
    }
    s.metrics_token = s.config.network.token;
  }
  if (options.serve) {
    const std::string listen = options.listen.empty() ? s.config.network.listen : options.listen;
    const auto endpoint = parse_endpoint(listen, PortZero::allowed);
    if (!endpoint) {
      return Error::of("listen address '" + listen + "': expected HOST:PORT, e.g. 127.0.0.1:7420");
    }
    s.listen = *endpoint;
    if (auto free = check_can_listen(*s.listen); !free) return free.error();
    auto tls = tls_enabled(s.config.network, NodeRole::coordinator, options.config_path);
    if (!tls) return tls.error();
    s.tls = *tls;
    if (!is_loopback(s.listen->host) && s.config.network.token.empty()) {
      return Error::of("listen address " + listen + ": listening beyond loopback needs a "
                       "token; set BR_TOKEN or [network] token, and give workers the same");
    }
  }
  auto strategy = parse_strategy(s.config.run.strategy);
  if (!strategy) return strategy.error();
  s.strategy = *strategy;
  if (s.config.agent.command.empty()) {
    return Error::of(
        (options.config_path.empty() ? std::string("no config given")
                                     : options.config_path + ": [agent] has no command") +
        ": set [agent] command in br.toml, e.g. command = [\"claude\", \"-p\"], and pass "
        "--config br.toml (see README, \"Using real coding agents\")");
  }
  // The agent and the check programs run here when this process has workers of its own: a
  // program that is not installed is said now, before anything is journaled, not after every
  // task has failed three times on it.
  if (s.local_workers > 0) {
    const auto where = options.config_path.empty() ? std::string("br.toml") : options.config_path;
    // Every route's, since which one a batch takes is known only when it is formed.
    const std::vector<AgentRoute> routes = all_routes(s.config.agent);
    std::vector<std::pair<std::string, const std::vector<std::string>*>> programs;
    programs.reserve(routes.size() + 2);
    for (const auto& route : routes) {
      programs.emplace_back(route_table(route) + " command", &route.command);
    }
    programs.emplace_back("[verify] check_command", &s.config.verify.check_command);
    programs.emplace_back("[verify] test_command", &s.config.verify.test_command);
    for (const auto& [what, argv] : programs) {
      if (argv->empty() || find_executable(argv->front())) continue;
      return Error::of(fmt::format(
          "{}: {} runs '{}', which is not installed here{}: install it, or set {} to the "
          "program to run{}",
          where, what, argv->front(),
          argv->front().find('/') == std::string::npos ? " (not on PATH)" : " or not executable",
          what,
          what.rfind("[agent", 0) == 0  // a route's, not a check's
              ? " (br's offline demo agent, from br's source folder: command = "
                "[\"deploy/demo-agent\"])"
              : ", or leave it out"));
    }
  }
  if (s.config.run.lease_ms == 0) {
    s.config.run.lease_ms =
        longest_timeout_ms(s.config.agent) + s.config.verify.timeout_ms * 2 + s.config.verify.file_wait_ms +
        60'000;
  }
  return s;
}

Result<PreparedRun> prepare_run(const RunOptions& options, const RunSettings& settings,
                                const SayLine& say) {
  const Config& config = settings.config;
  const StateDir& dir = options.state_dir;
  std::unique_ptr<Journal> journal;
  // Plan before touching the state dir, so bad input leaves nothing behind. A spec that has
  // not changed since its run began needs no planning: the journal holds its plan.
  // A damaged journal is refused before anything is planned or made (the workspace's
  // repository included), not taken for no journal and replaced.
  if (auto intact = check_not_damaged(dir.journal()); !intact) {
    return intact.error();
  }
  const bool resuming = journal_exists(dir.journal());
  std::optional<CheckedPlan> fresh;
  std::optional<SpecFile> spec_file;
  if (!options.spec.empty()) {
    auto file = read_spec_file(options.spec, config.limits);
    if (!file) return file.error();
    spec_file = std::move(file).value();
  }
  const auto plan_spec = [&]() -> Status {
    // The planning `br plan --config` does: the plan shown is the plan run.
    auto with = plan_settings(config);
    if (!with) return with.error();
    auto planned = br::plan_spec(*spec_file, options.spec, *with);
    if (!planned) return planned.error();
    fresh = std::move(planned).value();
    return Ok{};
  };
  if (spec_file && (!resuming || options.replan)) {
    if (auto planned = plan_spec(); !planned) return planned.error();
    ::malloc_trim(0);  // what parsing and decomposing freed, before the plan is journaled
  }

  JournalOptions journal_options;
  journal_options.snapshot_every = config.journal.snapshot_every;
  journal_options.compact = config.journal.compact;
  RunState state;
  if (resuming) {
    auto opened = Journal::open(dir.journal(), journal_options);
    if (!opened) return opened.error();
    journal = std::move(opened).value();
    auto replayed = journal->replay();
    if (!replayed) return replayed.error();
    state = std::move(replayed).value();
    if (spec_file && state.spec_hash() != spec_file->hash) {
      if (!options.replan) {
        return Error::of(
            fmt::format("{}: the spec changed since the run in {} began; run `{}` to finish "
                        "that run as planned, pass --replan to plan it again (tasks that "
                        "succeeded and still exist are kept), or use another --state-dir",
                        options.spec, dir.root, next_command(dir, options, "resume")),
            ErrorCategory::bad_input);
      }
      if (auto revised = append_and_apply(
              *journal, state,
              rec::PlanRevised{fresh->plan, fresh->spec_path, fresh->spec_hash});
          !revised) {
        return revised.error();
      }
    } else {
      fresh.reset();  // same spec: the journal's plan is the plan
    }
  } else if (fresh) {
    std::optional<RunBase> base;
    if (config.run.isolation != "worktree") {
      if (auto usable = usable_workspace_folder(config); !usable) return usable.error();
    } else {
      auto opened = open_run_base(config, dir.root);
      if (!opened) return opened.error();
      base = std::move(opened).value();
      if (options.output != OutputMode::quiet) {
        for (const auto& note : base->notes) say("br: " + note);
      }
    }
    auto created = create_run(dir, *fresh, journal_options, base, config.run.branch, state);
    if (!created) return created.error();
    journal = std::move(created).value();
  } else {
    return Error::of(fmt::format("{}: no run to resume here; start one with "
                                 "`br run --auto SPEC`",
                                 dir.root),
                     ErrorCategory::bad_input);
  }

  if (options.approve && !options.cannot_ask.empty()) {
    return Error::of(options.cannot_ask, ErrorCategory::bad_input);
  }

  // The next br resume or br retry finds this config without a flag.
  remember_config(dir, options.config_path);
  remember_run_mode(dir, options.approve ? RunMode::ask : RunMode::automatic);

  if (options.retry) {
    // Journaled as its own record before anything runs: the tasks start over from here even
    // if this process dies at once. Then the run goes on as br resume would.
    auto plan_graph = graph_of(state.plan());
    if (!plan_graph) return plan_graph.error().as(ErrorCategory::internal);
    const RunTracker tracker(**plan_graph, RetryPolicy{});
    if (state.status() == RunStatus::running) {
      // This process holds the journal's lock, so whatever left the run `running` is gone
      // (kill -9, a crash, a power cut): stop the run as its Ctrl-C would have, attempts in
      // flight here interrupted and uncharged (remote ones keep their leases, as a restarted
      // br-coordinator keeps them), so that its failures can be reopened.
      for (auto& body : tracker.on_stop(state, /*keep_remote_inflight=*/true,
                                        "its coordinator ended without stopping it",
                                        unix_now_ms())) {
        if (auto applied = append_and_apply(*journal, state, std::move(body)); !applied) {
          return applied.error();
        }
      }
      say("br retry: the run's coordinator ended without stopping it (killed or crashed); "
          "stopped it here");
    }
    auto reopened = tracker.reopen(state, *options.retry);
    if (!reopened) {
      return Error::of("br retry: " + reopened.error().str(), reopened.error().category);
    }
    if (reopened->tasks.empty()) {
      say("br retry: nothing to retry: no failed, blocked or cancelled task matched");
    } else {
      if (auto applied = append_and_apply(*journal, state, *reopened); !applied) {
        return applied.error();
      }
      if (options.output != OutputMode::quiet) {
        say(fmt::format("br: retrying {} task(s), each with a fresh attempt budget",
                        reopened->tasks.size()));
      }
    }
  }

  PreparedRun prepared;
  prepared.over = state.status() == RunStatus::succeeded ||
                  state.status() == RunStatus::failed || state.status() == RunStatus::cancelled;
  if (!prepared.over) {
    auto graph = fresh ? Result<std::shared_ptr<const DependencyGraph>>(fresh->graph)
                       : graph_of(state.plan());
    if (!graph) return graph.error().as(ErrorCategory::internal);
    prepared.graph = std::move(graph).value();
  }
  prepared.journal = std::move(journal);
  prepared.state = std::move(state);
  fresh.reset();
  // Planning (the spec, its parse, the plan's copies while it was journaled and replayed)
  // left the heap ~80 MiB above what the run needs at 39k tasks, freed but kept by malloc:
  // give it back before the run's long middle.
  ::malloc_trim(0);
  return prepared;
}

}  // namespace br
