#include "coordinator/status_command.hpp"

#include <fmt/core.h>

#include <string_view>

#include "coordinator/live_status.hpp"
#include "coordinator/run_reader.hpp"
#include "coordinator/state_views.hpp"
#include "node/exit_codes.hpp"

namespace br {

std::optional<StatusCall> status_call(int argc, const char* const* argv) {
  StatusCall call;
  bool named = false;
  bool json_seen = false;
  bool dir_seen = false;
  const auto colour_ok = [](std::string_view v) {
    return v == "auto" || v == "always" || v == "never";
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string_view value;
    const auto option = [&](std::string_view name) {  // --name VALUE or --name=VALUE
      if (arg == name) {
        if (i + 1 >= argc) return false;
        value = argv[++i];
        return true;
      }
      if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
          arg[name.size()] == '=') {
        value = arg.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    if (arg == "status" && !named) {
      named = true;
    } else if (arg == "--json" && named && !json_seen) {
      json_seen = call.json = true;
    } else if (option("--state-dir")) {
      if (value.empty() || dir_seen) return std::nullopt;
      dir_seen = true;
      call.dir = StateDir{std::string(value)};
    } else if (option("--color") || option("--colour")) {
      if (!colour_ok(value)) return std::nullopt;  // status prints no colour either way
    } else {
      return std::nullopt;
    }
  }
  if (!named) return std::nullopt;
  return call;
}

int status_command(const StateDir& dir, bool json) {
  auto doc = read_live_status(dir);
  if (!doc) {
    auto run = load_run(dir);
    if (!run) return report_failure(run.error());
    doc = status_json(*run);
    // Between taking the journal and writing its first status file, a coordinator is live
    // all the same: say so, and who it is.
    const auto holder = journal_lock_holder(dir.journal());
    (*doc)["live"] = holder.has_value();
    if (holder) (*doc)["pid"] = *holder;
    (*doc)["journal_bytes"] = journal_bytes(dir.journal());
  }
  if (json) fmt::print("{}\n", doc->dump(2));
  else fmt::print("{}", status_text(*doc));
  return kExitOk;
}

}  // namespace br
