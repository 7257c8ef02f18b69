// br: the command-line front end. Parses arguments (CLI11) and hands each subcommand to the
// code that does the work; exit codes are in exit_codes.hpp.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "actors/graph/run_tracker.hpp"
#include "actors/worker/agent_runner.hpp"
#include "coordinator/exit_codes.hpp"
#include "coordinator/graph_view.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/progress_view.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_command.hpp"
#include "coordinator/run_config.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_workspace.hpp"
#include "coordinator/state_dir.hpp"
#include "coordinator/report_view.hpp"
#include "coordinator/task_view.hpp"
#include "coordinator/starter_files.hpp"
#include "coordinator/state_views.hpp"
#include "protocol/log_name.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"

namespace {

using namespace br;

// Opens the journal in the state dir without taking its lock, so it works during a run.
std::unique_ptr<Journal> open_run(const StateDir& dir, int& exit_code) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(dir.journal(), options);
  if (!journal) {
    fmt::print(stderr, "{}\n", journal.error().str());
    // No journal at all is a usage error; one that cannot be read is not.
    exit_code = std::filesystem::exists(dir.journal()) ? kExitInternal : kExitBadInput;
    return nullptr;
  }
  return std::move(journal).value();
}

std::optional<RunState> replay_run(const Journal& journal, int& exit_code) {
  auto state = journal.replay();
  if (!state) {
    fmt::print(stderr, "{}\n", state.error().str());
    exit_code = kExitInternal;
    return std::nullopt;
  }
  return std::move(state).value();
}

std::optional<RunState> load_run(const StateDir& dir, int& exit_code) {
  auto journal = open_run(dir, exit_code);
  if (!journal) return std::nullopt;
  return replay_run(*journal, exit_code);
}

// Every record still in the journal, oldest first (all of them unless it was compacted).
std::optional<std::vector<JournalRecord>> read_records(const Journal& journal, int& exit_code) {
  std::vector<JournalRecord> records;
  auto scanned = journal.scan(1, [&](const JournalRecord& r) {
    records.push_back(r);
    return true;
  });
  if (!scanned) {
    fmt::print(stderr, "{}\n", scanned.error().str());
    exit_code = kExitInternal;
    return std::nullopt;
  }
  return records;
}

void print_json(const nlohmann::json& j) { fmt::print("{}\n", j.dump(2)); }

int fail_with(int code, const std::string& message) {
  fmt::print(stderr, "{}\n", message);
  return code;
}

// Flushes a streamed document; a stdout that cannot take it (a full disk) is exit 3.
int finish_output(OutputBuffer& out) {
  out.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    return fail_with(kExitInternal, "cannot write to stdout");
  }
  return kExitOk;
}

// `br plan`: plans as `br run` would with the same config (plan_spec under plan_settings),
// and prints the plan as it goes.
int plan_command(const std::string& spec, const std::string& config_path,
                 const std::string& strategy, bool json) {
  Config config;
  if (!config_path.empty()) {
    auto loaded = load_config(config_path);
    if (!loaded) return fail_with(kExitBadInput, loaded.error().str());
    config = std::move(loaded).value();
  }
  auto settings = plan_settings(config, strategy);
  if (!settings) return fail_with(kExitBadInput, settings.error().str());
  auto checked = plan_spec_file(spec, *settings);
  if (!checked) return fail_with(kExitBadInput, checked.error().str());
  OutputBuffer out(stdout);
  if (json) {
    JsonWriter writer(out);
    write_plan_json(*checked, writer);
    out.push('\n');
  } else {
    write_plan_text(*checked, out);
  }
  // The process ends next: the plan's millions of strings go with it, where freeing them one
  // by one took 4 % of planning a 100k-feature spec. (Held by a static: not a leak to LSan.)
  static const CheckedPlan* const kept = new CheckedPlan(std::move(checked).value());
  (void)kept;
  return finish_output(out);
}

// Copies what `fd` holds from its current offset to stdout; returns what it copied.
std::string copy_out(int fd) {
  std::string copied;
  char buf[64 * 1024];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::fwrite(buf, 1, static_cast<std::size_t>(n), stdout);
    copied.append(buf, static_cast<std::size_t>(n));
  }
  std::fflush(stdout);
  return copied;
}

