#include "coordinator/live_status.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/state_views.hpp"

namespace br {
namespace {

std::string status_file(const StateDir& dir) { return dir.root + "/status.json"; }

}  // namespace

std::optional<long> journal_lock_holder(const std::string& journal_dir) {
  const std::string lock = journal_dir + "/LOCK";
  const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock query {};
  query.l_type = F_WRLCK;  // would a writer get it? If not, who holds it
  query.l_whence = SEEK_SET;
  query.l_start = 0;
  query.l_len = 0;
  const int got = ::fcntl(fd, F_GETLK, &query);
  ::close(fd);
  if (got != 0 || query.l_type == F_UNLCK) return std::nullopt;
  return static_cast<long>(query.l_pid);
}

std::uint64_t journal_bytes(const std::string& journal_dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(journal_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code size_ec;
    const auto size = it->file_size(size_ec);
    if (!size_ec) total += size;
  }
  return total;
}

LiveStatusWriter::LiveStatusWriter(const StateDir& dir, std::int64_t interval_ms)
    : path_(status_file(dir)), journal_dir_(dir.journal()), interval_ms_(interval_ms) {}

void LiveStatusWriter::update(const RunState& state, std::uint64_t last_seq, std::int64_t now_ms,
                              bool force) {
  if (!force && now_ms - last_ms_ < interval_ms_) return;
  last_ms_ = now_ms;
  nlohmann::json doc = status_json(state);
  doc["last_seq"] = last_seq;
  doc["journal_bytes"] = journal_bytes(journal_dir_);
  doc["live"] = true;
  doc["pid"] = static_cast<long>(::getpid());
  doc["updated_ms"] = now_ms;
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << doc.dump() << '\n';
    if (!out.flush()) return;  // a view only: a full disk must not stop the run
  }
  std::rename(tmp.c_str(), path_.c_str());
}

void LiveStatusWriter::remove() { std::remove(path_.c_str()); }

std::optional<nlohmann::json> read_live_status(const StateDir& dir) {
  const auto holder = journal_lock_holder(dir.journal());
  if (!holder) return std::nullopt;
  std::ifstream in(status_file(dir), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.value("version", 0) != kJsonVersion) return std::nullopt;
  // Written by the process that holds the journal, not by one before it that died.
  if (doc.value("pid", 0L) != *holder) return std::nullopt;
  return doc;
}

}  // namespace br
