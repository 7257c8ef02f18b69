// br: the command-line front end. Parses arguments (CLI11) and hands each subcommand to the
// code that does the work; exit codes are in exit_codes.hpp.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <optional>
#include <string>

#include "coordinator/exit_codes.hpp"
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
