#include "coordinator/run_control.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

namespace br {

namespace {

std::string stop_file(const StateDir& dir) { return dir.control() + "/stop"; }

constexpr std::string_view kCancelPrefix = "cancel-";
constexpr std::size_t kMaxRequestBytes = 1 << 20;  // a request is a list of task ids

// Writes `text` to `file` whole: a temporary file in the control folder (0700), renamed.
Status write_request(const StateDir& dir, const std::string& file, const std::string& text) {
  if (::mkdir(dir.control().c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::of(dir.control() + ": " + std::strerror(errno), ErrorCategory::infrastructure);
  }
  const std::string temp = dir.control() + "/.tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      return Error::of(temp + ": cannot write the request", ErrorCategory::infrastructure);
    }
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    return Error::of(file + ": " + why, ErrorCategory::infrastructure);
  }
  return Ok{};
}

// Whether requests in the control folder come from the run's user: the folder is a directory
// (not a link to one), owned by this process's user, and nobody else may write or enter it.
bool control_trusted(const StateDir& dir) {
  struct stat st {};
  return ::lstat(dir.control().c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
}

}  // namespace

std::string reader_command(const StateDir& dir) { return "br --state-dir " + shell_word(dir.root); }

Status own_control(const StateDir& dir) {
  const std::string& path = dir.control();
  if (::mkdir(path.c_str(), 0700) == 0) return Ok{};
  if (errno != EEXIST) {
    return Error::of(path + ": " + std::strerror(errno), ErrorCategory::infrastructure);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error::of(path + ": not a folder; remove it so that br stop and br cancel can reach "
                            "the run",
                     ErrorCategory::infrastructure);
  }
  if (st.st_uid != ::geteuid()) {
    return Error::of(path + ": owned by user " + std::to_string(st.st_uid) + ", not by this "
                            "run's; remove it so that br stop and br cancel can reach the run",
                     ErrorCategory::infrastructure);
  }
  if ((st.st_mode & 077) != 0) {
    if (::chmod(path.c_str(), 0700) != 0) {
      return Error::of(path + ": " + std::strerror(errno), ErrorCategory::infrastructure);
    }
    // Requests left while others could write there are not taken as this run's.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return Ok{};
}

std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("/._-+=:,@", c) != nullptr;
  });
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Status request_stop(const StateDir& dir, const std::string& who) {
  return write_request(dir, stop_file(dir), who + "\n");
}

Status request_cancel(const StateDir& dir, const std::set<std::string>& tasks,
                      const std::string& who) {
  std::string text = who + "\n";
  for (const auto& id : tasks) text += id + "\n";
  static unsigned sequence = 0;
  const std::string file = dir.control() + "/" + std::string(kCancelPrefix) +
                           std::to_string(::getpid()) + "-" + std::to_string(++sequence);
  return write_request(dir, file, text);
}

std::vector<CancelRequest> take_cancel_requests(const StateDir& dir) {
  std::vector<CancelRequest> out;
  if (!control_trusted(dir)) return out;  // none, or not the run's own: nobody it trusts asked
  std::error_code ec;
  std::filesystem::directory_iterator it(dir.control(), ec);
  if (ec) return out;  // no control folder: nobody asked anything
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kCancelPrefix, 0) != 0) continue;
    CancelRequest request;
    {
      std::ifstream in(entry.path(), std::ios::binary);
      std::size_t bytes = 0;
      std::string line;
      if (std::getline(in, line)) request.who = line.substr(0, 200);
      while (std::getline(in, line) && (bytes += line.size() + 1) <= kMaxRequestBytes) {
        if (!line.empty()) request.tasks.insert(line);
      }
    }
    std::filesystem::remove(entry.path(), ec);
    if (!request.tasks.empty()) out.push_back(std::move(request));
  }
  return out;
}

std::optional<std::string> take_stop_request(const StateDir& dir) {
  const std::string file = stop_file(dir);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;  // the usual case: one stat
  if (!control_trusted(dir)) return std::nullopt;
  std::string who;
  {
    std::ifstream in(file, std::ios::binary);
    std::getline(in, who);
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
  if (who.size() > 200) who.resize(200);  // anyone with the state dir wrote it: keep it short
  return who.empty() ? std::string("br stop") : who;
}

}  // namespace br
