// br-coordinator: plans the spec, journals, schedules, and serves workers that connect from
// other hosts (br-worker). Exits like `br run` when the run is over.
#include <CLI/CLI.hpp>

#include <fmt/core.h>

#include "node/exit_codes.hpp"
#include "coordinator/run_command.hpp"
#include "coordinator/run_config.hpp"

int main(int argc, char** argv) {
  CLI::App app{"br-coordinator: runs a spec with workers on other hosts (br-worker).\n\n"
               "Example:\n  BR_TOKEN=$(cat ~/.br-token) br-coordinator --config br.toml --spec "
               "PROJECT_SPEC.md --listen 0.0.0.0:7420",
               "br-coordinator"};
  br::RunOptions options;
  options.state_dir.root = ".br";
  std::optional<std::uint32_t> workers;
  bool quiet = false;
  app.add_option("--spec", options.spec, "The project spec; omit to resume the state dir's run");
  app.set_version_flag("--version", "br-coordinator " BR_VERSION_STRING);
  app.add_option("--config", options.config_path,
                 "br.toml (default: the config the state dir's run was started with, else "
                 "./br.toml)");
  app.add_option("--listen", options.listen,
                 "HOST:PORT to serve workers on (default: [network] listen, 127.0.0.1:7420)");
  app.add_option("--state-dir", options.state_dir.root, "Journal and logs")->capture_default_str();
  app.add_option("--workers", workers, "Local worker slots as well (default 0)");
  app.add_flag("--quiet,-q", quiet, "Print only the final summary");
  app.add_flag("--replan", options.replan,
               "The spec changed since the state dir's run began: plan again, keeping finished "
               "tasks that still exist");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return br::exit_code_of(br::ErrorCategory::bad_input);
  }
  const br::ChosenConfig chosen = br::choose_config(options.config_path, options.state_dir);
  options.config_path = chosen.path;
  if (!chosen.note.empty()) fmt::print("br-coordinator: {}\n", chosen.note);
  options.workers = workers;
  options.serve = true;
  options.output = quiet ? br::OutputMode::quiet : br::OutputMode::plain;
  return br::run_command(options);
}