// `br logs TASK [--attempt N] [--follow]`: the attempt's log as it is, or, with --follow, as it
// grows, until the worker's end line, the log's pruning (the attempt passed), or the run is no
// longer going on (nothing holds its journal).
int logs_command(const StateDir& dir, const std::string& id,
                 const std::optional<AttemptSpan>& attempt, std::optional<std::uint32_t> number,
                 bool follow) {
  if (!attempt) {
    return fail_with(kExitBadInput,
                     number ? fmt::format("br: {} has no attempt {}", id, *number)
                            : "br: " + id + " has not been dispatched yet (br task show " + id +
                                  " says what it waits for)");
  }
  const std::string path =
      dir.logs() + "/" + batch_log_name(BatchId(attempt->batch), attempt->attempt);
  const bool running = attempt->outcome == "unfinished";
  const auto live = [&] { return journal_lock_holder(dir.journal()).has_value(); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && follow && running && attempt->worker.find('/') == std::string::npos) {
    // Dispatched, its agent not yet started: the log appears when it does.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (fd < 0 && live() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    }
  }
  if (fd < 0) {
    return fail_with(kExitBadInput, fmt::format("br: no log of {} attempt {} here: {}", id,
                                                attempt->attempt,
                                                attempt_files(dir, *attempt).why_no_log));
  }
  std::string seen = copy_out(fd);
  if (follow && running) {
    auto last_check = std::chrono::steady_clock::now();
    while (seen.find(kAttemptEndMarker) == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::string more = copy_out(fd);
      // Only the end of what was seen can hold the start of a marker cut in two.
      if (seen.size() > 4096) seen.erase(0, seen.size() - 256);
      seen += more;
      struct stat st {};
      if (::fstat(fd, &st) == 0 && st.st_nlink == 0) {
        seen += copy_out(fd);
        break;  // pruned: the attempt passed
      }
      if (std::chrono::steady_clock::now() - last_check > std::chrono::seconds(1)) {
        last_check = std::chrono::steady_clock::now();
        if (!live()) {
          copy_out(fd);
          fmt::print(stderr, "br: the run is not going on (nothing holds its journal); that is "
                             "the log so far\n");
          break;
        }
      }
    }
  }
  ::close(fd);
  return kExitOk;
}

