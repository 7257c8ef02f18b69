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
#include "coordinator/exit_codes.hpp"
#include "coordinator/front_actor.hpp"
#include "coordinator/worker_admission.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/metrics.hpp"
#include "coordinator/metrics_tally.hpp"
#include "coordinator/run_config.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_workspace.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/progress_view.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/agent_route.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"
#include "storage/journal_actor.hpp"

namespace br {
namespace {

// The command that carries on with this state dir (`verb`: resume, retry --failed), to be
// run verbatim from where this one was: with its --config.
std::string next_command(const StateDir& dir, const RunOptions& options, const char* verb) {
  std::string command = "br --state-dir " + shell_word(dir.root) + " " + verb;
  if (!options.config_path.empty()) command += " --config " + shell_word(options.config_path);
  return command;
}

// Interactive mode: shows a batch's prompt (as its worker will build it, from the finished
// work the batch carries) and asks what to do. Answers "run", "run:" and the edited prompt,
// "skip" or "quit"; the end of input, or Ctrl-C, is "quit".
std::string ask_before(const Batch& batch, std::size_t token_budget, const StateDir& dir) {
  PromptOptions prompt_options;
  prompt_options.token_budget = token_budget;
  auto prompt = build_prompt(batch, batch.completed, prompt_options);
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
  std::string metrics_token;  // asked of a scrape when set ([network] token, BR_TOKEN)
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
  const bool metrics_on = !s.config.metrics.listen.empty();
  if (options.serve || metrics_on) {
    if (const char* token = std::getenv("BR_TOKEN"); token && *token) {
      s.config.network.token = token;
      if (s.config.network.token.size() < kMinTokenLength) {
        return Error::of("BR_TOKEN: a token needs at least " + std::to_string(kMinTokenLength) +
                         " characters (make one with `openssl rand -hex 16`)");
      }
    }
  }
  if (metrics_on) {
    // The worker port's rule: beyond loopback only with a token, and a token once set is
    // asked for on loopback too.
    const auto& listen = s.config.metrics.listen;
    std::string host = listen.substr(0, listen.rfind(':'));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (!is_loopback(host) && s.config.network.token.empty()) {
      return Error::of("[metrics] listen " + listen + ": serving /metrics beyond loopback needs "
                       "a token; set BR_TOKEN or [network] token, and give Prometheus the same "
                       "(basic_auth password)");
    }
    s.metrics_token = s.config.network.token;
  }
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
          "program to run (an agent that needs no network: command = [\"{}\"])",
          where, what, argv->front(),
          argv->front().find('/') == std::string::npos ? " (not on PATH)" : " or not executable",
          what, "deploy/demo-agent"));
    }
  }
  if (s.config.run.lease_ms == 0) {
    s.config.run.lease_ms =
        longest_timeout_ms(s.config.agent) + s.config.verify.timeout_ms * 2 + s.config.verify.file_wait_ms +
        60'000;
  }
  return s;
}

