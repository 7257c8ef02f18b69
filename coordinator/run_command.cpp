#include "coordinator/run_command.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "actors/graph/graph_actor.hpp"
#include "actors/scheduler/scheduler_actor.hpp"
#include "actors/worker/agent_runner.hpp"
#include "actors/worker/prompt_builder.hpp"
#include "actors/worker/worker_actor.hpp"
#include "coordinator/connection_watch.hpp"
#include "node/exit_codes.hpp"
#include "coordinator/front_actor.hpp"
#include "coordinator/worker_admission.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/metrics.hpp"
#include "coordinator/metrics_tally.hpp"
#include "coordinator/run_config.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_preparation.hpp"
#include "coordinator/run_mode.hpp"
#include "coordinator/run_workspace.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/progress_view.hpp"
#include "node/caf_node.hpp"
#include "node/network_setup.hpp"
#include "node/worker_setup.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/agent_route.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"
#include "storage/journal_actor.hpp"

namespace br {
namespace {

// Interactive mode: shows a batch's prompt (as its worker will build it, from the finished
// work the batch carries) and asks what to do. Answers "run", "run:" and the edited prompt,
// "skip" or "quit"; the end of input, or Ctrl-C, is "quit".
std::string ask_before(const Batch& batch, std::size_t token_budget, const StateDir& dir) {
  PromptOptions prompt_options;
  prompt_options.token_budget = token_budget;
  auto prompt = build_prompt(batch, refs_to(batch.completed), prompt_options);
  const std::string text =
      prompt ? prompt->text : "(the prompt cannot be built: " + prompt.error().str() + ")";
  std::string ids;
  for (const auto& item : batch.tasks) ids += (ids.empty() ? "" : ", ") + item.task.id.str();
  fmt::print("\n--- batch {} [{}]: {} ---\n{}\n--- end of prompt ---\n", batch.id.str(),
             to_string(batch.domain), ids, text);
  std::string edited;
  while (true) {
    fmt::print("Run this batch? [R]un, [s]kip (cancel its tasks), [e]dit the prompt, [q]uit: ");
    std::fflush(stdout);
    std::string line;
    if (!std::getline(std::cin, line)) return "quit";
    const auto first = line.find_first_not_of(" \t\r");
    const char answer = first == std::string::npos ? 'r' : static_cast<char>(std::tolower(
                                                               static_cast<unsigned char>(line[first])));
    if (answer == 'r') return edited.empty() ? "run" : "run:" + edited;
    if (answer == 's') return "skip";
    if (answer == 'q') return "quit";
    if (answer != 'e') {
      fmt::print("answer r, s, e or q\n");
      continue;
    }
    std::error_code ec;
    std::filesystem::create_directories(dir.prompts(), ec);
    const std::string file = dir.prompts() + "/edit-" + batch.id.str() + ".md";
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << (edited.empty() ? text : edited);
    }
    const char* visual = std::getenv("VISUAL");
    const char* editor = visual != nullptr && *visual != '\0' ? visual : std::getenv("EDITOR");
    const std::string command = (editor != nullptr && *editor != '\0' ? editor : "vi");
    // Through the shell, as git runs its editor: EDITOR may hold arguments ("code -w").
    const int status = std::system((command + " " + shell_word(file)).c_str());
    if (status != 0) {
      fmt::print("the editor ({}) exited with status {}; the prompt is unchanged\n", command,
                 status);
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    edited = content.str();
    fmt::print("prompt edited ({} bytes); it is what the agent gets\n", edited.size());
  }
}

// What to do about br's own files that could not be written, from the OS error in `reason`.
std::string own_files_remedy(const std::string& reason) {
  const auto says = [&](int err) { return reason.find(std::strerror(err)) != std::string::npos; };
  if (says(ENOSPC) || says(EDQUOT)) return "free space";
  if (says(EROFS) || says(EACCES)) return "make the state dir writable";
  return "fix that";
}


std::string retry_hint(const StateDir& dir, const RunOptions& options) {
  return next_command(dir, options, "retry --failed");
}

using namespace br::atoms;

// How stale `br status` may be while a run is live (coordinator/live_status.hpp).
constexpr std::int64_t kLiveStatusEveryMs = 200;
constexpr std::int64_t kRedrawEveryMs = 200;  // the live view on a terminal
constexpr std::int64_t kControlEveryMs = 200;  // how often a live run looks for br stop

std::atomic<int> g_interrupts{0};
extern "C" void on_interrupt(int) { g_interrupts.fetch_add(1); }

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 100;
}

int exit_code_for(RunStatus status) {
  switch (status) {
    case RunStatus::succeeded: return kExitOk;
    case RunStatus::failed: return exit_code_of(ErrorCategory::task_failed);
    case RunStatus::stopped: return exit_code_of(ErrorCategory::interrupted);
    default: return exit_code_of(ErrorCategory::internal);
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

// Keeps the process, and so /metrics, up for `ms` after the run, so that Prometheus scrapes
// its final numbers; SIGINT or SIGTERM ends the wait, or skips it when one stopped the run.
void linger(std::int64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until && g_interrupts.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

int run_command(const RunOptions& options) {
  // Before any thread exists: glibc gives each thread that contends an arena of its own (up
  // to 8 per core), and a coordinator's dozen threads (CAF's, one per local worker, RocksDB's,
  // the journal's) left their freed memory scattered over them: a 39k-task run peaked at
  // 458 MiB RSS with the default and 404 MiB with two arenas, for the same heap.
  ::mallopt(M_ARENA_MAX, 2);
  auto settings = load_settings(options);
  if (!settings) return report_failure(settings.error());
  const Config& config = settings->config;
  const StateDir& dir = options.state_dir;

  // Before the journal, which it outlives: the journal's commit thread observes append times.
  std::unique_ptr<Metrics> metrics;
  if (!config.metrics.listen.empty()) {
    auto served = Metrics::serve(config.metrics.listen, settings->metrics_token);
    if (!served) return report_failure(served.error());
    metrics = std::move(served).value();
    const auto& listen = config.metrics.listen;
    fmt::print("metrics on http://{}:{}/metrics\n", listen.substr(0, listen.rfind(':')),
               metrics->port());
    std::fflush(stdout);
  }

  // Everything before the actors (coordinator/run_preparation.hpp): bad input is refused
  // before the state dir is touched, and a run that is over is not started.
  auto prepared =
      prepare_run(options, *settings, [](const std::string& line) { fmt::print("{}\n", line); });
  if (!prepared) return report_failure(prepared.error());
  RunState state = std::move(prepared->state);
  if (prepared->over) {
    ProgressView view(state, nullptr, 1, unix_now_ms());
    fmt::print("this run is already over; nothing to do.\n{}",
               view.summary(unix_now_ms(), reader_command(dir)));
    if (state.status() != RunStatus::succeeded) {
      fmt::print("run what did not finish again with: {}\n", retry_hint(dir, options));
    }
    return exit_code_for(state.status());
  }
  const std::shared_ptr<const DependencyGraph> graph = prepared->graph;

  // Declared before the actor system, so they outlive its actors: the journal actor writes
  // to the journal, and worker actors still in an agent run hold the cancel source until the
  // system's destructor has joined them (found by AddressSanitizer after a Ctrl-C).
  const std::unique_ptr<Journal> journal = std::move(prepared->journal);
  CancelSource cancel;
  // Each local attempt's own cancel source (br cancel kills one), all cancelled with `cancel`.
  const auto attempts = std::make_shared<AttemptCancels>();
  const auto cancel_everything = [&] {
    cancel.cancel();
    attempts->cancel_all();
  };
  caf::actor_system_config caf_config;
  configure_caf_node(caf_config, CafNodeOptions{settings->listen.has_value(),
                                                settings->tls ? &config.network : nullptr});
  caf::actor_system system{caf_config};
  caf::scoped_actor self{system};

  // Local workers join the journal before anything runs, so `br status` can show them.
  std::vector<JournalRecord> joined;
  for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
    joined.push_back(JournalRecord{0, "", unix_now_ms(),
                                   rec::WorkerJoined{local_worker_name(i), 1,
                                                    std::string(kInProcessAddress)}});
  }
  if (auto seq = journal->append(joined); !seq) return report_failure(seq.error());
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

  // An isolated run's branch follows its journal: a resumed run sets it to the journaled head
  // (a coordinator killed after a merge was journaled, before the ref moved, left it behind),
  // and the worktrees of the coordinator before are gone with their half-done attempts.
  std::unique_ptr<GitIntegration> integration;
  std::optional<BranchFollower> follower;
  const std::string worktrees_dir = dir.root + "/worktrees";
  if (state.isolated()) {
    auto opened = BranchFollower::open(config.run.workspace, state.branch());
    if (!opened) return report_failure(opened.error());
    follower = std::move(opened).value();
    if (auto set = follower->set(state.head()); !set) return report_failure(set.error().as(ErrorCategory::infrastructure));
    remove_stale_worktrees(config.run.workspace, worktrees_dir);
    auto merger = GitIntegration::open(config.run.workspace, state.branch(),
                                       config.limits.change_max_bytes);
    if (!merger) return report_failure(merger.error().as(ErrorCategory::infrastructure));
    integration = std::move(merger).value();
  }

  ProgressView view(state, graph, std::max<std::uint32_t>(1, settings->local_workers),
                    unix_now_ms(), options.verbose);
  view.set_colour(options.colour);
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
  // br could not write its own files for an attempt: stopped, resumable, and why.
  bool own_files_failed = false;
  std::string stopped_reason;
  {
    // With metrics, each append is timed from the request to its durability (group commit
    // included), on the journal's own thread; without, nothing stands in between.
    auto journal_actor =
        metrics ? spawn_journal_actor(
                      system,
                      [&journal, m = metrics.get()](std::vector<std::string> encoded,
                                                    std::vector<JournalRecord> records,
                                                    Journal::Done done) {
                        const auto start = std::chrono::steady_clock::now();
                        journal->append_encoded_async(
                            std::move(encoded), std::move(records),
                            [m, start, done = std::move(done)](Result<std::uint64_t> r) {
                              m->observe_journal_append(std::chrono::duration<double>(
                                  std::chrono::steady_clock::now() - start).count());
                              done(std::move(r));
                            });
                      })
                : spawn_journal_actor(system, *journal);
    SchedulerConfig scheduler_config;
    scheduler_config.strategy = settings->strategy;
    scheduler_config.limits.max_tasks = config.run.batch_max_tasks;
    scheduler_config.limits.max_minutes = config.run.batch_max_minutes;
    auto scheduler = spawn_scheduler_actor(system, state.shared_plan(), graph, scheduler_config);

    GraphActorConfig graph_config;
    graph_config.retry = RetryPolicy{config.run.max_attempts, config.run.backoff_base_ms,
                                     config.run.backoff_max_ms, config.run.backoff_jitter};
    graph_config.lease_ms = config.run.lease_ms;
    graph_config.keep_remote_inflight = options.serve;
    graph_config.seed = std::random_device{}();
    graph_config.integration = integration.get();
    // The front is spawned after the graph: a cancel of a remote attempt finds it here.
    struct FrontHolder {
      std::mutex mutex;
      FrontActor front;
    };
    auto front_holder = std::make_shared<FrontHolder>();
    graph_config.kill_attempt = [attempts, front_holder](const BatchId& batch,
                                                         const std::string& worker) {
      if (is_local_worker_name(worker)) {
        attempts->cancel(batch);
        return;
      }
      const std::lock_guard<std::mutex> lock(front_holder->mutex);
      // Sent as the front itself: it takes a cancel only from its own process.
      if (front_holder->front) {
        caf::send_as(front_holder->front, front_holder->front, cancel_atom_v, batch.str(), worker);
      }
    };
    graph_config.approve = options.approve;
    graph_config.max_cost_micro_usd = config.agent.max_cost_micro_usd;
    // The blocking `self` below is the listener; scoped actors cannot be typed in CAF 0.17,
    // so its interface is the receive loop's handlers, which match ListenerActor.
    const auto listener = caf::actor_cast<ListenerActor>(self);
    auto graph_actor = spawn_graph_actor(system, state, graph, graph_config, journal_actor,
                                         scheduler, listener);

    std::vector<WorkerActor> workers;
    for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
      WorkerActorConfig w;
      w.runner = runner_config(config, VerifyingHost::local,
                               SlotPlace{local_worker_name(i), config.run.workspace, dir.logs(),
                                         dir.prompts()});
      w.runner.run_id = journal->run_id();
      w.context_dir = dir.context() + "/" + w.runner.worker;
      if (state.isolated()) {
        w.runner.worktree_name = "br-" + journal->run_id().substr(0, 8) + "-" + w.runner.worker;
        w.runner.worktree_dir = worktrees_dir + "/" + w.runner.worktree_name;
      }
      w.cancel = &cancel;
      w.attempts = attempts;
      workers.push_back(spawn_worker_actor(system, w, scheduler, graph_actor));
    }

    FrontActor front;
    std::shared_ptr<ConnectionWatch> gate;
    if (settings->listen) {
      raise_open_file_limit();
      FrontConfig front_config;
      front_config.token = config.network.token;
      front_config.run_id = journal->run_id();
      front_config.max_message_bytes = config.limits.message_max_bytes;
      front_config.max_connections = config.network.max_connections;
      LedgerLimits gate_limits;
      gate_limits.hello_timeout = std::chrono::milliseconds(config.network.hello_timeout_ms);
      gate_limits.max_pending = config.network.max_pending;
      // Its lines come from its own thread; the listener prints notes in order with the rest.
      gate = std::make_shared<ConnectionWatch>(gate_limits, [listener](const std::string& line) {
        caf::anon_send(listener, note_atom_v, line);
      });
      front_config.gate = gate;
      if (state.isolated()) {
        // Chunks of half a message leave room for the envelope at any message_max_bytes.
        auto objects = ObjectServer::open(config.run.workspace,
                                          config.limits.message_max_bytes / 2);
        if (!objects) return report_failure(objects.error().as(ErrorCategory::infrastructure));
        front_config.objects = std::move(objects).value();
      }
      front = spawn_front_actor(system, scheduler, graph_actor, listener, std::move(front_config));
      {
        const std::lock_guard<std::mutex> lock(front_holder->mutex);
        front_holder->front = front;
      }
      const Endpoint& at = *settings->listen;
      auto port = settings->tls
                      ? caf::openssl::publish(front, at.port, at.host.c_str(), true)
                      : system.middleman().publish(front, at.port, at.host.c_str(), true);
      if (!port) {
        self->send(graph_actor, stop_atom_v, std::string("cannot listen"));
        fmt::print(stderr,
                   "br-coordinator: cannot listen on {}: {}; check that no other program holds "
                   "port {} (ss -ltnp shows who does) and that {} is an address of this host "
                   "([network] listen or --listen)\n",
                   at.str(), network_error_words(port.error()), at.port, at.host);
        broken = true;
      } else {
        gate->watch(*port);
        fmt::print("listening on {}{}\n", Endpoint{at.host, *port}.str(),
                   settings->tls ? " (TLS)" : "");
        std::fflush(stdout);
      }
    }

    LiveBlock block;
    LiveStatusWriter live_status(dir, kLiveStatusEveryMs);
    live_status.update(view.state(), journal->last_seq(), unix_now_ms(), true);
    std::optional<MetricsTally> tally;
    std::int64_t last_metrics_ms = 0;
    if (metrics) {
      tally.emplace(view.state());
      metrics->set(tally->sample(view.state()));
    }
    bool over = false;
    bool stop_sent = false;
    std::int64_t last_draw_ms = 0;
    std::int64_t last_control_ms = 0;
    bool quit_asked = false;  // answered "quit" at the interactive prompt
    if (auto owned = own_control(dir); !owned) {
      fmt::print(stderr, "br: {}\n", owned.error().str());
    }
    // A request left before this run began (by a br stop that raced the last run's end) is
    // not for it.
    (void)take_stop_request(dir);
    (void)take_cancel_requests(dir);
    while (!over) {
      self->receive(
          [&](progress_atom, const EncodedRecords& encoded) {
            std::vector<JournalRecord> records;
            for (const auto& bytes : encoded) {
              if (auto r = bytes.decode(journal_decode_limits())) {
                if (const auto* stopped = std::get_if<rec::RunStopped>(&r->body)) {
                  stopped_reason = stopped->reason;
                }
                records.push_back(std::move(r).value());
              }
            }
            if (follower) {
              if (auto moved = follower->follow(records); !moved) {
                fmt::print(stderr, "br: branch {}: {}\n", follower->branch(), moved.error().str());
              }
            }
            const auto lines = view.apply(records);
            if (tally) {
              for (const double wait : tally->add(records, view.state())) {
                metrics->observe_dispatch(wait);
              }
            }
            if (live || quiet) return;
            for (const auto& line : lines) fmt::print("{}\n", line);
            std::fflush(stdout);
          },
          [&](note_atom, const std::string& text) {
            if (live) block.clear();
            fmt::print(stderr, "br: {}\n", text);
          },
          [&](approve_atom, const Encoded<Batch>& bytes) -> std::string {
            auto batch = bytes.decode();
            if (!batch || quit_asked) return "quit";
            std::string answer = ask_before(*batch, config.context.token_budget, dir);
            quit_asked = answer == "quit";
            return answer;
          },
          [&](run_over_atom, int status) {
            over = true;
            broken = broken || status == kRunBroken;
            own_files_failed = status == kRunStoppedByInfrastructure;
            final_status = broken || own_files_failed ? RunStatus::stopped
                                                      : static_cast<RunStatus>(status);
          },
          caf::after(std::chrono::milliseconds(kRedrawEveryMs)) >> [] {});
      // After every message, not in the timeout alone: on a busy run messages never stop
      // arriving and the timeout never fires (an interrupt used to wait for the run's end).
      const std::int64_t now = unix_now_ms();
      std::string stop_reason;
      if (!stop_sent && g_interrupts.load() > 0) stop_reason = "interrupted (Ctrl-C)";
      if (!stop_sent && quit_asked) stop_reason = "quit at br run's prompt";
      if (!stop_sent && stop_reason.empty() && now - last_control_ms >= kControlEveryMs) {
        last_control_ms = now;
        if (auto who = take_stop_request(dir)) stop_reason = "stopped by " + *who;
        for (auto& request : take_cancel_requests(dir)) {
          self->send(graph_actor, cancel_atom_v, request.tasks, "cancelled by " + request.who);
        }
      }
      if (!stop_reason.empty()) {
        stop_sent = true;
        // Stop first, then kill the agents: results of the killed attempts then reach a
        // graph that is stopping and ignores them, instead of being journaled as failed
        // attempts that count against max_attempts. Those tasks resume later.
        self->send(graph_actor, stop_atom_v, stop_reason);
        cancel_everything();
        if (live) block.clear();
        fmt::print(stderr, "br: {}; stopping (state is journaled, `br resume` continues)\n",
                   stop_reason);
      }
      if (live && !over && now - last_draw_ms >= kRedrawEveryMs) {
        block.draw(view.live_block(now, terminal_width()));
        last_draw_ms = now;
      }
      live_status.update(view.state(), journal->last_seq(), now);
      if (tally && now - last_metrics_ms >= kLiveStatusEveryMs) {
        last_metrics_ms = now;
        metrics->set(tally->sample(view.state()));
      }
    }
    if (tally) {
      MetricsSample last = tally->sample(view.state());
      last.run_over = true;
      last.workers_connected = 0;  // they go with the run (journaled as lost just below)
      metrics->set(last);
    }
    live_status.remove();
    if (live) block.clear();
    cancel_everything();
    if (front) {
      // Remote workers leave on run_over. Waiting for their connections to close (briefly:
      // one that is cut off is not waited for) lets CAF tear each one down before the actor
      // system goes; CAF 0.17 otherwise keeps every connected node's spawn-server helper, and
      // what it references, past the end (LeakSanitizer reported it in integration.netns).
      self->request(front, std::chrono::seconds(3), drain_atom_v)
          .receive([](ack_atom) {}, [](const caf::error&) {});
    }
    for (auto& w : workers) self->send_exit(w, caf::exit_reason::user_shutdown);
    self->send_exit(scheduler, caf::exit_reason::user_shutdown);
    self->send_exit(journal_actor, caf::exit_reason::user_shutdown);
    if (front) self->send_exit(front, caf::exit_reason::user_shutdown);
    {
      const std::lock_guard<std::mutex> lock(front_holder->mutex);
      front_holder->front = nullptr;  // the graph's config holds it: no cycle past the run
    }
    if (gate) {
      // Its thread sends notes to the listener, which takes no more: the last line is ours.
      if (auto line = gate->stop()) fmt::print(stderr, "br: {}\n", *line);
    }
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
  // The summary stays on screen, --quiet or not: it is all --quiet prints.
  fmt::print("{}", view.summary(unix_now_ms(), reader_command(dir)));
  if (state.isolated() && !broken && final_status != RunStatus::stopped) {
    // Over for good: no attempt is left to need a worktree (a stopped run keeps them for
    // nothing either, but its resume clears them).
    remove_stale_worktrees(config.run.workspace, worktrees_dir);
  }
  fmt::print("{}", result_summary(view.state()));
  if (!broken) {
    fmt::print("report: {} report   (timeline, failures, each task's commit; writes "
               "{}/report.html)\n",
               reader_command(dir), dir.root);
  }
  if (final_status == RunStatus::stopped) {
    fmt::print("resume with: {}\n", next_command(dir, options, "resume"));
  } else if (final_status == RunStatus::failed && !broken) {
    fmt::print("once the cause is fixed, run what failed again with: {}\n",
               retry_hint(dir, options));
  }
  if (metrics && config.metrics.linger_ms > 0) {
    std::fflush(stdout);  // the summary is out before the wait, not after it
    linger(config.metrics.linger_ms);
  }
  if (!broken && own_files_failed) {
    // Not a task's failure: every attempt would have met it, so none was counted.
    fmt::print(stderr, "br: {}; the run is stopped, no task failed: {} and run `{}`\n",
               stopped_reason, own_files_remedy(stopped_reason),
               next_command(dir, options, "resume"));
    return exit_code_of(ErrorCategory::infrastructure);
  }
  if (!broken && final_status == RunStatus::stopped) {
    if (auto why = run_budget_reached(view.state().usage(), config.agent.max_cost_micro_usd);
        !why.empty()) {
      fmt::print(stderr,
                 "br: {}; stopped. Raise [agent] max_cost_usd and run `{}` to carry on\n",
                 why, next_command(dir, options, "resume"));
      return exit_code_of(ErrorCategory::budget_reached);
    }
  }
  return broken ? exit_code_of(ErrorCategory::infrastructure) : exit_code_for(final_status);
}

}  // namespace br