// `br stop`: asks the live run to stop and waits until it has (its journal is let go).
int stop_command(const StateDir& dir, std::uint32_t timeout_s) {
  const auto holder = journal_lock_holder(dir.journal());
  if (!holder) {
    fmt::print("br stop: no run is going on in {} (br --state-dir {} status says where it "
               "stands)\n", dir.root, shell_word(dir.root));
    return kExitOk;
  }
  if (auto asked = request_stop(dir, fmt::format("br stop, pid {}", ::getpid())); !asked) {
    return fail_with(kExitInternal, "br stop: " + asked.error().str());
  }
  fmt::print("br stop: asked the run (pid {}) to stop\n", *holder);
  std::fflush(stdout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (journal_lock_holder(dir.journal())) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail_with(kExitInternal,
                       fmt::format("br stop: the run (pid {}) has not stopped after {} s; "
                                   "br status shows what it is doing",
                                   *holder, timeout_s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fmt::print("br stop: stopped; continue it with: br --state-dir {} resume\n",
             shell_word(dir.root));
  return kExitOk;
}

// Exit 2 with why when a name is not a task of the run or its task is already over; else 0.
int refuse_uncancellable(const RunState& state, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    const TaskState* t = state.find(TaskId(name));
    if (t == nullptr) {
      return fail_with(kExitBadInput,
                       "br cancel: this run has no task '" + name + "' (br task list shows them)");
    }
    if (is_terminal(t->status)) {
      return fail_with(kExitBadInput, fmt::format("br cancel: {} is already {}", name,
                                                  to_string(t->status)));
    }
  }
  return kExitOk;
}

// `br cancel` of a run that is not going on (stopped, or its coordinator killed): the records
// are written to its journal here, under the journal's lock, so that no run starts meanwhile;
// `br resume` then leaves those tasks out.
int cancel_offline(const StateDir& dir, const std::vector<std::string>& names) {
  JournalOptions options;
  options.create_if_missing = false;
  auto journal = Journal::open(dir.journal(), options);
  if (!journal) {
    return fail_with(std::filesystem::exists(dir.journal()) ? kExitInternal : kExitBadInput,
                     "br cancel: " + journal.error().str());
  }
  auto state = (*journal)->replay();
  if (!state) return fail_with(kExitInternal, "br cancel: " + state.error().str());
  if (const int refused = refuse_uncancellable(*state, names)) return refused;
  const std::vector<TaskId> tasks(names.begin(), names.end());
  auto dag = graph_of(state->plan());
  if (!dag) return fail_with(kExitInternal, "br cancel: " + dag.error().str());
  const RunTracker tracker(**dag, RetryPolicy{});
  const std::int64_t now = unix_now_ms();
  auto cancellation = tracker.cancel_tasks(*state, tasks, "cancelled by br cancel", now);
  std::size_t blocked = 0;
  std::vector<JournalRecord> records;
  for (auto& body : cancellation.records) {
    blocked += std::holds_alternative<rec::TaskBlocked>(body) ? 1 : 0;
    records.push_back(JournalRecord{0, state->run_id(), now, std::move(body)});
  }
  if (auto appended = (*journal)->append(std::move(records)); !appended) {
    return fail_with(kExitInternal, "br cancel: " + appended.error().str());
  }
  for (const auto& name : names) fmt::print("br cancel: {} cancelled\n", name);
  fmt::print("br cancel: {} task(s) that depend on them blocked (br retry reopens them); the "
             "run is not going on: br --state-dir {} resume runs the rest\n",
             blocked, shell_word(dir.root));
  return kExitOk;
}

// `br cancel TASK…`: checks the names against the run, asks the live run to cancel them, and
// waits until its journal shows them cancelled; a run not going on is changed here.
int cancel_command(const StateDir& dir, const std::vector<std::string>& names,
                   std::uint32_t timeout_s) {
  if (!journal_lock_holder(dir.journal())) {
    if (!std::filesystem::exists(dir.journal())) {
      return fail_with(kExitBadInput,
                       fmt::format("br cancel: no run in {} (br --state-dir DIR names another)",
                                   dir.root));
    }
    return cancel_offline(dir, names);
  }
  int code = kExitOk;
  auto run = load_run(dir, code);
  if (!run) return code;
  if (const int refused = refuse_uncancellable(*run, names)) return refused;
  const std::set<std::string> tasks(names.begin(), names.end());
  if (auto asked = request_cancel(dir, tasks, fmt::format("br cancel, pid {}", ::getpid()));
      !asked) {
    return fail_with(kExitInternal, "br cancel: " + asked.error().str());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now_state = load_run(dir, code);
    if (!now_state) return code;
    std::size_t blocked = 0;
    bool all_done = true;
    for (const auto& name : tasks) {
      const TaskState* t = now_state->find(TaskId(name));
      all_done = all_done && t != nullptr && is_terminal(t->status);
    }
    if (all_done) {
      for (const auto& t : now_state->tasks()) {
        if (t.status == TaskStatus::blocked &&
            std::any_of(tasks.begin(), tasks.end(), [&](const std::string& name) {
              return t.reason == "dependency '" + name + "' was cancelled";
            })) {
          ++blocked;
        }
      }
      for (const auto& name : tasks) {
        fmt::print("br cancel: {} {}\n", name, to_string(now_state->find(TaskId(name))->status));
      }
      fmt::print("br cancel: {} task(s) that depend on them blocked (br retry reopens them)\n",
                 blocked);
      return kExitOk;
    }
    if (!journal_lock_holder(dir.journal())) {
      return fail_with(kExitInternal, "br cancel: the run ended before it cancelled them");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail_with(kExitInternal,
                       fmt::format("br cancel: not cancelled after {} s; br status shows what the "
                                   "run is doing", timeout_s));
    }
  }
}

// Writes `text` to `path`; false (after saying why) when it cannot.
bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) {
    fmt::print(stderr, "{}: cannot write it\n", path);
    return false;
  }
  fmt::print("wrote {}\n", path);
  return true;
}

