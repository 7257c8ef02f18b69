#include "coordinator/run_command.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fmt/core.h>
#include <random>

#include "actors/graph/graph_actor.hpp"
#include "actors/scheduler/scheduler_actor.hpp"
#include "actors/worker/agent_runner.hpp"
#include "actors/worker/worker_actor.hpp"
#include "coordinator/exit_codes.hpp"
#include "coordinator/front_actor.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/progress_view.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"
#include "storage/journal_actor.hpp"

namespace br {
namespace {

using namespace br::atoms;

// How stale `br status` may be while a run is live (coordinator/live_status.hpp).
constexpr std::int64_t kLiveStatusEveryMs = 200;
constexpr std::int64_t kRedrawEveryMs = 200;  // the live view on a terminal

std::atomic<int> g_interrupts{0};
extern "C" void on_interrupt(int) { g_interrupts.fetch_add(1); }


std::string new_run_id() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 100;
}

int fail(int code, const std::string& message) {
  fmt::print(stderr, "{}\n", message);
  return code;
}

int exit_code_for(RunStatus status) {
  switch (status) {
    case RunStatus::succeeded: return kExitOk;
    case RunStatus::failed: return kExitTaskFailed;
    case RunStatus::stopped: return 130;  // like a shell: interrupted by SIGINT
    default: return kExitInternal;
  }
}

// Redraws a block of lines in place on a terminal.
class LiveBlock {
 public:
  void draw(const std::string& block) {
    clear();
    fmt::print("{}\n", block);
    lines_ = 1 + static_cast<int>(std::count(block.begin(), block.end(), '\n'));
    std::fflush(stdout);
  }
  void clear() {
    for (int i = 0; i < lines_; ++i) fmt::print("\x1b[1A\x1b[2K");
    lines_ = 0;
  }

