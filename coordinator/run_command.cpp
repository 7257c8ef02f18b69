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

// One run of br run, br resume, br retry or br-coordinator, from its prepared state (the
// CAF-free part, coordinator/run_preparation.hpp) to its exit code: the workspace's branch,
// the actors, the loop that shows progress and takes Ctrl-C, br stop and br cancel, their
// shutdown, and the summary. Members are declared in the order their lifetimes need: the
// journal and the cancel sources outlive the actor system (worker actors still in an agent run
// hold them until the system's destructor has joined them, found by AddressSanitizer after a
// Ctrl-C), and the metrics outlive the journal, whose commit thread observes append times.
class RunLifecycle {
 public:
  RunLifecycle(const RunOptions& options, const RunSettings& settings, PreparedRun&& prepared,
               std::unique_ptr<Metrics> metrics)
      : options_(options),
        settings_(settings),
        config_(settings.config),
        dir_(options.state_dir),
        metrics_(std::move(metrics)),
        state_(std::move(prepared.state)),
        graph_(std::move(prepared.graph)),
        journal_(std::move(prepared.journal)),
        worktrees_dir_(dir_.root + "/worktrees"),
        system_(configured(caf_config_, settings)),
        self_(system_) {}

  int run() {
    if (auto joined = join_local_workers(); !joined) return report_failure(joined.error());
    if (auto opened = open_workspace(); !opened) return report_failure(opened.error());
    view_.emplace(state_, graph_, std::max<std::uint32_t>(1, settings_.local_workers),
                  unix_now_ms(), options_.verbose);
    view_->set_colour(options_.colour);
    if (!quiet()) {
      fmt::print("br: run {} of {} ({} tasks, {} local workers, state in {})\n",
                 journal_->run_id(), state_.plan().title, state_.plan().tasks.size(),
                 settings_.local_workers, dir_.root);
    }
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    start_actors();
    serve_until_over();  // also after a port that failed: until the graph has stopped
    shut_down();
    journal_workers_gone();
    return finish();
  }

 private:
  static caf::actor_system_config& configured(caf::actor_system_config& caf_config,
                                               const RunSettings& settings) {
    configure_caf_node(caf_config, CafNodeOptions{settings.listen.has_value(),
                                                  settings.tls ? &settings.config.network
                                                               : nullptr});
    return caf_config;
  }

  bool live() const { return options_.output == OutputMode::live; }
  bool quiet() const { return options_.output == OutputMode::quiet; }

  void cancel_everything() {
    cancel_.cancel();
    attempts_->cancel_all();
  }

  // Local workers join the journal before anything runs, so `br status` can show them.
  Status join_local_workers() {
    std::vector<JournalRecord> joined;
    for (std::uint32_t i = 0; i < settings_.local_workers; ++i) {
      joined.push_back(JournalRecord{0, "", unix_now_ms(),
                                     rec::WorkerJoined{local_worker_name(i), 1,
                                                       std::string(kInProcessAddress)}});
    }
    if (auto seq = journal_->append(joined); !seq) return seq.error();
    for (auto& r : joined) {
      r.run_id = journal_->run_id();
      (void)state_.apply(r);
    }
    for (const auto& sub : {dir_.logs(), dir_.prompts(), dir_.context()}) {
      std::error_code ec;
      std::filesystem::create_directories(sub, ec);
    }
    return Ok{};
  }

  // An isolated run's branch follows its journal: a resumed run sets it to the journaled head
  // (a coordinator killed after a merge was journaled, before the ref moved, left it behind),
  // and the worktrees of the coordinator before are gone with their half-done attempts.
  // Remote workers get the repository's objects from the object server.
  Status open_workspace() {
    if (!state_.isolated()) return Ok{};
    auto opened = BranchFollower::open(config_.run.workspace, state_.branch());
    if (!opened) return opened.error();
    follower_ = std::move(opened).value();
    if (auto set = follower_->set(state_.head()); !set) {
      return set.error().as(ErrorCategory::infrastructure);
    }
    remove_stale_worktrees(config_.run.workspace, worktrees_dir_);
    auto merger = GitIntegration::open(config_.run.workspace, state_.branch(),
                                       config_.limits.change_max_bytes);
    if (!merger) return merger.error().as(ErrorCategory::infrastructure);
    integration_ = std::move(merger).value();
    if (settings_.listen) {
      // Chunks of half a message leave room for the envelope at any message_max_bytes.
      auto objects =
          ObjectServer::open(config_.run.workspace, config_.limits.message_max_bytes / 2);
      if (!objects) return objects.error().as(ErrorCategory::infrastructure);
      objects_ = std::move(objects).value();
    }
    return Ok{};
  }

