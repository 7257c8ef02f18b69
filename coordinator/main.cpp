// br: the command-line front end. Parses arguments (CLI11) and hands each subcommand to the
// code that does the work; exit codes are in node/exit_codes.hpp.
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
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/graph/run_tracker.hpp"
#include "actors/worker/agent_runner.hpp"
#include "node/exit_codes.hpp"
#include "coordinator/control_commands.hpp"
#include "coordinator/graph_view.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/progress_view.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_command.hpp"
#include "coordinator/run_config.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_mode.hpp"
#include "coordinator/run_reader.hpp"
#include "coordinator/run_workspace.hpp"
#include "coordinator/state_dir.hpp"
#include "coordinator/report_view.hpp"
#include "coordinator/task_view.hpp"
#include "coordinator/starter_files.hpp"
#include "coordinator/status_command.hpp"
#include "coordinator/state_views.hpp"
#include "protocol/log_name.hpp"
#include "protocol/wall_clock.hpp"

namespace {

using namespace br;

void print_json(const nlohmann::json& j) { fmt::print("{}\n", j.dump(2)); }

// Flushes a streamed document; a stdout that cannot take it (a full disk) is exit 3.
int finish_output(OutputBuffer& out) {
  out.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    return report_failure(ErrorCategory::infrastructure, "cannot write to stdout");
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
    if (!loaded) return report_failure(loaded.error());
    config = std::move(loaded).value();
  }
  auto settings = plan_settings(config, strategy);
  if (!settings) return report_failure(settings.error());
  auto checked = plan_spec_file(spec, *settings);
  if (!checked) return report_failure(checked.error());
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
    return report_failure(ErrorCategory::bad_input,
                          number ? fmt::format("br: {} has no attempt {}", id, *number)
                                 : "br: " + id + " has not been dispatched yet (" +
                                       reader_command(dir) + " task show " + shell_word(id) +
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
    return report_failure(ErrorCategory::bad_input,
                          fmt::format("br: no log of {} attempt {} here: {}", id,
                                      attempt->attempt, attempt_files(dir, *attempt).why_no_log));
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
          // The run may have ended just after the last read, the attempt's end line with it.
          seen += copy_out(fd);
          if (seen.find(kAttemptEndMarker) == std::string::npos) {
            fmt::print(stderr, "br: the run is not going on (nothing holds its journal); that "
                               "is the log so far\n");
          }
          break;
        }
      }
    }
  }
  ::close(fd);
  return kExitOk;
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
    return report_failure(ErrorCategory::bad_input,
                          "cannot draw an SVG: Graphviz's `dot` is not installed (apt-get install "
                     "graphviz), or use --dot and render it elsewhere");
  }
  if (!outcome->success()) {
    return report_failure(ErrorCategory::infrastructure,
                          "dot failed (" + outcome->describe() + "): " + log);
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

// The option `arg` names in `app` or in a command above it (global options fall through).
CLI::Option* option_named(CLI::App* app, const std::string& arg) {
  for (; app != nullptr; app = app->get_parent()) {
    if (CLI::Option* option = app->get_option_no_throw(arg)) return option;
  }
  return nullptr;
}

// The first word that should name a command (`br WORD`, or `br task WORD`), when it names
// none: what to say about it. Options are stepped over with their values (`--color never`),
// wherever they stand.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* current = &app;
  std::string path = "br";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return {};
    if (arg.size() > 1 && arg[0] == '-') {
      const CLI::Option* option =
          arg.find('=') == std::string::npos ? option_named(current, arg) : nullptr;
      if (option != nullptr && option->get_items_expected_min() > 0) ++i;  // its value
      continue;
    }
    const std::vector<CLI::App*> subs = current->get_subcommands({});
    if (subs.empty()) return {};  // a command's own argument
    std::string best;
    std::size_t best_distance = 3;  // farther than 2 edits is no suggestion
    std::string names;
    CLI::App* named = nullptr;
    for (CLI::App* sub : subs) {
      const std::string& name = sub->get_name();
      if (name == arg) named = sub;
      names += (names.empty() ? "" : ", ") + name;
      if (const std::size_t d = edit_distance(arg, name); d < best_distance) {
        best_distance = d;
        best = name;
      }
    }
    if (named != nullptr) {
      current = named;
      path += " " + arg;
      continue;
    }
    return fmt::format("'{}' is not a {} command{} (commands: {}; {} --help shows them all)", arg,
                       path, best.empty() ? "" : "; did you mean '" + best + "'?", names, path);
  }
  return {};
}