 private:
  int lines_ = 0;
};

struct Settings {
  Config config;
  Strategy strategy = Strategy::critical_path;
  std::string listen_host;
  std::uint16_t listen_port = 0;
  std::uint32_t local_workers = 0;
  bool tls = false;  // serve workers over TLS ([network] tls_cert and tls_key)
};

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

Result<Settings> load_settings(const RunOptions& options) {
  Settings s;
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
  if (options.serve) {
    const std::string listen = options.listen.empty() ? s.config.network.listen : options.listen;
    const auto colon = listen.rfind(':');
    unsigned long port = 70000;
    try {
      if (colon != std::string::npos) port = std::stoul(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (colon == std::string::npos || colon == 0 || port > 65535) {
      return Error::of("listen address '" + listen + "': expected HOST:PORT, e.g. 127.0.0.1:7420");
    }
    s.listen_host = listen.substr(0, colon);
    s.listen_port = static_cast<std::uint16_t>(port);
    if (const char* token = std::getenv("BR_TOKEN"); token && *token) s.config.network.token = token;
    const auto& net = s.config.network;
    if (net.tls_cert.empty() != net.tls_key.empty()) {
      return Error::of("[network] tls_cert and tls_key go together: set both for TLS, or neither");
    }
    s.tls = !net.tls_cert.empty();
    if (!is_loopback(s.listen_host) && s.config.network.token.empty()) {
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
  if (s.config.run.lease_ms == 0) {
    s.config.run.lease_ms =
        s.config.agent.timeout_ms + s.config.verify.timeout_ms * 2 + s.config.verify.file_wait_ms +
        60'000;
  }
  return s;
}

// Makes a rename in `dir` durable (fsync of the directory itself).
Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return Error::of(fmt::format("{}: cannot sync the state dir: {}", dir, why));
  }
  ::close(fd);
  return Ok{};
}

// Creates the state dir and its journal and journals the plan. All or nothing: the journal is
// made under another name and renamed into place once it holds the plan, so a crash at any
// point leaves either no run or a run with its plan; and whatever this created is removed
// again if a step fails (a full disk, a read-only directory).
Result<std::unique_ptr<Journal>> create_run(const StateDir& dir, const CheckedPlan& fresh,
                                            const JournalOptions& options, RunState& state) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool root_existed = fs::exists(dir.root, ec);
  const bool journal_existed = fs::exists(dir.journal(), ec);
  fs::create_directories(dir.root, ec);
  if (ec) {
    return Error::of(fmt::format("{}: cannot create the state dir: {}; make its parent "
                                 "writable or use another --state-dir",
                                 dir.root, ec.message()));
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
  auto opened = Journal::open(staging, create);
  if (!opened) return undo(opened.error());
  journal = std::move(opened).value();
  JournalRecord plan{0, "", unix_now_ms(),
                     rec::PlanCreated{fresh.plan, fresh.spec_path, fresh.spec_hash}};
  if (auto seq = journal->append({plan}); !seq) return undo(seq.error());
  journal.reset();
  if (journal_existed) fs::remove_all(dir.journal(), ec);  // a directory without a journal
  fs::rename(staging, dir.journal(), ec);
  if (ec) return undo(Error::of(fmt::format("{}: cannot create the journal: {}", dir.root,
                                            ec.message())));
  if (auto synced = sync_directory(dir.root); !synced) return undo(synced.error());
  opened = Journal::open(dir.journal(), create);
  if (!opened) return undo(opened.error());
  journal = std::move(opened).value();
  auto replayed = journal->replay();  // also gives the journal its state to snapshot from
  if (!replayed) return undo(replayed.error());
  state = std::move(replayed).value();
  return journal;
}

}  // namespace

int run_command(const RunOptions& options) {
  // Before any thread exists: glibc gives each thread that contends an arena of its own (up
  // to 8 per core), and a coordinator's dozen threads (CAF's, one per local worker, RocksDB's,
  // the journal's) left their freed memory scattered over them: a 39k-task run peaked at
  // 458 MiB RSS with the default and 404 MiB with two arenas, for the same heap.
  ::mallopt(M_ARENA_MAX, 2);
  auto settings = load_settings(options);
  if (!settings) return fail(kExitBadInput, settings.error().str());
  const Config& config = settings->config;
  const StateDir& dir = options.state_dir;

  // Declared before the actor system, so they outlive its actors: the journal actor writes
  // to the journal, and worker actors still in an agent run hold the cancel source until the
  // system's destructor has joined them (found by AddressSanitizer after a Ctrl-C).
  std::unique_ptr<Journal> journal;
  CancelSource cancel;
  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", 2);
  // br's actors mostly wait for one another; the sharing scheduler wakes a waiting thread at
  // once, where work stealing polls and sleeps (dispatch round trip p50 310 → 175 µs).
  caf_config.set("scheduler.policy", caf::atom("sharing"));
  if (!settings->listen_host.empty()) {
    caf_config.load<caf::io::middleman>();
    // A worker host that goes silent (cut off, not closed) is dropped within 3 s.
    caf_config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
    caf_config.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
    if (settings->tls) {
      caf_config.load<caf::openssl::manager>();
      caf_config.openssl_certificate = config.network.tls_cert;
      caf_config.openssl_key = config.network.tls_key;
      caf_config.openssl_cafile = config.network.tls_ca;
    }
  }
  caf::actor_system system{caf_config};
  caf::scoped_actor self{system};

  // Plan before touching the state dir, so bad input leaves nothing behind. A spec that has
  // not changed since its run began needs no planning: the journal holds its plan.
  const bool resuming = journal_exists(dir.journal());
  std::optional<CheckedPlan> fresh;
  std::optional<SpecFile> spec_file;
  if (!options.spec.empty()) {
    auto file = read_spec_file(options.spec, config.limits);
    if (!file) return fail(kExitBadInput, file.error().str());
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
    if (auto planned = plan_spec(); !planned) return fail(kExitBadInput, planned.error().str());
  }

  JournalOptions journal_options;
  journal_options.snapshot_every = config.journal.snapshot_every;
  journal_options.compact = config.journal.compact;
  RunState state;
  if (resuming) {
    auto opened = Journal::open(dir.journal(), journal_options);
    if (!opened) return fail(kExitInternal, opened.error().str());
    journal = std::move(opened).value();
    auto replayed = journal->replay();
    if (!replayed) return fail(kExitInternal, replayed.error().str());
    state = std::move(replayed).value();
    if (spec_file && state.spec_hash() != spec_file->hash) {
      if (!options.replan) {
        return fail(kExitBadInput,
                    fmt::format("{}: the spec changed since the run in {} began; run `br resume` "
                                "to finish that run as planned, pass --replan to plan it again "
                                "(tasks that succeeded and still exist are kept), or use another "
                                "--state-dir",
                                options.spec, dir.root));
      }
      JournalRecord revised{0, "", unix_now_ms(),
                            rec::PlanRevised{fresh->plan, fresh->spec_path, fresh->spec_hash}};
      auto seq = journal->append({revised});
      if (!seq) return fail(kExitInternal, seq.error().str());
      revised.seq = *seq;
      revised.run_id = journal->run_id();
      if (auto applied = state.apply(revised); !applied) {
        return fail(kExitInternal, applied.error().str());
      }
    } else {
      fresh.reset();  // same spec: the journal's plan is the plan
    }
  } else if (fresh) {
    auto created = create_run(dir, *fresh, journal_options, state);
    if (!created) return fail(kExitInternal, created.error().str());
    journal = std::move(created).value();
  } else {
    return fail(kExitBadInput, fmt::format("{}: no run to resume here; start one with "
                                           "`br run --auto SPEC`",
                                           dir.root));
  }

  if (state.status() == RunStatus::succeeded || state.status() == RunStatus::failed ||
      state.status() == RunStatus::cancelled) {
    ProgressView view(state, nullptr, 1, unix_now_ms());
    fmt::print("this run is already over; nothing to do.\n{}", view.summary(unix_now_ms()));
    return exit_code_for(state.status());
  }

  auto graph = fresh ? Result<std::shared_ptr<const DependencyGraph>>(fresh->graph)
                     : graph_of(state.plan());
  if (!graph) return fail(kExitInternal, graph.error().str());

  // Local workers join the journal before anything runs, so `br status` can show them.
  std::vector<JournalRecord> joined;
  for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
    joined.push_back(JournalRecord{0, "", unix_now_ms(),
                                   rec::WorkerJoined{fmt::format("local-{}", i), 1,
                                                    std::string(kInProcessAddress)}});
  }
  if (auto seq = journal->append(joined); !seq) return fail(kExitInternal, seq.error().str());
  for (auto& r : joined) {
    r.run_id = journal->run_id();
    (void)state.apply(r);
  }

  for (const auto& sub : {dir.logs(), dir.prompts(), dir.context()}) {
    std::error_code ec;
    std::filesystem::create_directories(sub, ec);
  }
  std::error_code ec;
  std::filesystem::create_directories(config.run.workspace, ec);

  ProgressView view(state, *graph, std::max<std::uint32_t>(1, settings->local_workers),
                    unix_now_ms(), options.verbose);
  const bool live = options.output == OutputMode::live;
  const bool quiet = options.output == OutputMode::quiet;
  if (!quiet) {
    fmt::print("br: run {} of {} ({} tasks, {} local workers, state in {})\n", journal->run_id(),
               state.plan().title, state.plan().tasks.size(), settings->local_workers, dir.root);
  }

  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  RunStatus final_status = RunStatus::stopped;
  bool broken = false;  // the journal failed: the run stopped where it was durable
  {
    auto journal_actor = spawn_journal_actor(system, *journal);
    SchedulerConfig scheduler_config;
    scheduler_config.strategy = settings->strategy;
    scheduler_config.limits.max_tasks = config.run.batch_max_tasks;
    scheduler_config.limits.max_minutes = config.run.batch_max_minutes;
    auto scheduler = spawn_scheduler_actor(system, state.shared_plan(), *graph, scheduler_config);

    GraphActorConfig graph_config;
    graph_config.retry = RetryPolicy{config.run.max_attempts, config.run.backoff_base_ms,
                                     config.run.backoff_max_ms, config.run.backoff_jitter};
    graph_config.lease_ms = config.run.lease_ms;
    graph_config.keep_remote_inflight = options.serve;
    graph_config.seed = std::random_device{}();
    auto graph_actor = spawn_graph_actor(system, state, *graph, graph_config, journal_actor,
                                         scheduler, caf::actor{self});

    std::vector<caf::actor> workers;
    for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
      WorkerActorConfig w;
      w.runner.worker = fmt::format("local-{}", i);
      w.runner.agent = config.agent;
      w.runner.verify = config.verify;
      w.runner.workspace = config.run.workspace;
      w.runner.logs_dir = dir.logs();
      w.runner.prompts_dir = dir.prompts();
      w.runner.keep_succeeded_prompt = config.run.keep_succeeded == "all";
      w.runner.keep_succeeded_log = config.run.keep_succeeded != "none";
      w.runner.token_budget = config.context.token_budget;
      w.runner.log_max_bytes = config.limits.agent_output_max_bytes;
      w.context_dir = dir.context() + "/" + w.runner.worker;
      w.cancel = &cancel;
      workers.push_back(spawn_worker_actor(system, w, scheduler, graph_actor));
    }

    caf::actor front;
    if (!settings->listen_host.empty()) {
      FrontConfig front_config;
      front_config.token = config.network.token;
      front_config.run_id = journal->run_id();
      front_config.max_message_bytes = config.limits.message_max_bytes;
      front_config.max_connections = config.network.max_connections;
      front = spawn_front_actor(system, scheduler, graph_actor, caf::actor{self},
                                std::move(front_config));
      auto port = settings->tls
                      ? caf::openssl::publish(front, settings->listen_port,
                                              settings->listen_host.c_str(), true)
                      : system.middleman().publish(front, settings->listen_port,
                                                   settings->listen_host.c_str(), true);
      if (!port) {
        self->send(graph_actor, stop_atom_v, std::string("cannot listen"));
        fmt::print(stderr, "br-coordinator: cannot listen on {}:{}: {}\n", settings->listen_host,
                   settings->listen_port, system.render(port.error()));
        broken = true;
      } else {
        fmt::print("listening on {}:{}{}\n", settings->listen_host, *port,
                   settings->tls ? " (TLS)" : "");
        std::fflush(stdout);
      }
    }

    LiveBlock block;
    LiveStatusWriter live_status(dir, kLiveStatusEveryMs);
    live_status.update(view.state(), journal->last_seq(), unix_now_ms(), true);
    bool over = false;
    bool stop_sent = false;
    std::int64_t last_draw_ms = 0;
    while (!over) {
      self->receive(
          [&](progress_atom, const std::vector<std::string>& encoded) {
            std::vector<JournalRecord> records;
            for (const auto& bytes : encoded) {
              if (auto r = decode<JournalRecord>(bytes, journal_decode_limits())) {
                records.push_back(std::move(r).value());
              }
            }
            const auto lines = view.apply(records);
            if (live || quiet) return;
            for (const auto& line : lines) fmt::print("{}\n", line);
            std::fflush(stdout);
          },
          [&](note_atom, const std::string& text) {
            if (live) block.clear();
            fmt::print(stderr, "br: {}\n", text);
          },
          [&](run_over_atom, int status) {
            over = true;
            broken = broken || status == kRunBroken;
            final_status = broken ? RunStatus::stopped : static_cast<RunStatus>(status);
          },
          caf::after(std::chrono::milliseconds(kRedrawEveryMs)) >> [] {});
      // After every message, not in the timeout alone: on a busy run messages never stop
      // arriving and the timeout never fires (an interrupt used to wait for the run's end).
      if (g_interrupts.load() > 0 && !stop_sent) {
        stop_sent = true;
        // Stop first, then kill the agents: results of the killed attempts then reach a
        // graph that is stopping and ignores them, instead of being journaled as failed
        // attempts that count against max_attempts. Those tasks resume later.
        self->send(graph_actor, stop_atom_v, std::string("interrupted (Ctrl-C)"));
        cancel.cancel();
        if (live) block.clear();
        fmt::print(stderr, "br: interrupted; stopping (state is journaled, `br resume` "
                           "continues)\n");
      }
      const std::int64_t now = unix_now_ms();
      if (live && !over && now - last_draw_ms >= kRedrawEveryMs) {
        block.draw(view.live_block(now, terminal_width()));
        last_draw_ms = now;
      }
      live_status.update(view.state(), journal->last_seq(), now);
    }
    live_status.remove();
    if (live) block.clear();
    cancel.cancel();
    for (auto& w : workers) self->send_exit(w, caf::exit_reason::user_shutdown);
    self->send_exit(scheduler, caf::exit_reason::user_shutdown);
    self->send_exit(journal_actor, caf::exit_reason::user_shutdown);
    if (front) self->send_exit(front, caf::exit_reason::user_shutdown);
  }
  // Workers go with the run: say so in the journal, so `br status` does not show them as
  // connected to a run that is over.
  if (!broken) {
    std::vector<JournalRecord> gone;
    for (const auto& [name, worker] : view.state().workers()) {
      if (worker.alive) {
        gone.push_back(JournalRecord{0, "", unix_now_ms(), rec::WorkerLost{name, "the run ended"}});
      }
    }
    if (!gone.empty()) (void)journal->append(std::move(gone));
  }
  if (!quiet || final_status != RunStatus::succeeded) {
    fmt::print("{}", view.summary(unix_now_ms()));
  }
  if (final_status == RunStatus::stopped) {
    fmt::print("resume with: br --state-dir {} resume\n", dir.root);
  }
  return broken ? kExitInternal : exit_code_for(final_status);
}

}  // namespace br