// Keeps the process, and so /metrics, up for `ms` after the run, so that Prometheus scrapes
// its final numbers; SIGINT or SIGTERM ends the wait, or skips it when one stopped the run.
void linger(std::int64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until && g_interrupts.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
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
// `base`, for an isolated run, is where it starts; its branch is named after the run id.
Result<std::unique_ptr<Journal>> create_run(const StateDir& dir, const CheckedPlan& fresh,
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
  rec::PlanCreated created{fresh.plan, fresh.spec_path, fresh.spec_hash};
  if (base) {
    created.branch = branch_name(branch_template, create.run_id);
    created.base_commit = base->base;
    created.repo = std::filesystem::absolute(base->repo).lexically_normal().string();
    // Before the journal exists, so a branch that cannot be made leaves no run behind.
    if (auto made = create_run_branch(base->repo, created.branch, base->base); !made) {
      return undo(made.error());
    }
  }
  JournalRecord plan{0, "", unix_now_ms(), std::move(created)};
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

  // Before the journal, which it outlives: the journal's commit thread observes append times.
  std::unique_ptr<Metrics> metrics;
  if (!config.metrics.listen.empty()) {
    auto served = Metrics::serve(config.metrics.listen, settings->metrics_token);
    if (!served) return fail(kExitBadInput, served.error().str());
    metrics = std::move(served).value();
    const auto& listen = config.metrics.listen;
    fmt::print("metrics on http://{}:{}/metrics\n", listen.substr(0, listen.rfind(':')),
               metrics->port());
    std::fflush(stdout);
  }

  // Declared before the actor system, so they outlive its actors: the journal actor writes
  // to the journal, and worker actors still in an agent run hold the cancel source until the
  // system's destructor has joined them (found by AddressSanitizer after a Ctrl-C).
  std::unique_ptr<Journal> journal;
  CancelSource cancel;
  // Each local attempt's own cancel source (br cancel kills one), all cancelled with `cancel`.
  const auto attempts = std::make_shared<AttemptCancels>();
  const auto cancel_everything = [&] {
    cancel.cancel();
    attempts->cancel_all();
  };
  caf::actor_system_config caf_config;
  add_br_types(caf_config);
  caf_config.set("scheduler.max-threads", 2);
  // br's actors mostly wait for one another; the sharing scheduler wakes a waiting thread at
  // once, where work stealing polls and sleeps (dispatch round trip p50 310 → 175 µs).
  caf_config.set("scheduler.policy", caf::atom("sharing"));
  if (!settings->listen_host.empty()) {
    caf_config.load<caf::io::middleman>();
    // Messages from workers are deserialized on the middleman's own thread rather than handed
    // to a BASP worker thread first: one thread hop less per message (dispatch round trip p50
    // 214 → 185 µs on 2 vCPUs, BENCHMARKS.md). Pool threads only pay off with cores to spare.
    caf_config.set("middleman.workers", 0);
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
  // A damaged journal is refused before anything is planned or made (the workspace's
  // repository included), not taken for no journal and replaced.
  if (auto intact = check_not_damaged(dir.journal()); !intact) {
    return fail(kExitInternal, intact.error().str());
  }
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
    std::optional<RunBase> base;
    if (config.run.isolation == "worktree") {
      auto opened = open_run_base(config, dir.root);
      if (!opened) return fail(kExitBadInput, opened.error().str());
      base = std::move(opened).value();
      if (options.output != OutputMode::quiet) {
        for (const auto& note : base->notes) fmt::print("br: {}\n", note);
      }
    }
    auto created = create_run(dir, *fresh, journal_options, base, config.run.branch, state);
    if (!created) return fail(kExitInternal, created.error().str());
    journal = std::move(created).value();
  } else {
    return fail(kExitBadInput, fmt::format("{}: no run to resume here; start one with "
                                           "`br run --auto SPEC`",
                                           dir.root));
  }

  // The next br resume or br retry finds this config without a flag.
  remember_config(dir, options.config_path);

  if (options.retry) {
    // Journaled as its own record before anything runs: the tasks start over from here even
    // if this process dies at once. Then the run goes on as br resume would.
    auto plan_graph = graph_of(state.plan());
    if (!plan_graph) return fail(kExitInternal, plan_graph.error().str());
    auto reopened = RunTracker(**plan_graph, RetryPolicy{}).reopen(state, *options.retry);
    if (!reopened) return fail(kExitBadInput, "br retry: " + reopened.error().str());
    if (reopened->tasks.empty()) {
      fmt::print("br retry: nothing to retry: no failed, blocked or cancelled task matched\n");
    } else {
      JournalRecord record{0, "", unix_now_ms(), *reopened};
      auto seq = journal->append({record});
      if (!seq) return fail(kExitInternal, seq.error().str());
      record.seq = *seq;
      record.run_id = journal->run_id();
      if (auto applied = state.apply(record); !applied) {
        return fail(kExitInternal, applied.error().str());
      }
      if (options.output != OutputMode::quiet) {
        fmt::print("br: retrying {} task(s), each with a fresh attempt budget\n",
                   reopened->tasks.size());
      }
    }
  }

  if (state.status() == RunStatus::succeeded || state.status() == RunStatus::failed ||
      state.status() == RunStatus::cancelled) {
    ProgressView view(state, nullptr, 1, unix_now_ms());
    fmt::print("this run is already over; nothing to do.\n{}", view.summary(unix_now_ms()));
    if (state.status() != RunStatus::succeeded) {
      fmt::print("run what did not finish again with: {}\n", retry_hint(dir, options));
    }
    return exit_code_for(state.status());
  }

  auto graph = fresh ? Result<std::shared_ptr<const DependencyGraph>>(fresh->graph)
                     : graph_of(state.plan());
  if (!graph) return fail(kExitInternal, graph.error().str());

  // Local workers join the journal before anything runs, so `br status` can show them.
  std::vector<JournalRecord> joined;
  for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
    joined.push_back(JournalRecord{0, "", unix_now_ms(),
                                   rec::WorkerJoined{local_worker_name(i), 1,
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

  // An isolated run's branch follows its journal: a resumed run sets it to the journaled head
  // (a coordinator killed after a merge was journaled, before the ref moved, left it behind),
  // and the worktrees of the coordinator before are gone with their half-done attempts.
  std::unique_ptr<GitIntegration> integration;
  std::optional<BranchFollower> follower;
  const std::string worktrees_dir = dir.root + "/worktrees";
  if (state.isolated()) {
    auto opened = BranchFollower::open(config.run.workspace, state.branch());
    if (!opened) return fail(kExitBadInput, opened.error().str());
    follower = std::move(opened).value();
    if (auto set = follower->set(state.head()); !set) return fail(kExitInternal, set.error().str());
    remove_stale_worktrees(config.run.workspace, worktrees_dir);
    auto merger = GitIntegration::open(config.run.workspace, state.branch(),
                                       config.limits.change_max_bytes);
    if (!merger) return fail(kExitInternal, merger.error().str());
    integration = std::move(merger).value();
  }

  ProgressView view(state, *graph, std::max<std::uint32_t>(1, settings->local_workers),
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
    auto scheduler = spawn_scheduler_actor(system, state.shared_plan(), *graph, scheduler_config);

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
    auto graph_actor = spawn_graph_actor(system, state, *graph, graph_config, journal_actor,
                                         scheduler, listener);

    std::vector<WorkerActor> workers;
    for (std::uint32_t i = 0; i < settings->local_workers; ++i) {
      WorkerActorConfig w;
      w.runner.worker = local_worker_name(i);
      w.runner.run_id = journal->run_id();
      w.runner.agent = config.agent;
      w.runner.verify = config.verify;
      w.runner.allow_run_criteria =
          allows_run_criteria(config.verify, VerifyingHost::local);
      w.runner.workspace = config.run.workspace;
      w.runner.logs_dir = dir.logs();
      w.runner.prompts_dir = dir.prompts();
      w.runner.keep_succeeded_prompt = config.run.keep_succeeded == "all";
      w.runner.keep_succeeded_log = config.run.keep_succeeded != "none";
      w.runner.token_budget = config.context.token_budget;
      w.runner.log_max_bytes = config.limits.agent_output_max_bytes;
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
    if (!settings->listen_host.empty()) {
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
        if (!objects) return fail(kExitInternal, objects.error().str());
        front_config.objects = std::move(objects).value();
      }
      front = spawn_front_actor(system, scheduler, graph_actor, listener, std::move(front_config));
      {
        const std::lock_guard<std::mutex> lock(front_holder->mutex);
        front_holder->front = front;
      }
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
        gate->watch(*port);
        fmt::print("listening on {}:{}{}\n", settings->listen_host, *port,
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
  fmt::print("{}", view.summary(unix_now_ms()));
  if (state.isolated() && !broken && final_status != RunStatus::stopped) {
    // Over for good: no attempt is left to need a worktree (a stopped run keeps them for
    // nothing either, but its resume clears them).
    remove_stale_worktrees(config.run.workspace, worktrees_dir);
  }
  fmt::print("{}", result_summary(view.state()));
  if (!broken) {
    fmt::print("report: br --state-dir {} report   (timeline, failures, each task's commit; "
               "writes {}/report.html)\n",
               shell_word(dir.root), dir.root);
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
    return kExitInternal;
  }
  if (!broken && final_status == RunStatus::stopped) {
    if (auto why = run_budget_reached(view.state().usage(), config.agent.max_cost_micro_usd);
        !why.empty()) {
      fmt::print(stderr,
                 "br: {}; stopped. Raise [agent] max_cost_usd and `br resume` to carry on\n",
                 why);
      return kExitBudget;
    }
  }
  return broken ? kExitInternal : exit_code_for(final_status);
}

}  // namespace br
