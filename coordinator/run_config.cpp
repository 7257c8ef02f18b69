#include "coordinator/run_config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/planning.hpp"

namespace br {
namespace {

namespace fs = std::filesystem;

std::string remembered_file(const StateDir& dir) { return dir.root + "/config"; }

std::string content_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  return sha256_hex(text.str());
}

}  // namespace

ChosenConfig choose_config(const std::string& given, const StateDir& dir) {
  if (!given.empty()) return {given, {}};
  std::ifstream in(remembered_file(dir));
  std::string path, hash;
  std::error_code ec;
  if (std::getline(in, path) && std::getline(in, hash) && !path.empty() &&
      fs::is_regular_file(path, ec)) {
    ChosenConfig chosen{path, "using " + path + ", the config this run was started with"};
    if (content_hash(path) != hash) chosen.note += " (it has changed since)";
    return chosen;
  }
  if (fs::is_regular_file("br.toml", ec)) return {"br.toml", {}};
  return {};
}

void remember_config(const StateDir& dir, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  const std::string absolute = fs::absolute(path, ec).lexically_normal().string();
  const std::string tmp = remembered_file(dir) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << absolute << '\n' << content_hash(path) << '\n';
    if (!out.flush()) return;
  }
  fs::rename(tmp, remembered_file(dir), ec);
}

}  // namespace br
