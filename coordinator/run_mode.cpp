#include "coordinator/run_mode.hpp"

#include <filesystem>
#include <fstream>

namespace br {
namespace {

std::string mode_file(const StateDir& dir) { return dir.root + "/mode"; }

}  // namespace

RunMode choose_run_mode(bool is_run, bool auto_flag, bool ask_flag,
                        std::optional<RunMode> remembered) {
  if (auto_flag) return RunMode::automatic;
  if (is_run || ask_flag) return RunMode::ask;
  return remembered.value_or(RunMode::ask);
}

std::string no_terminal_to_ask(const std::string& command, bool remembered) {
  return "br " + command + ": " +
         (remembered ? std::string("this run was started asking before each batch (without "
                                   "--auto), and asking needs a terminal")
                     : std::string("without --auto br asks before each batch, which needs a "
                                   "terminal")) +
         "; pass --auto to run every batch without asking";
}

std::optional<RunMode> remembered_run_mode(const StateDir& dir) {
  std::ifstream in(mode_file(dir));
  std::string word;
  if (!std::getline(in, word)) return std::nullopt;
  if (word == "ask") return RunMode::ask;
  if (word == "auto") return RunMode::automatic;
  return std::nullopt;
}

void remember_run_mode(const StateDir& dir, RunMode mode) {
  const std::string tmp = mode_file(dir) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << (mode == RunMode::ask ? "ask" : "auto") << '\n';
    if (!out.flush()) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, mode_file(dir), ec);
}

}  // namespace br
