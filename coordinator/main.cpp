// br: the command-line front end. Parses arguments (CLI11) and hands each subcommand to the
// code that does the work; exit codes are in exit_codes.hpp.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "coordinator/exit_codes.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_command.hpp"
#include "coordinator/state_dir.hpp"
#include "coordinator/state_views.hpp"
#include "storage/journal.hpp"

namespace {

using namespace br;

// Replays the journal in the state dir without taking its lock, so it works during a run.
std::optional<RunState> load_run(const StateDir& dir, int& exit_code) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(dir.journal(), options);
  if (!journal) {
    fmt::print(stderr, "{}\n", journal.error().str());
    exit_code = kExitBadInput;
    return std::nullopt;
  }
  auto state = (*journal)->replay();
  if (!state) {
    fmt::print(stderr, "{}\n", state.error().str());
    exit_code = kExitInternal;
    return std::nullopt;
  }
  return std::move(state).value();
}

void print_json(const nlohmann::json& j) { fmt::print("{}\n", j.dump(2)); }

int fail_with(int code, const std::string& message) {
  fmt::print(stderr, "{}\n", message);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"br turns a project spec into a finished build by driving coding agents.\n\n"
               "Example:\n  br plan PROJECT_SPEC.md\n  br run --auto PROJECT_SPEC.md --workers 4",
               "br"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "br 0.1.0");
  StateDir state_dir{".br"};
  app.add_option("--state-dir", state_dir.root, "Directory of the run's journal and logs")
      ->capture_default_str();

  bool json = false;
  std::string spec, strategy_name = "critical-path", config_path;
  auto* plan = app.add_subcommand("plan", "Parse and decompose a spec and show the plan");
  plan->footer("Example:\n  br plan PROJECT_SPEC.md --strategy shortest");
  plan->add_option("SPEC", spec, "The project spec (Markdown)")->required();
  plan->add_option("--strategy", strategy_name, "critical-path, priority or shortest")
      ->capture_default_str();
  plan->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

  bool auto_mode = false, quiet = false, plain = false;
  std::optional<std::uint32_t> workers;
  auto* run = app.add_subcommand("run", "Run a spec to the end: plan, dispatch, verify, retry");
  run->footer("Example:\n  br run --auto PROJECT_SPEC.md --workers 4 --config br.toml");
  run->add_option("SPEC", spec, "The project spec (Markdown)")->required();
  run->add_flag("--auto", auto_mode, "Run every task without asking (required)")->required();
  run->add_option("--workers", workers, "Local worker slots (overrides [run] workers)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--config", config_path, "br.toml with the agent command and settings");
  run->add_option("--strategy", strategy_name, "critical-path, priority or shortest");
  run->add_flag("--quiet,-q", quiet, "Print only the final summary");
  run->add_flag("--plain", plain, "One line per transition even on a terminal");
  bool replan = false;
  run->add_flag("--replan", replan,
                "The spec changed since this state dir's run began: plan again, keeping "
                "finished tasks that still exist");

  auto* resume = app.add_subcommand("resume", "Continue the run in the state dir after a stop");
  resume->footer("Example:\n  br --state-dir .br resume --config br.toml");
  resume->add_option("--config", config_path, "br.toml with the agent command and settings");
  resume->add_option("--workers", workers, "Local worker slots")->check(CLI::Range(1, 1024));
  resume->add_flag("--quiet,-q", quiet, "Print only the final summary");
  resume->add_flag("--plain", plain, "One line per transition even on a terminal");

  auto* status = app.add_subcommand("status", "Show the state of the run in the state dir");
  status->footer("Example:\n  br status --json");
  status->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

  auto* task = app.add_subcommand("task", "Inspect the tasks of the run in the state dir");
  task->require_subcommand(1);
  auto* task_list = task->add_subcommand("list", "List tasks with status and attempts");
  task_list->footer("Example:\n  br task list --status failed");
  std::string status_filter;
  task_list->add_option("--status", status_filter, "Only tasks with this status")
      ->check(CLI::IsMember({"pending", "ready", "dispatched", "running", "succeeded", "failed",
                             "retrying", "blocked", "cancelled"}));
  task_list->add_flag("--json", json, "Print one JSON document (docs/cli.md)");

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

  int code = kExitOk;
  if (*plan) {
    auto strategy = parse_strategy(strategy_name);
    if (!strategy) return fail_with(kExitBadInput, strategy.error().str());
    auto checked = plan_spec_file(spec, LimitsConfig{});
    if (!checked) return fail_with(kExitBadInput, checked.error().str());
    if (json) print_json(plan_json(*checked, *strategy));
    else fmt::print("{}", plan_text(*checked, *strategy));
    return kExitOk;
  }
  if (*run || *resume) {
    RunOptions options;
    options.spec = *run ? spec : std::string();
    options.config_path = config_path;
    options.workers = workers;
    options.strategy = *run && strategy_name != "critical-path" ? strategy_name : std::string();
    options.state_dir = state_dir;
    options.replan = replan;
    options.output = quiet ? OutputMode::quiet
                     : (!plain && ::isatty(STDOUT_FILENO)) ? OutputMode::live
                                                           : OutputMode::plain;
    return run_command(options);
  }
  if (*status) {
    auto run = load_run(state_dir, code);
    if (!run) return code;
    if (json) print_json(status_json(*run));
    else fmt::print("{}", status_text(*run));
    return kExitOk;
  }
  if (*task_list) {
    auto run = load_run(state_dir, code);
    if (!run) return code;
    std::optional<TaskStatus> only;
    if (!status_filter.empty()) only = parse_task_status(status_filter);
    if (json) print_json(task_list_json(*run, only));
    else fmt::print("{}", task_list_text(*run, only));
    return kExitOk;
  }
  return kExitOk;
}
