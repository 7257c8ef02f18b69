// br: the command-line front end. Parses arguments (CLI11) and hands each subcommand to the
// code that does the work; exit codes are in exit_codes.hpp.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "actors/worker/agent_runner.hpp"
#include "coordinator/exit_codes.hpp"
#include "coordinator/graph_view.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_command.hpp"
#include "coordinator/state_dir.hpp"
#include "coordinator/report_view.hpp"
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

// The last `max_bytes` of a file, starting at a line; "" when it cannot be read.
std::string file_tail(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = size > static_cast<std::streamoff>(max_bytes)
                                  ? size - static_cast<std::streamoff>(max_bytes)
                                  : 0;
  in.seekg(from);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (from > 0) {
    const auto newline = text.find('\n');
    text = "…\n" + (newline == std::string::npos ? text : text.substr(newline + 1));
  }
  return text;
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
  run->footer("Example:\n  br run --auto PROJECT_SPEC.md --workers 4 --config br.toml");
  run->add_option("SPEC", spec, "The project spec (Markdown)")->required();
  run->add_flag("--auto", auto_mode, "Run every task without asking (required)")->required();
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
  if (*plan) return plan_command(spec, config_path, plan_strategy, json);
  if (*run || *resume) {
    RunOptions options;
    options.spec = *run ? spec : std::string();
    options.config_path = config_path;
    options.workers = workers;
    options.strategy = *run ? strategy_name : std::string();  // empty: the config's
    options.state_dir = state_dir;
    options.replan = replan;
    options.verbose = verbose;
    options.output = quiet ? OutputMode::quiet
                     : (!plain && !verbose && ::isatty(STDOUT_FILENO)) ? OutputMode::live
                                                                       : OutputMode::plain;
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
      (*doc)["live"] = journal_lock_holder(state_dir.journal()).has_value();
      (*doc)["journal_bytes"] = journal_bytes(state_dir.journal());
    }
    if (json) print_json(*doc);
    else fmt::print("{}", status_text(*doc));
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