// Renders DOT text to an SVG file with Graphviz's `dot`, run without a shell.
int write_svg(const std::string& dot_text, const std::string& svg_path) {
  namespace fs = std::filesystem;
  const fs::path scratch = fs::temp_directory_path() / ("br-graph-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(scratch, ec);
  std::ofstream(scratch / "graph.dot") << dot_text;
  ProcessSpec spec;
  spec.argv = {"dot", "-Tsvg", "-o", fs::absolute(svg_path, ec).string(),
               (scratch / "graph.dot").string()};
  spec.cwd = scratch;
  spec.env = clean_environment({});
  spec.log_file = scratch / "dot.log";
  spec.timeout_ms = 120000;
  auto outcome = run_process(spec);
  std::string log;
  {
    std::ifstream in(spec.log_file);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("[br] ", 0) != 0) log += line + "\n";
    }
  }
  fs::remove_all(scratch, ec);
  if (!outcome) {
    return fail_with(kExitBadInput,
                     "cannot draw an SVG: Graphviz's `dot` is not installed (apt-get install "
                     "graphviz), or use --dot and render it elsewhere");
  }
  if (!outcome->success()) {
    return fail_with(kExitInternal, "dot failed (" + outcome->describe() + "): " + log);
  }
  fmt::print("wrote {}\n", svg_path);
  return kExitOk;
}