  // The journal, scheduler, graph and worker actors, and for br-coordinator the front on its
  // port. The blocking self_ is the listener.
  void start_actors() {
    // With metrics, each append is timed from the request to its durability (group commit
    // included), on the journal's own thread; without, nothing stands in between.
    journal_actor_ =
        metrics_ ? spawn_journal_actor(
                       system_,
                       [journal = journal_.get(), m = metrics_.get()](
                           std::vector<std::string> encoded, std::vector<JournalRecord> records,
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
                 : spawn_journal_actor(system_, *journal_);
    SchedulerConfig scheduler_config;
    scheduler_config.strategy = settings_.strategy;
    scheduler_config.limits.max_tasks = config_.run.batch_max_tasks;
    scheduler_config.limits.max_minutes = config_.run.batch_max_minutes;
    scheduler_ = spawn_scheduler_actor(system_, state_.shared_plan(), graph_, scheduler_config);

    GraphActorConfig graph_config;
    graph_config.retry = RetryPolicy{config_.run.max_attempts, config_.run.backoff_base_ms,
                                     config_.run.backoff_max_ms, config_.run.backoff_jitter};
    graph_config.lease_ms = config_.run.lease_ms;
    graph_config.keep_remote_inflight = options_.serve;
    graph_config.seed = std::random_device{}();
    graph_config.integration = integration_.get();
    // The front is spawned after the graph: a cancel of a remote attempt finds it here.
    graph_config.kill_attempt = [attempts = attempts_, holder = front_holder_](
                                    const BatchId& batch, const std::string& worker) {
      if (is_local_worker_name(worker)) {
        attempts->cancel(batch);
        return;
      }
      const std::lock_guard<std::mutex> lock(holder->mutex);
      // Sent as the front itself: it takes a cancel only from its own process.
      if (holder->front) {
        caf::send_as(holder->front, holder->front, cancel_atom_v, batch.str(), worker);
      }
    };
    graph_config.approve = options_.approve;
    graph_config.max_cost_micro_usd = config_.agent.max_cost_micro_usd;
    // Scoped actors cannot be typed in CAF 0.17, so the listener's interface is the receive
    // loop's handlers, which match ListenerActor.
    listener_ = caf::actor_cast<ListenerActor>(self_);
    graph_actor_ = spawn_graph_actor(system_, state_, graph_, graph_config, journal_actor_,
                                     scheduler_, listener_);

    for (std::uint32_t i = 0; i < settings_.local_workers; ++i) {
      WorkerActorConfig w;
      w.runner = runner_config(config_, VerifyingHost::local,
                               SlotPlace{local_worker_name(i), config_.run.workspace,
                                         dir_.logs(), dir_.prompts()});
      w.runner.run_id = journal_->run_id();
      w.context_dir = dir_.context() + "/" + w.runner.worker;
      if (state_.isolated()) {
        w.runner.worktree_name = "br-" + journal_->run_id().substr(0, 8) + "-" + w.runner.worker;
        w.runner.worktree_dir = worktrees_dir_ + "/" + w.runner.worktree_name;
      }
      w.cancel = &cancel_;
      w.attempts = attempts_;
      workers_.push_back(spawn_worker_actor(system_, w, scheduler_, graph_actor_));
    }
    if (settings_.listen) serve_workers();
  }

  // br-coordinator: the front actor, published on the run's port.
  void serve_workers() {
    raise_open_file_limit();
    FrontConfig front_config;
    front_config.token = config_.network.token;
    front_config.run_id = journal_->run_id();
    front_config.max_message_bytes = config_.limits.message_max_bytes;
    front_config.max_connections = config_.network.max_connections;
    LedgerLimits gate_limits;
    gate_limits.hello_timeout = std::chrono::milliseconds(config_.network.hello_timeout_ms);
    gate_limits.max_pending = config_.network.max_pending;
    // Its lines come from its own thread; the listener prints notes in order with the rest.
    gate_ = std::make_shared<ConnectionWatch>(
        gate_limits, [listener = listener_](const std::string& line) {
          caf::anon_send(listener, note_atom_v, line);
        });
    front_config.gate = gate_;
    front_config.objects = std::move(objects_);
    front_ = spawn_front_actor(system_, scheduler_, graph_actor_, listener_,
                               std::move(front_config));
    {
      const std::lock_guard<std::mutex> lock(front_holder_->mutex);
      front_holder_->front = front_;
    }
    const Endpoint& at = *settings_.listen;
    auto port = settings_.tls
                    ? caf::openssl::publish(front_, at.port, at.host.c_str(), true)
                    : system_.middleman().publish(front_, at.port, at.host.c_str(), true);
    if (!port) {
      // Checked before the journal (check_can_listen); another program took it since.
      self_->send(graph_actor_, stop_atom_v, std::string("cannot listen"));
      fmt::print(stderr,
                 "br-coordinator: cannot listen on {}: {}; check that no other program holds "
                 "port {} (ss -ltnp shows who does) and that {} is an address of this host "
                 "([network] listen or --listen)\n",
                 at.str(), network_error_words(port.error()), at.port, at.host);
      broken_ = true;
      return;
    }
    gate_->watch(*port);
    fmt::print("listening on {}{}\n", Endpoint{at.host, *port}.str(),
               settings_.tls ? " (TLS)" : "");
    std::fflush(stdout);
  }

  // Until the graph says the run is over: progress shown, br status's file and the metrics
  // kept current, and what the user asks (Ctrl-C, quit, br stop, br cancel) passed on.
  void serve_until_over() {
    live_status_.emplace(dir_, kLiveStatusEveryMs);
    live_status_->update(view_->state(), journal_->last_seq(), unix_now_ms(), true);
    if (metrics_) {
      tally_.emplace(view_->state());
      metrics_->set(tally_->sample(view_->state()));
    }
    if (auto owned = own_control(dir_); !owned) {
      fmt::print(stderr, "br: {}\n", owned.error().str());
    }
    // A request left before this run began (by a br stop that raced the last run's end) is
    // not for it.
    (void)take_stop_request(dir_);
    (void)take_cancel_requests(dir_);
    bool over = false;
    std::int64_t last_draw_ms = 0;
    std::int64_t last_metrics_ms = 0;
    while (!over) {
      self_->receive(
          [&](progress_atom, const EncodedRecords& encoded) { show(encoded); },
          [&](note_atom, const std::string& text) {
            if (live()) block_.clear();
            fmt::print(stderr, "br: {}\n", text);
          },
          [&](approve_atom, const Encoded<Batch>& bytes) -> std::string {
            auto batch = bytes.decode();
            if (!batch || quit_asked_) return "quit";
            std::string answer = ask_before(*batch, config_.context.token_budget, dir_);
            quit_asked_ = answer == "quit";
            return answer;
          },
          [&](run_over_atom, int status) {
            over = true;
            broken_ = broken_ || status == kRunBroken;
            own_files_failed_ = status == kRunStoppedByInfrastructure;
            final_status_ = broken_ || own_files_failed_ ? RunStatus::stopped
                                                         : static_cast<RunStatus>(status);
          },
          caf::after(std::chrono::milliseconds(kRedrawEveryMs)) >> [] {});
      // After every message, not in the timeout alone: on a busy run messages never stop
      // arriving and the timeout never fires (an interrupt used to wait for the run's end).
      const std::int64_t now = unix_now_ms();
      take_requests(now);
      if (live() && !over && now - last_draw_ms >= kRedrawEveryMs) {
        block_.draw(view_->live_block(now, terminal_width()));
        last_draw_ms = now;
      }
      live_status_->update(view_->state(), journal_->last_seq(), now);
      if (tally_ && now - last_metrics_ms >= kLiveStatusEveryMs) {
        last_metrics_ms = now;
        metrics_->set(tally_->sample(view_->state()));
      }
    }
  }

  // Records the graph journaled: the branch follows them, the view applies them, and
  // without the live view or --quiet their lines are printed.
  void show(const EncodedRecords& encoded) {
    std::vector<JournalRecord> records;
    for (const auto& bytes : encoded) {
      if (auto r = bytes.decode(journal_decode_limits())) {
        if (const auto* stopped = std::get_if<rec::RunStopped>(&r->body)) {
          stopped_reason_ = stopped->reason;
        }
        records.push_back(std::move(r).value());
      }
    }
    if (follower_) {
      if (auto moved = follower_->follow(records); !moved) {
        fmt::print(stderr, "br: branch {}: {}\n", follower_->branch(), moved.error().str());
      }
    }
    const auto lines = view_->apply(records);
    if (tally_) {
      for (const double wait : tally_->add(records, view_->state())) {
        metrics_->observe_dispatch(wait);
      }
    }
    if (live() || quiet()) return;
    for (const auto& line : lines) fmt::print("{}\n", line);
    std::fflush(stdout);
  }

  // Ctrl-C, "quit" at the prompt and br stop stop the run; br cancel's tasks go to the graph.
  void take_requests(std::int64_t now) {
    if (stop_sent_) return;
    std::string stop_reason;
    if (g_interrupts.load() > 0) stop_reason = "interrupted (Ctrl-C)";
    if (quit_asked_) stop_reason = "quit at br run's prompt";
    if (stop_reason.empty() && now - last_control_ms_ >= kControlEveryMs) {
      last_control_ms_ = now;
      if (auto who = take_stop_request(dir_)) stop_reason = "stopped by " + *who;
      for (auto& request : take_cancel_requests(dir_)) {
        self_->send(graph_actor_, cancel_atom_v, request.tasks, "cancelled by " + request.who);
      }
    }
    if (stop_reason.empty()) return;
    stop_sent_ = true;
    // Stop first, then kill the agents: results of the killed attempts then reach a graph
    // that is stopping and ignores them, instead of being journaled as failed attempts that
    // count against max_attempts. Those tasks resume later.
    self_->send(graph_actor_, stop_atom_v, stop_reason);
    cancel_everything();
    if (live()) block_.clear();
    fmt::print(stderr, "br: {}; stopping (state is journaled, `br resume` continues)\n",
               stop_reason);
  }

  void shut_down() {
    if (tally_) {
      MetricsSample last = tally_->sample(view_->state());
      last.run_over = true;
      last.workers_connected = 0;  // they go with the run (journaled as lost just below)
      metrics_->set(last);
    }
    if (live_status_) live_status_->remove();
    if (live()) block_.clear();
    cancel_everything();
    if (front_) {
      // Remote workers leave on run_over. Waiting for their connections to close (briefly:
      // one that is cut off is not waited for) lets CAF tear each one down before the actor
      // system goes; CAF 0.17 otherwise keeps every connected node's spawn-server helper, and
      // what it references, past the end (LeakSanitizer reported it in integration.netns).
      self_->request(front_, std::chrono::seconds(3), drain_atom_v)
          .receive([](ack_atom) {}, [](const caf::error&) {});
    }
    for (auto& w : workers_) self_->send_exit(w, caf::exit_reason::user_shutdown);
    self_->send_exit(scheduler_, caf::exit_reason::user_shutdown);
    self_->send_exit(journal_actor_, caf::exit_reason::user_shutdown);
    if (front_) self_->send_exit(front_, caf::exit_reason::user_shutdown);
    {
      const std::lock_guard<std::mutex> lock(front_holder_->mutex);
      front_holder_->front = nullptr;  // the graph's config holds it: no cycle past the run
    }
    if (gate_) {
      // Its thread sends notes to the listener, which takes no more: the last line is ours.
      if (auto line = gate_->stop()) fmt::print(stderr, "br: {}\n", *line);
    }
  }

  // Workers go with the run: say so in the journal, so `br status` does not show them as
  // connected to a run that is over.
  void journal_workers_gone() {
    if (broken_) return;
    std::vector<JournalRecord> gone;
    for (const auto& [name, worker] : view_->state().workers()) {
      if (worker.alive) {
        gone.push_back(JournalRecord{0, "", unix_now_ms(), rec::WorkerLost{name, "the run ended"}});
      }
    }
    if (!gone.empty()) (void)journal_->append(std::move(gone));
  }

  // The summary, what to run next, and the exit code.
  int finish() {
    // The summary stays on screen, --quiet or not: it is all --quiet prints.
    fmt::print("{}", view_->summary(unix_now_ms(), reader_command(dir_)));
    if (state_.isolated() && !broken_ && final_status_ != RunStatus::stopped) {
      // Over for good: no attempt is left to need a worktree (a stopped run keeps them for
      // nothing either, but its resume clears them).
      remove_stale_worktrees(config_.run.workspace, worktrees_dir_);
    }
    fmt::print("{}", result_summary(view_->state()));
    if (!broken_) {
      fmt::print("report: {} report   (timeline, failures, each task's commit; writes "
                 "{}/report.html)\n",
                 reader_command(dir_), dir_.root);
    }
    if (final_status_ == RunStatus::stopped) {
      fmt::print("resume with: {}\n", next_command(dir_, options_, "resume"));
    } else if (final_status_ == RunStatus::failed && !broken_) {
      fmt::print("once the cause is fixed, run what failed again with: {}\n",
                 retry_hint(dir_, options_));
    }
    if (metrics_ && config_.metrics.linger_ms > 0) {
      std::fflush(stdout);  // the summary is out before the wait, not after it
      linger(config_.metrics.linger_ms);
    }
    if (!broken_ && own_files_failed_) {
      // Not a task's failure: every attempt would have met it, so none was counted.
      fmt::print(stderr, "br: {}; the run is stopped, no task failed: {} and run `{}`\n",
                 stopped_reason_, own_files_remedy(stopped_reason_),
                 next_command(dir_, options_, "resume"));
      return exit_code_of(ErrorCategory::infrastructure);
    }
    if (!broken_ && final_status_ == RunStatus::stopped) {
      if (auto why = run_budget_reached(view_->state().usage(), config_.agent.max_cost_micro_usd);
          !why.empty()) {
        fmt::print(stderr,
                   "br: {}; stopped. Raise [agent] max_cost_usd and run `{}` to carry on\n",
                   why, next_command(dir_, options_, "resume"));
        return exit_code_of(ErrorCategory::budget_reached);
      }
    }
    return broken_ ? exit_code_of(ErrorCategory::infrastructure) : exit_code_for(final_status_);
  }

  // The front actor, for the graph's kill_attempt, which is made before the front exists.
  struct FrontHolder {
    std::mutex mutex;
    FrontActor front;
  };

  const RunOptions& options_;
  const RunSettings& settings_;
  const Config& config_;
  const StateDir& dir_;
  std::unique_ptr<Metrics> metrics_;
  RunState state_;
  std::shared_ptr<const DependencyGraph> graph_;
  std::unique_ptr<Journal> journal_;
  CancelSource cancel_;
  // Each local attempt's own cancel source (br cancel kills one), all cancelled with cancel_.
  std::shared_ptr<AttemptCancels> attempts_ = std::make_shared<AttemptCancels>();
  std::unique_ptr<GitIntegration> integration_;
  std::optional<BranchFollower> follower_;
  std::shared_ptr<ObjectServer> objects_;
  const std::string worktrees_dir_;
  std::optional<ProgressView> view_;
  std::optional<LiveStatusWriter> live_status_;
  std::optional<MetricsTally> tally_;
  LiveBlock block_;

  caf::actor_system_config caf_config_;
  caf::actor_system system_;
  caf::scoped_actor self_;
  ListenerActor listener_;
  JournalActor journal_actor_;
  SchedulerActor scheduler_;
  GraphActor graph_actor_;
  std::vector<WorkerActor> workers_;
  std::shared_ptr<FrontHolder> front_holder_ = std::make_shared<FrontHolder>();
  FrontActor front_;
  std::shared_ptr<ConnectionWatch> gate_;

  RunStatus final_status_ = RunStatus::stopped;
  bool broken_ = false;  // the journal failed: the run stopped where it was durable
  // br could not write its own files for an attempt: stopped, resumable, and why.
  bool own_files_failed_ = false;
  std::string stopped_reason_;
  bool stop_sent_ = false;
  bool quit_asked_ = false;  // answered "quit" at the interactive prompt
  std::int64_t last_control_ms_ = 0;
};

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
  if (prepared->over) {
    const RunState& state = prepared->state;
    ProgressView view(state, nullptr, 1, unix_now_ms());
    fmt::print("this run is already over; nothing to do.\n{}",
               view.summary(unix_now_ms(), reader_command(dir)));
    if (state.status() != RunStatus::succeeded) {
      fmt::print("run what did not finish again with: {}\n", retry_hint(dir, options));
    }
    return exit_code_for(state.status());
  }
  return RunLifecycle(options, *settings, std::move(prepared).value(), std::move(metrics)).run();
}

}  // namespace br