// The options every subcommand takes, before or after its name.
struct Globals {
  StateDir state_dir{".br"};
  std::string color = "auto";
};

// One subcommand: its CLI11 app, and what runs when it is the one given. Each add_* below
// registers one, with its options bound into a struct that the handler shares.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// No --config: the one this state dir's run began with, else ./br.toml (plan, run, resume
// and retry plan with the config their run uses). `quiet` keeps the note to itself.
std::string chosen_config(const std::string& given, const StateDir& dir, bool quiet) {
  const ChosenConfig chosen = choose_config(given, dir);
  if (!chosen.note.empty() && !quiet) fmt::print("br: {}\n", chosen.note);
  return chosen.path;
}

Command add_plan(CLI::App& app, const Globals& globals) {
  struct Args {
    std::string spec, strategy, config_path;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* plan = app.add_subcommand("plan", "Parse and decompose a spec and show the plan");
  plan->footer("Examples:\n  br plan PROJECT_SPEC.md --strategy shortest\n"
               "  br plan PROJECT_SPEC.md --config br.toml --json > plan.json");
  plan->add_option("SPEC", args->spec, "The project spec (Markdown)")->required();
  plan->add_option("--strategy", args->strategy,
                   "critical-path, priority or shortest (default: [run] strategy of --config, "
                   "else critical-path)");
  plan->add_option("--config", args->config_path,
                   "br.toml whose [limits], [run] strategy and batch sizes to plan with, as "
                   "br run does");
  plan->add_flag("--json", args->json, "Print one JSON document (docs/cli.md)");
  return {plan, [args, &globals] {
            const std::string config =
                chosen_config(args->config_path, globals.state_dir, args->json);
            return plan_command(args->spec, config, args->strategy, args->json);
          }};
}

// What br run, br resume and br retry take; each registers the options it has.
struct RunArgs {
  std::string spec, strategy, config_path;
  bool auto_mode = false, ask_mode = false;
  bool quiet = false, plain = false, verbose = false, replan = false;
  std::optional<std::uint32_t> workers;
  std::vector<std::string> retry_tasks;
  bool retry_failed = false;
  std::string retry_feature;
};

// --quiet, --verbose and --plain: how a run shows its progress.
void add_output_flags(CLI::App* sub, RunArgs& args) {
  auto* quiet = sub->add_flag("--quiet,-q", args.quiet, "Print only the final summary");
  sub->add_flag("--verbose,-v", args.verbose, "Also show tasks becoming ready (implies --plain)")
      ->excludes(quiet);
  sub->add_flag("--plain", args.plain, "One line per transition even on a terminal");
}

// --auto and --ask of br resume and br retry (br run has --auto alone).
void add_mode_flags(CLI::App* sub, RunArgs& args) {
  auto* auto_flag = sub->add_flag("--auto", args.auto_mode,
                                  "Run every batch without asking (default: as the run was "
                                  "started, with or without --auto)");
  sub->add_flag("--ask", args.ask_mode, "Ask before each batch, as br run without --auto does")
      ->excludes(auto_flag);
}

enum class RunKind : std::uint8_t { run, resume, retry };

int start_run(RunKind kind, const RunArgs& args, const Globals& globals) {
  if (kind == RunKind::retry && args.retry_tasks.empty() && !args.retry_failed &&
      args.retry_feature.empty()) {
    return report_failure(ErrorCategory::bad_input, "br retry: name the tasks to run again, or "
                                                    "pass --failed or --feature FEATURE");
  }
  RunOptions options;
  if (kind == RunKind::retry) {
    options.retry = RetrySelection{};
    for (const auto& id : args.retry_tasks) options.retry->tasks.emplace_back(id);
    options.retry->failed = args.retry_failed;
    options.retry->feature = args.retry_feature;
  }
  const bool run = kind == RunKind::run;
  options.spec = run ? args.spec : std::string();
  options.config_path = args.config_path;
  options.workers = args.workers;
  options.strategy = run ? args.strategy : std::string();  // empty: the config's
  options.state_dir = globals.state_dir;
  options.replan = args.replan;
  options.verbose = args.verbose;
  options.colour = use_colour(globals.color, ::isatty(STDOUT_FILENO) != 0,
                              std::getenv("NO_COLOR"), std::getenv("TERM"));
  options.output = args.quiet ? OutputMode::quiet
                   : (!args.plain && !args.verbose && ::isatty(STDOUT_FILENO)) ? OutputMode::live
                                                                                : OutputMode::plain;
  const auto remembered = run ? std::nullopt : remembered_run_mode(globals.state_dir);
  if (choose_run_mode(run, args.auto_mode, args.ask_mode, remembered) == RunMode::ask) {
    // Asking needs someone to ask: a terminal on both ends. br run says so before anything
    // is journaled; resume and retry once the run is read (run_command), so that a missing
    // or damaged run is what they report.
    if (::isatty(STDIN_FILENO) == 0 || ::isatty(STDOUT_FILENO) == 0) {
      const std::string why =
          no_terminal_to_ask(run ? "run" : kind == RunKind::resume ? "resume" : "retry",
                             !args.ask_mode && remembered.has_value());
      if (run) return report_failure(ErrorCategory::bad_input, why);
      options.cannot_ask = why;
    }
    options.approve = true;
    // The questions and the prompts shown go between transition lines, not under a
    // redrawn block.
    if (options.output == OutputMode::live) options.output = OutputMode::plain;
  }
  return run_command(options);
}

Command run_handler(CLI::App* sub, RunKind kind, const std::shared_ptr<RunArgs>& args,
                    const Globals& globals) {
  return {sub, [kind, args, &globals] {
            args->config_path = chosen_config(args->config_path, globals.state_dir, args->quiet);
            return start_run(kind, *args, globals);
          }};
}

Command add_run(CLI::App& app, const Globals& globals) {
  auto args = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand("run", "Run a spec to the end: plan, dispatch, verify, retry");
  run->footer("Examples:\n  br run --auto PROJECT_SPEC.md --workers 4 --config br.toml\n"
              "  br run PROJECT_SPEC.md      # on a terminal: asks before each batch");
  run->add_option("SPEC", args->spec, "The project spec (Markdown)")->required();
  run->add_flag("--auto", args->auto_mode,
                "Run every batch without asking (without it, br shows each batch's prompt on a "
                "terminal and asks: run, skip, edit or quit)");
  run->add_option("--workers", args->workers, "Local worker slots (overrides [run] workers)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--config", args->config_path, "br.toml with the agent command and settings");
  run->add_option("--strategy", args->strategy,
                  "critical-path, priority or shortest (default: [run] strategy, else critical-path)");
  add_output_flags(run, *args);
  run->add_flag("--replan", args->replan,
                "The spec changed since this state dir's run began: plan again, keeping "
                "finished tasks that still exist");
  return run_handler(run, RunKind::run, args, globals);
}

Command add_resume(CLI::App& app, const Globals& globals) {
  auto args = std::make_shared<RunArgs>();
  auto* resume = app.add_subcommand("resume", "Continue the run in the state dir after a stop");
  resume->footer("Example:\n  br --state-dir .br resume --config br.toml");
  resume->add_option("--config", args->config_path, "br.toml with the agent command and settings");
  resume->add_option("--workers", args->workers, "Local worker slots")->check(CLI::Range(1, 1024));
  add_output_flags(resume, *args);
  add_mode_flags(resume, *args);
  return run_handler(resume, RunKind::resume, args, globals);
}

Command add_retry(CLI::App& app, const Globals& globals) {
  auto args = std::make_shared<RunArgs>();
  auto* retry = app.add_subcommand(
      "retry", "Run failed, blocked and cancelled tasks of a stopped or finished run again");
  retry->footer("Examples:\n  br retry --failed --config br.toml\n  br retry auth/01-database "
                "--config br.toml\n\nEach reopened task gets a fresh attempt budget; what it "
                "blocked, and any unfinished task it waits on, runs again with it. Finished tasks "
                "stay finished. br retry then runs the reopened tasks to the end, as br resume "
                "does.");
  retry->add_option("TASK", args->retry_tasks, "Task ids to run again");
  retry->add_flag("--failed", args->retry_failed, "Every failed and cancelled task");
  retry->add_option("--feature", args->retry_feature,
                    "Every unfinished task of this feature (its id)");
  retry->add_option("--config", args->config_path, "br.toml with the agent command and settings");
  retry->add_option("--workers", args->workers, "Local worker slots")->check(CLI::Range(1, 1024));
  add_output_flags(retry, *args);
  add_mode_flags(retry, *args);
  return run_handler(retry, RunKind::retry, args, globals);
}

// `br status`: a live coordinator keeps a status file, one small read however big the run.
Command add_status(CLI::App& app, const Globals& globals) {
  auto json = std::make_shared<bool>(false);
  auto* status = app.add_subcommand("status", "Show the state of the run in the state dir");
  status->footer("Example:\n  br status --json");
  status->add_flag("--json", *json, "Print one JSON document (docs/cli.md)");
  return {status, [json, &globals] { return status_command(globals.state_dir, *json); }};
}

int task_list_command(const StateDir& dir, const std::string& status_filter, TaskFilter filter,
                      bool json) {
  auto run = load_run(dir);
  if (!run) return report_failure(run.error());
  if (!status_filter.empty()) filter.status = parse_task_status(status_filter);
  OutputBuffer out(stdout);
  if (json) {
    JsonWriter writer(out);
    write_task_list_json(*run, filter, writer);
    out.push('\n');
  } else {
    write_task_list_text(*run, filter, out);
  }
  return finish_output(out);
}

int task_diff_command(const StateDir& dir, const std::string& task, const std::string& repo) {
  auto run = load_run(dir);
  if (!run) return report_failure(run.error());
  auto text = task_diff_text(*run, TaskId(task), repo);
  if (!text) return report_failure(text.error());
  fmt::print("{}", *text);
  return kExitOk;
}

// One task's attempts, read from the journal, which is let go before anything is printed.
struct TaskAttempts {
  RunState run;
  std::size_t index = 0;
  std::vector<AttemptSpan> attempts;
};

Result<TaskAttempts> task_attempts(const StateDir& dir, const std::string& id) {
  auto loaded = load_run_records(dir);
  if (!loaded) return loaded.error();
  const auto index = loaded->run.index_of(TaskId(id));
  if (!index) {
    return Error::of(fmt::format("br: this run has no task '{}' (br --state-dir {} task list "
                                 "shows its tasks)",
                                 id, shell_word(dir.root)));
  }
  auto attempts = attempts_of(loaded->records, loaded->run);
  return TaskAttempts{std::move(loaded->run), *index, std::move(attempts)};
}

int task_show_command(const StateDir& dir, const std::string& id, bool json) {
  auto task = task_attempts(dir, id);
  if (!task) return report_failure(task.error());
  const auto doc = task_json(task->run, task->index, task->attempts, dir);
  if (json) print_json(doc);
  else fmt::print("{}", task_text(doc));
  return kExitOk;
}

void add_task(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto* task = app.add_subcommand("task", "Inspect the tasks of the run in the state dir");
  task->require_subcommand(1);
  task->footer("Example:\n  br task list --status failed --json");

  struct ListArgs {
    std::string status_filter;
    TaskFilter filter;
    bool json = false;
  };
  auto list_args = std::make_shared<ListArgs>();
  auto* task_list = task->add_subcommand("list", "List tasks with status and attempts");
  task_list->footer("Examples:\n  br task list --status failed\n"
                    "  br task list --feature storage --limit 20 --json");
  task_list->add_option("--status", list_args->status_filter, "Only tasks with this status")
      ->check(CLI::IsMember({"pending", "ready", "dispatched", "running", "succeeded", "failed",
                             "retrying", "blocked", "cancelled"}));
  task_list->add_option("--feature", list_args->filter.feature,
                        "Only tasks of this feature (its id)");
  task_list->add_option("--limit", list_args->filter.limit,
                        "At most N tasks, the first in plan order")
      ->check(CLI::NonNegativeNumber);
  task_list->add_flag("--json", list_args->json, "Print one JSON document (docs/cli.md)");
  commands.push_back({task_list, [list_args, &globals] {
                        return task_list_command(globals.state_dir, list_args->status_filter,
                                                 list_args->filter, list_args->json);
                      }});

  struct DiffArgs {
    std::string task, repo;
  };
  auto diff_args = std::make_shared<DiffArgs>();
  auto* task_diff = task->add_subcommand("diff", "Show what a task changed: its commit's patch");
  task_diff->footer("Example:\n  br task diff storage/01-schema");
  task_diff->add_option("TASK", diff_args->task, "Task id")->required();
  task_diff->add_option("--repo", diff_args->repo,
                        "The run's repository, if it moved (default: where the run began)");
  commands.push_back({task_diff, [diff_args, &globals] {
                        return task_diff_command(globals.state_dir, diff_args->task,
                                                 diff_args->repo);
                      }});

  struct ShowArgs {
    std::string task;
    bool json = false;
  };
  auto show_args = std::make_shared<ShowArgs>();
  auto* task_show = task->add_subcommand(
      "show", "Show one task: its plan, status, and every attempt with the agent's last lines");
  task_show->footer("Examples:\n  br task show storage/01-schema\n"
                    "  br task show storage/01-schema --json");
  task_show->add_option("TASK", show_args->task, "Task id")->required();
  task_show->add_flag("--json", show_args->json, "Print one JSON document (docs/cli.md)");
  commands.push_back({task_show, [show_args, &globals] {
                        return task_show_command(globals.state_dir, show_args->task,
                                                 show_args->json);
                      }});
}

Command add_logs(CLI::App& app, const Globals& globals) {
  struct Args {
    std::string task;
    std::optional<std::uint32_t> attempt;
    bool follow = false;
  };
  auto args = std::make_shared<Args>();
  auto* logs = app.add_subcommand(
      "logs", "Print the agent's log of one task's attempt (the last one), also while it runs");
  logs->footer("Examples:\n  br logs storage/01-schema\n"
               "  br logs storage/01-schema --attempt 1\n"
               "  br logs storage/01-schema --follow      # until the attempt ends");
  logs->add_option("TASK", args->task, "Task id")->required();
  logs->add_option("--attempt", args->attempt, "Attempt number (default: the last one)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("--follow,-f", args->follow,
                 "Keep printing what the agent writes until it is done");
  return {logs, [args, &globals] {
            auto task = task_attempts(globals.state_dir, args->task);
            if (!task) return report_failure(task.error());
            return logs_command(globals.state_dir, args->task,
                                pick_attempt(task->attempts, task->index, args->attempt),
                                args->attempt, args->follow);
          }};
}

Command add_stop(CLI::App& app, const Globals& globals) {
  auto timeout_s = std::make_shared<std::uint32_t>(60);
  auto* stop = app.add_subcommand(
      "stop", "Stop the run going on in the state dir, as Ctrl-C would (br resume continues it)");
  stop->footer("Examples:\n  br stop\n  br --state-dir /srv/br/.br stop --timeout 120");
  stop->add_option("--timeout", *timeout_s, "Seconds to wait for the run to stop (default 60)")
      ->check(CLI::PositiveNumber);
  return {stop, [timeout_s, &globals] { return stop_command(globals.state_dir, *timeout_s); }};
}

Command add_cancel(CLI::App& app, const Globals& globals) {
  struct Args {
    std::vector<std::string> tasks;
    std::uint32_t timeout_s = 60;
  };
  auto args = std::make_shared<Args>();
  auto* cancel = app.add_subcommand(
      "cancel", "Cancel tasks of the live run: kill their agents, block what depends on them");
  cancel->footer("Examples:\n  br cancel storage/02-tests\n"
                 "  br cancel storage/02-tests storage/03-docs --timeout 30");
  cancel->add_option("TASK", args->tasks, "Task ids")->required();
  cancel->add_option("--timeout", args->timeout_s,
                     "Seconds to wait until the run has cancelled them (default 60)")
      ->check(CLI::PositiveNumber);
  return {cancel, [args, &globals] {
            return cancel_command(globals.state_dir, args->tasks, args->timeout_s);
          }};
}

// `br graph`: the spec's plan, or the state dir's run with each task's status.
int graph_command(const StateDir& dir, const std::string& spec, bool json,
                  const std::string& svg_path) {
  std::optional<CheckedPlan> checked;
  std::optional<RunState> run;
  std::shared_ptr<const DependencyGraph> dag;
  if (!spec.empty()) {
    auto planned = plan_spec_file(spec, LimitsConfig{});
    if (!planned) return report_failure(planned.error());
    checked = std::move(planned).value();
    dag = checked->graph;
  } else {
    auto loaded = load_run(dir);
    if (!loaded) return report_failure(loaded.error());
    run = std::move(loaded).value();
    auto built = graph_of(run->plan());
    if (!built) return report_failure(built.error().as(ErrorCategory::internal));
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

Command add_graph(CLI::App& app, const Globals& globals) {
  struct Args {
    std::string spec, svg_path;
    bool dot = false, json = false;
  };
  auto args = std::make_shared<Args>();
  auto* graph = app.add_subcommand(
      "graph", "Draw the task graph: levels as ranks, the critical path in red, status colors");
  graph->footer("Examples:\n  br graph PROJECT_SPEC.md --dot > plan.dot\n"
                "  br graph --svg run.svg        # the run in the state dir, with task status");
  graph->add_option("SPEC", args->spec, "A spec to draw (default: the run in the state dir)");
  auto* dot_flag = graph->add_flag("--dot", args->dot, "Print Graphviz DOT (the default)");
  auto* svg_option =
      graph->add_option("--svg", args->svg_path, "Write an SVG to this file (needs Graphviz's dot)")
          ->excludes(dot_flag);
  graph->add_flag("--json", args->json, "Print one JSON document (docs/cli.md)")
      ->excludes(dot_flag)
      ->excludes(svg_option);
  return {graph, [args, &globals] {
            return graph_command(globals.state_dir, args->spec, args->json, args->svg_path);
          }};
}

// `br report`: the run's attempts as JSON, or one HTML file (by default in the state dir).
int report_command(const StateDir& dir, std::string report_path, bool json) {
  auto loaded = load_run_records(dir);
  if (!loaded) return report_failure(loaded.error());
  const RunState& run = loaded->run;
  auto dag = graph_of(run.plan());
  if (!dag) return report_failure(dag.error().as(ErrorCategory::internal));
  const auto attempts = attempts_of(loaded->records, run);
  if (json) {
    print_json(attempts_json(run, attempts));
    return kExitOk;
  }
  const std::string logs = dir.logs();
  const std::string html = report_html(
      run, **dag, attempts, run_gaps(loaded->records),
      [&](const std::string& batch, std::uint32_t attempt) {
        return file_tail(logs + "/" + batch_log_name(BatchId(batch), attempt), 4000);
      },
      unix_now_ms());
  if (report_path.empty()) report_path = dir.root + "/report.html";
  std::ofstream out(report_path, std::ios::binary | std::ios::trunc);
  out << html;
  if (!out.flush()) {
    return report_failure(ErrorCategory::infrastructure,
                          report_path + ": cannot write the report");
  }
  fmt::print("wrote {} ({} attempts, {} tasks)\n", report_path, attempts.size(),
             run.plan().tasks.size());
  return kExitOk;
}

Command add_report(CLI::App& app, const Globals& globals) {
  struct Args {
    std::string path;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* report = app.add_subcommand(
      "report", "Write one self-contained HTML report of the run in the state dir");
  report->footer("Example:\n  br report --output report.html && xdg-open report.html");
  report->add_option("--output,--out,-o", args->path,
                     "Where to write it (default: STATE_DIR/report.html)");
  report->add_flag("--json", args->json, "Print the attempts as one JSON document instead");
  return {report, [args, &globals] {
            return report_command(globals.state_dir, args->path, args->json);
          }};
}

// `br init`: a starter br.toml and PROJECT_SPEC.md in `dir`.
int init_command(const std::string& dir, bool force) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string config_file = dir + "/br.toml";
  const std::string spec_file = dir + "/PROJECT_SPEC.md";
  // Both checked before either is written, so a refusal leaves nothing half done.
  for (const std::string& file : {config_file, spec_file}) {
    if (!force && std::filesystem::exists(file, ec)) {
      return report_failure(ErrorCategory::bad_input,
                            file + ": already exists; br init does not overwrite it (pass "
                                   "--force to)");
    }
  }
  if (!write_file(config_file, kStarterConfig) || !write_file(spec_file, kStarterSpec)) {
    return exit_code_of(ErrorCategory::infrastructure);
  }
  fmt::print("next: edit both, then `br plan {}` and `br run --auto {} --config {}`\n",
             spec_file, spec_file, config_file);
  return kExitOk;
}

Command add_init(CLI::App& app) {
  struct Args {
    std::string dir = ".";
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  auto* init = app.add_subcommand("init", "Write a starter br.toml and PROJECT_SPEC.md");
  init->footer("Example:\n  br init && br plan PROJECT_SPEC.md");
  init->add_option("DIR", args->dir, "Where to write them")->capture_default_str();
  init->add_flag("--force", args->force, "Overwrite files that exist");
  return {init, [args] { return init_command(args->dir, args->force); }};
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
  Globals globals;
  app.add_option("--state-dir", globals.state_dir.root, "Directory of the run's journal and logs")
      ->capture_default_str();
  app.add_option("--color,--colour", globals.color,
                 "Colour the run's output: auto (on a terminal, unless NO_COLOR is set), "
                 "always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();

  // In the order `br --help` lists them.
  std::vector<Command> commands;
  commands.push_back(add_plan(app, globals));
  commands.push_back(add_run(app, globals));
  commands.push_back(add_resume(app, globals));
  commands.push_back(add_retry(app, globals));
  commands.push_back(add_status(app, globals));
  add_task(app, globals, commands);
  commands.push_back(add_logs(app, globals));
  commands.push_back(add_stop(app, globals));
  commands.push_back(add_cancel(app, globals));
  commands.push_back(add_graph(app, globals));
  commands.push_back(add_report(app, globals));
  commands.push_back(add_init(app));

  if (auto unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    return report_failure(ErrorCategory::bad_input, unknown);
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
    return exit_code_of(ErrorCategory::bad_input);
  }
  for (const Command& command : commands) {
    if (*command.app) return command.run();
  }
  return kExitOk;
}