// Levenshtein distance, for suggesting the command a typo meant.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The first word that should name a subcommand, when it names none: what to say about it.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--state-dir") {
      ++i;  // its value
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    std::string best;
    std::size_t best_distance = 3;  // farther than 2 edits is no suggestion
    std::string names;
    for (const CLI::App* sub : app.get_subcommands({})) {
      const std::string& name = sub->get_name();
      if (name == arg) return {};
      names += (names.empty() ? "" : ", ") + name;
      if (const std::size_t d = edit_distance(arg, name); d < best_distance) {
        best_distance = d;
        best = name;
      }
    }
    std::string message = "'" + arg + "' is not a br command";
    if (!best.empty()) message += "; did you mean '" + best + "'?";
    message += " (commands: " + names + "; br --help shows them all)";
    return message;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"br turns a project spec into a finished build by driving coding agents.\n\n"
               "Example:\n  br plan PROJECT_SPEC.md\n  br run --auto PROJECT_SPEC.md --workers 4",
               "br"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "br " BR_VERSION_STRING);
  // Global options work after the subcommand too: `br status --state-dir X`.
  app.fallthrough();
  StateDir state_dir{".br"};
  app.add_option("--state-dir", state_dir.root, "Directory of the run's journal and logs")
      ->capture_default_str();
  std::string color = "auto";
  app.add_option("--color,--colour", color,
                 "Colour the run's output: auto (on a terminal, unless NO_COLOR is set), "
                 "always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();

  bool json = false;
  std::string spec, strategy_name, config_path;
  auto* plan = app.add_subcommand("plan", "Parse and decompose a spec and show the plan");
  plan->footer("Examples:\n  br plan PROJECT_SPEC.md --strategy shortest\n"
               "  br plan PROJECT_SPEC.md --config br.toml --json > plan.json");
  plan->add_option("SPEC", spec, "The project spec (Markdown)")->required();
  std::string plan_strategy;
  plan->add_option("--strategy", plan_strategy,
                   "critical-path, priority or shortest (default: [run] strategy of --config, "
                   "else critical-path)");
  plan->add_option("--config", config_path,
                   "br.toml whose [limits], [run] strategy and batch sizes to plan with, as "
                   "br run does");
  plan->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

  bool auto_mode = false, quiet = false, plain = false;
  std::optional<std::uint32_t> workers;
  auto* run = app.add_subcommand("run", "Run a spec to the end: plan, dispatch, verify, retry");
  run->footer("Examples:\n  br run --auto PROJECT_SPEC.md --workers 4 --config br.toml\n"
              "  br run PROJECT_SPEC.md      # on a terminal: asks before each batch");
  run->add_option("SPEC", spec, "The project spec (Markdown)")->required();
  run->add_flag("--auto", auto_mode,
                "Run every batch without asking (without it, br shows each batch's prompt on a "
                "terminal and asks: run, skip, edit or quit)");
  run->add_option("--workers", workers, "Local worker slots (overrides [run] workers)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--config", config_path, "br.toml with the agent command and settings");
  run->add_option("--strategy", strategy_name,
                  "critical-path, priority or shortest (default: [run] strategy, else critical-path)");
  bool verbose = false;
  auto* run_quiet = run->add_flag("--quiet,-q", quiet, "Print only the final summary");
  run->add_flag("--verbose,-v", verbose, "Also show tasks becoming ready (implies --plain)")
      ->excludes(run_quiet);
  run->add_flag("--plain", plain, "One line per transition even on a terminal");
  bool replan = false;
  run->add_flag("--replan", replan,
                "The spec changed since this state dir's run began: plan again, keeping "
                "finished tasks that still exist");

  auto* resume = app.add_subcommand("resume", "Continue the run in the state dir after a stop");
  resume->footer("Example:\n  br --state-dir .br resume --config br.toml");
  resume->add_option("--config", config_path, "br.toml with the agent command and settings");
  resume->add_option("--workers", workers, "Local worker slots")->check(CLI::Range(1, 1024));
  auto* resume_quiet = resume->add_flag("--quiet,-q", quiet, "Print only the final summary");
  resume->add_flag("--verbose,-v", verbose, "Also show tasks becoming ready (implies --plain)")
      ->excludes(resume_quiet);
  resume->add_flag("--plain", plain, "One line per transition even on a terminal");

  auto* retry = app.add_subcommand(
      "retry", "Run failed, blocked and cancelled tasks of a stopped or finished run again");
  retry->footer("Examples:\n  br retry --failed --config br.toml\n  br retry auth/01-database "
                "--config br.toml\n\nEach reopened task gets a fresh attempt budget; what it "
                "blocked, and any unfinished task it waits on, runs again with it. Finished tasks "
                "stay finished. br retry then runs the reopened tasks to the end, as br resume "
                "does.");
  std::vector<std::string> retry_tasks;
  bool retry_failed = false;
  std::string retry_feature;
  retry->add_option("TASK", retry_tasks, "Task ids to run again");
  retry->add_flag("--failed", retry_failed, "Every failed and cancelled task");
  retry->add_option("--feature", retry_feature, "Every unfinished task of this feature (its id)");
  retry->add_option("--config", config_path, "br.toml with the agent command and settings");
  retry->add_option("--workers", workers, "Local worker slots")->check(CLI::Range(1, 1024));
  auto* retry_quiet = retry->add_flag("--quiet,-q", quiet, "Print only the final summary");
  retry->add_flag("--verbose,-v", verbose, "Also show tasks becoming ready (implies --plain)")
      ->excludes(retry_quiet);
  retry->add_flag("--plain", plain, "One line per transition even on a terminal");

  auto* status = app.add_subcommand("status", "Show the state of the run in the state dir");
  status->footer("Example:\n  br status --json");
  status->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

  auto* task = app.add_subcommand("task", "Inspect the tasks of the run in the state dir");
  task->require_subcommand(1);
  task->footer("Example:\n  br task list --status failed --json");
  auto* task_list = task->add_subcommand("list", "List tasks with status and attempts");
  task_list->footer("Examples:\n  br task list --status failed\n"
                    "  br task list --feature storage --limit 20 --json");
  std::string status_filter;
  TaskFilter task_filter;
  task_list->add_option("--status", status_filter, "Only tasks with this status")
      ->check(CLI::IsMember({"pending", "ready", "dispatched", "running", "succeeded", "failed",
                             "retrying", "blocked", "cancelled"}));
  task_list->add_option("--feature", task_filter.feature, "Only tasks of this feature (its id)");
  task_list->add_option("--limit", task_filter.limit, "At most N tasks, the first in plan order")
      ->check(CLI::NonNegativeNumber);
  task_list->add_flag("--json", json, "Print one JSON document (docs/cli.md)");
  auto* task_diff = task->add_subcommand("diff", "Show what a task changed: its commit's patch");
  task_diff->footer("Example:\n  br task diff storage/01-schema");
  std::string diff_task, diff_repo;
  task_diff->add_option("TASK", diff_task, "Task id")->required();
  task_diff->add_option("--repo", diff_repo,
                        "The run's repository, if it moved (default: where the run began)");

  auto* task_show = task->add_subcommand(
      "show", "Show one task: its plan, status, and every attempt with the agent's last lines");
  task_show->footer("Examples:\n  br task show storage/01-schema\n"
                    "  br task show storage/01-schema --json");
  std::string show_task;
  task_show->add_option("TASK", show_task, "Task id")->required();
  task_show->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

  auto* logs = app.add_subcommand(
      "logs", "Print the agent's log of one task's attempt (the last one), also while it runs");
  logs->footer("Examples:\n  br logs storage/01-schema\n"
               "  br logs storage/01-schema --attempt 1\n"
               "  br logs storage/01-schema --follow      # until the attempt ends");
  std::string logs_task;
  std::optional<std::uint32_t> logs_attempt;
  bool follow = false;
  logs->add_option("TASK", logs_task, "Task id")->required();
  logs->add_option("--attempt", logs_attempt, "Attempt number (default: the last one)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--follow,-f", follow, "Keep printing what the agent writes until it is done");

  auto* stop = app.add_subcommand(
      "stop", "Stop the run going on in the state dir, as Ctrl-C would (br resume continues it)");
  stop->footer("Examples:\n  br stop\n  br --state-dir /srv/br/.br stop --timeout 120");
  std::uint32_t stop_timeout_s = 60;
  stop->add_option("--timeout", stop_timeout_s,
                   "Seconds to wait for the run to stop (default 60)")
      ->check(CLI::PositiveNumber);

  auto* cancel = app.add_subcommand(
      "cancel", "Cancel tasks of the live run: kill their agents, block what depends on them");
  cancel->footer("Examples:\n  br cancel storage/02-tests\n"
                 "  br cancel storage/02-tests storage/03-docs --timeout 30");
  std::vector<std::string> cancel_tasks;
  std::uint32_t cancel_timeout_s = 60;
  cancel->add_option("TASK", cancel_tasks, "Task ids")->required();
  cancel->add_option("--timeout", cancel_timeout_s,
                     "Seconds to wait until the run has cancelled them (default 60)")
      ->check(CLI::PositiveNumber);

  bool dot = false;
  std::string svg_path;
  auto* graph = app.add_subcommand(
      "graph", "Draw the task graph: levels as ranks, the critical path in red, status colors");
  graph->footer("Examples:\n  br graph PROJECT_SPEC.md --dot > plan.dot\n"
                "  br graph --svg run.svg        # the run in the state dir, with task status");
  graph->add_option("SPEC", spec, "A spec to draw (default: the run in the state dir)");
  auto* dot_flag = graph->add_flag("--dot", dot, "Print Graphviz DOT (the default)");
  auto* svg_option =
      graph->add_option("--svg", svg_path, "Write an SVG to this file (needs Graphviz's dot)")
          ->excludes(dot_flag);
  graph->add_flag("--json", json, "Print one JSON document (docs/cli.md)")
      ->excludes(dot_flag)
      ->excludes(svg_option);

  std::string report_path;
  auto* report = app.add_subcommand(
      "report", "Write one self-contained HTML report of the run in the state dir");
  report->footer("Example:\n  br report --output report.html && xdg-open report.html");
  report->add_option("--output,--out,-o", report_path,
                     "Where to write it (default: STATE_DIR/report.html)");
  report->add_flag("--json", json, "Print the attempts as one JSON document instead");

  std::string init_dir = ".";
  bool force = false;
  auto* init = app.add_subcommand("init", "Write a starter br.toml and PROJECT_SPEC.md");
  init->footer("Example:\n  br init && br plan PROJECT_SPEC.md");
  init->add_option("DIR", init_dir, "Where to write them")->capture_default_str();
  init->add_flag("--force", force, "Overwrite files that exist");

  if (auto unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    return fail_with(kExitBadInput, unknown);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitBadInput;
  }

  if (*plan || *run || *resume || *retry) {
    // No --config: the one this state dir's run began with, else ./br.toml.
    const ChosenConfig chosen = choose_config(config_path, state_dir);
    config_path = chosen.path;
    if (!chosen.note.empty() && !quiet && !json) fmt::print("br: {}\n", chosen.note);
  }
  int code = kExitOk;
  if (*plan) return plan_command(spec, config_path, plan_strategy, json);
  if (*retry && retry_tasks.empty() && !retry_failed && retry_feature.empty()) {
    return fail_with(kExitBadInput, "br retry: name the tasks to run again, or pass --failed "
                                    "or --feature FEATURE");
  }
  if (*run || *resume || *retry) {
    RunOptions options;
    if (*retry) {
      options.retry = RetrySelection{};
      for (const auto& id : retry_tasks) options.retry->tasks.emplace_back(id);
      options.retry->failed = retry_failed;
      options.retry->feature = retry_feature;
    }
    options.spec = *run ? spec : std::string();
    options.config_path = config_path;
    options.workers = workers;
    options.strategy = *run ? strategy_name : std::string();  // empty: the config's
    options.state_dir = state_dir;
    options.replan = replan;
    options.verbose = verbose;
    options.colour = use_colour(color, ::isatty(STDOUT_FILENO) != 0, std::getenv("NO_COLOR"),
                                std::getenv("TERM"));
    options.output = quiet ? OutputMode::quiet
                     : (!plain && !verbose && ::isatty(STDOUT_FILENO)) ? OutputMode::live
                                                                       : OutputMode::plain;
    if (*run && !auto_mode) {
      // Asking needs someone to ask: a terminal on both ends.
      if (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0) {
        return fail_with(kExitBadInput,
                         "br run: without --auto br asks before each batch, which needs a "
                         "terminal; pass --auto to run every batch without asking");
      }
      options.approve = true;
      // The questions and the prompts shown go between transition lines, not under a
      // redrawn block.
      if (options.output == OutputMode::live) options.output = OutputMode::plain;
    }
    return run_command(options);
  }
  if (*init) {
    std::error_code ec;
    std::filesystem::create_directories(init_dir, ec);
    const std::string config_file = init_dir + "/br.toml";
    const std::string spec_file = init_dir + "/PROJECT_SPEC.md";
    // Both checked before either is written, so a refusal leaves nothing half done.
    for (const std::string& file : {config_file, spec_file}) {
      if (!force && std::filesystem::exists(file, ec)) {
        return fail_with(kExitBadInput, file + ": already exists; br init does not overwrite "
                                               "it (pass --force to)");
      }
    }
    if (!write_file(config_file, kStarterConfig) || !write_file(spec_file, kStarterSpec)) {
      return kExitInternal;
    }
    fmt::print("next: edit both, then `br plan {}` and `br run --auto {} --config {}`\n",
               spec_file, spec_file, config_file);
    return kExitOk;
  }
  if (*graph) {
    std::optional<CheckedPlan> checked;
    std::optional<RunState> run;
    std::shared_ptr<const DependencyGraph> dag;
    if (!spec.empty()) {
      auto planned = plan_spec_file(spec, LimitsConfig{});
      if (!planned) return fail_with(kExitBadInput, planned.error().str());
      checked = std::move(planned).value();
      dag = checked->graph;
    } else {
      run = load_run(state_dir, code);
      if (!run) return code;
      auto built = graph_of(run->plan());
      if (!built) return fail_with(kExitInternal, built.error().str());
      dag = std::move(built).value();
    }
    const Plan& the_plan = checked ? checked->plan : run->plan();
    const RunState* with_status = run ? &*run : nullptr;
    if (json) {
      print_json(graph_json(the_plan, *dag, with_status));
      return kExitOk;
    }
    const std::string text = graph_dot(the_plan, *dag, with_status);
    if (svg_path.empty()) {
      fmt::print("{}", text);
      return kExitOk;
    }
    return write_svg(text, svg_path);
  }
  if (*report) {
    auto journal = open_run(state_dir, code);
    if (!journal) return code;
    auto run = replay_run(*journal, code);
    if (!run) return code;
    auto records = read_records(*journal, code);
    if (!records) return code;
    auto dag = graph_of(run->plan());
    if (!dag) return fail_with(kExitInternal, dag.error().str());
    const auto attempts = attempts_of(*records, *run);
    if (json) {
      print_json(attempts_json(*run, attempts));
      return kExitOk;
    }
    const std::string logs = state_dir.logs();
    const std::string html = report_html(
        *run, **dag, attempts,
        [&](const std::string& batch, std::uint32_t attempt) {
          return file_tail(logs + "/" + batch_log_name(BatchId(batch), attempt), 4000);
        },
        unix_now_ms());
    if (report_path.empty()) report_path = state_dir.root + "/report.html";
    std::ofstream out(report_path, std::ios::binary | std::ios::trunc);
    out << html;
    if (!out.flush()) return fail_with(kExitInternal, report_path + ": cannot write the report");
    fmt::print("wrote {} ({} attempts, {} tasks)\n", report_path, attempts.size(),
               run->plan().tasks.size());
    return kExitOk;
  }
  if (*status) {
    // A live coordinator keeps a status file: one small read, however big the run.
    auto doc = read_live_status(state_dir);
    if (!doc) {
      auto run = load_run(state_dir, code);
      if (!run) return code;
      doc = status_json(*run);
      // Between taking the journal and writing its first status file, a coordinator is live
      // all the same: say so, and who it is.
      const auto holder = journal_lock_holder(state_dir.journal());
      (*doc)["live"] = holder.has_value();
      if (holder) (*doc)["pid"] = *holder;
      (*doc)["journal_bytes"] = journal_bytes(state_dir.journal());
    }
    if (json) print_json(*doc);
    else fmt::print("{}", status_text(*doc));
    return kExitOk;
  }
  if (*stop) return stop_command(state_dir, stop_timeout_s);
  if (*cancel) return cancel_command(state_dir, cancel_tasks, cancel_timeout_s);
  if (*task_show || *logs) {
    auto journal = open_run(state_dir, code);
    if (!journal) return code;
    auto run = replay_run(*journal, code);
    if (!run) return code;
    auto records = read_records(*journal, code);
    if (!records) return code;
    journal.reset();
    const std::string id = *task_show ? show_task : logs_task;
    const auto index = run->index_of(TaskId(id));
    if (!index) {
      return fail_with(kExitBadInput, "br: this run has no task '" + id +
                                          "' (br task list shows its tasks)");
    }
    const auto attempts = attempts_of(*records, *run);
    if (*task_show) {
      const auto doc = task_json(*run, *index, attempts, state_dir);
      if (json) print_json(doc);
      else fmt::print("{}", task_text(doc));
      return kExitOk;
    }
    return logs_command(state_dir, id, pick_attempt(attempts, *index, logs_attempt), logs_attempt,
                        follow);
  }
  if (*task_diff) {
    auto run = load_run(state_dir, code);
    if (!run) return code;
    auto text = task_diff_text(*run, TaskId(diff_task), diff_repo);
    if (!text) return fail_with(kExitBadInput, text.error().str());
    fmt::print("{}", *text);
    return kExitOk;
  }
  if (*task_list) {
    auto run = load_run(state_dir, code);
    if (!run) return code;
    if (!status_filter.empty()) task_filter.status = parse_task_status(status_filter);
    OutputBuffer out(stdout);
    if (json) {
      JsonWriter writer(out);
      write_task_list_json(*run, task_filter, writer);
      out.push('\n');
    } else {
      write_task_list_text(*run, task_filter, out);
    }
    return finish_output(out);
  }
  return kExitOk;
}
