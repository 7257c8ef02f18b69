#include "actors/worker/context_manager.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

namespace br {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxFilesNamed = 20;
constexpr std::string_view kHeader = "br-context 1";

// Titles and paths go on one line each in prompts.
std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

std::string render_full(const CompletedWork& w) {
  std::string out = "- " + w.task.str() + ": " + one_line(w.title) + "\n";
  if (w.files.empty()) return out;
  out += "  files: ";
  const std::size_t named = std::min(w.files.size(), kMaxFilesNamed);
  for (std::size_t i = 0; i < named; ++i) {
    if (i > 0) out += ", ";
    out += one_line(w.files[i]);
  }
  if (w.files.size() > named) out += " (+" + std::to_string(w.files.size() - named) + " more)";
  out += "\n";
  return out;
}

std::string render_summary(const CompletedWork& w) {
  return "- " + w.task.str() + ": " + one_line(w.title) + " (" + std::to_string(w.files.size()) +
         (w.files.size() == 1 ? " file)\n" : " files)\n");
}

std::string omitted_line(std::size_t n) {
  if (n == 0) return {};
  return "- (" + std::to_string(n) +
         (n == 1 ? " older entry omitted)\n" : " older entries omitted)\n");
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      default: out += ch;
    }
  }
  return out;
}

bool unescape(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) return false;
    switch (s[i]) {
      case '\\': out += '\\'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      default: return false;
    }
  }
  return true;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const auto tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

Status write_file_atomically(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error::of("cannot write " + tmp.string() + ": " + std::strerror(errno) +
                     " (check the state dir is writable)");
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error::of("cannot write " + tmp.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  // No fsync: the context only improves prompts, it is saved after every batch on the
  // worker's critical path, and a file lost or torn by a power cut loads as an error that the
  // worker answers by starting with an empty context. The rename still keeps readers from
  // ever seeing a half-written file.
  if (::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Error::of("cannot write " + tmp.string() + ": " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Error::of("cannot rename " + tmp.string() + " to " + path.string() + ": " + why);
  }
  return Ok{};
}

}  // namespace

CompletedRefs refs_to(const std::vector<CompletedWork>& entries) {
  CompletedRefs refs;
  refs.reserve(entries.size());
  for (const auto& e : entries) refs.push_back(&e);
  return refs;
}

FittedContext fit_context(const std::vector<CompletedWork>& oldest_first, std::string_view heading,
                          std::size_t max_bytes, std::string_view label, std::size_t older) {
  return fit_context(refs_to(oldest_first), heading, max_bytes, label, older);
}

FittedContext fit_context(const CompletedRefs& oldest_first, std::string_view heading,
                          std::size_t max_bytes, std::string_view label, std::size_t older) {
  FittedContext out;
  const std::string section(label);
  if (oldest_first.empty()) {
    if (older > 0) out.cut.push_back(section + ": " + std::to_string(older) + " older entries dropped");
    return out;
  }
  const std::string head = std::string(heading) + "\n";
  // Newest first, each in its shortest form, until they alone overflow: every entry older
  // than that is dropped by the rules below whatever it holds, so it is not rendered at all.
  std::size_t first = oldest_first.size();
  for (std::size_t shortest = head.size(); first > 0 && shortest <= max_bytes;) {
    const CompletedWork& e = *oldest_first[--first];
    shortest += std::min(render_summary(e).size(), render_full(e).size());
  }
  const std::size_t skipped = first;
  const std::size_t n = oldest_first.size() - skipped;
  std::vector<std::string> full(n), summary(n);
  std::vector<ContextDetail> detail(n, ContextDetail::full);
  std::size_t body = 0;
  for (std::size_t i = 0; i < n; ++i) {
    full[i] = render_full(*oldest_first[skipped + i]);
    summary[i] = render_summary(*oldest_first[skipped + i]);
    body += full[i].size();
  }
  std::size_t dropped = older + skipped;
  auto total = [&] { return head.size() + body + omitted_line(dropped).size(); };

  for (std::size_t i = 0; i < n && total() > max_bytes; ++i) {
    if (full[i].size() <= summary[i].size()) continue;  // already as short as it gets
    body -= full[i].size() - summary[i].size();
    detail[i] = ContextDetail::summary;
  }
  for (std::size_t i = 0; i < n && total() > max_bytes; ++i) {
    body -= detail[i] == ContextDetail::full ? full[i].size() : summary[i].size();
    detail[i] = ContextDetail::dropped;
    ++dropped;
  }

  if (dropped == n + older + skipped) {
    out.cut.push_back(section + ": all " + std::to_string(dropped) +
                      " entries dropped to fit the budget");
    return out;
  }
  out.text = head;
  out.text += omitted_line(dropped);
  if (older + skipped > 0) {
    out.cut.push_back(section + ": " + std::to_string(older + skipped) + " older entries dropped");
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::string cut = section;  // "<section> <task id>: what happened to it"
    cut += ' ';
    cut += oldest_first[skipped + i]->task.str();
    switch (detail[i]) {
      case ContextDetail::full: out.text += full[i]; break;
      case ContextDetail::summary:
        out.text += summary[i];
        out.cut.push_back(cut + ": shortened to a summary");
        break;
      case ContextDetail::dropped: out.cut.push_back(cut + ": dropped"); break;
    }
  }
  return out;
}

ContextManager::ContextManager(std::size_t max_entries)
    : max_entries_(std::max<std::size_t>(max_entries, 1)) {}

void ContextManager::record(CompletedWork work) {
  if (present_.count(work.task) > 0) {  // rare: a task recorded again
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [&](const CompletedWork& e) { return e.task == work.task; }),
                   entries_.end());
  }
  present_.insert(work.task);
  entries_.push_back(std::move(work));
  while (entries_.size() > max_entries_) {
    present_.erase(entries_.front().task);
    entries_.pop_front();
  }
}

RelevantContext ContextManager::relevant_to(const Batch& batch, std::size_t token_budget) const {
  std::set<TaskId> skip;
  for (const auto& t : batch.tasks) skip.insert(t.task.id);
  for (const auto& c : batch.completed) skip.insert(c.task);
  // Newest first, until even the shortest forms of those taken overflow the budget: fitting
  // drops every older entry whatever it holds (see fit_context).
  const std::size_t budget = bytes_for_tokens(token_budget);
  RelevantContext out;
  std::size_t scanned = 0, skipped_seen = 0, shortest = 0;
  for (auto it = entries_.rbegin(); it != entries_.rend() && shortest <= budget; ++it) {
    ++scanned;
    if (skip.count(it->task) == 0) {
      out.entries.push_back(&*it);
      shortest += min_entry_bytes(*it);
    } else {
      ++skipped_seen;
    }
  }
  std::reverse(out.entries.begin(), out.entries.end());
  // The rest, counted without a walk: each task is in entries_ at most once.
  std::size_t skip_present = 0;
  for (const auto& id : skip) skip_present += present_.count(id);
  out.older = entries_.size() - scanned - (skip_present - skipped_seen);
  return out;
}

FittedContext ContextManager::render(std::size_t token_budget) const {
  CompletedRefs all;
  all.reserve(entries_.size());
  for (const auto& e : entries_) all.push_back(&e);
  return fit_context(all, "## Completed work", bytes_for_tokens(token_budget));
}

Status ContextManager::save(const fs::path& state_dir) const {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) {
    return Error::of("cannot create state dir " + state_dir.string() + ": " + ec.message());
  }
  std::string text(kHeader);
  text += "\n";
  for (const auto& e : entries_) {
    text += "task\t" + escape(e.task.str()) + "\t" + escape(e.title) + "\n";
    for (const auto& f : e.files) text += "file\t" + escape(f) + "\n";
  }
  return write_file_atomically(state_dir / std::string(kFileName), text);
}

Result<ContextManager> ContextManager::load(const fs::path& state_dir, std::size_t max_entries) {
  const fs::path path = state_dir / std::string(kFileName);
  const std::string shown = path.string();
  ContextManager cm(max_entries);
  std::error_code ec;
  if (!fs::exists(path, ec)) return cm;
  const auto size = fs::file_size(path, ec);
  if (ec) return Error::of("cannot read " + shown + ": " + ec.message());
  if (size > kMaxFileBytes) {
    return Error::at(shown, 0,
                     "context file is " + std::to_string(size) + " bytes, over the " +
                         std::to_string(kMaxFileBytes) +
                         "-byte limit; delete it to start with empty context");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::of("cannot open " + shown + " for reading");

  std::string line;
  std::uint32_t lineno = 0;
  auto corrupt = [&](const std::string& what) {
    return Error::at(shown, lineno, what + "; the file is corrupt, delete it to start afresh");
  };
  if (!std::getline(in, line)) return cm;  // empty file: nothing remembered
  lineno = 1;
  if (line != kHeader) return corrupt("expected header '" + std::string(kHeader) + "'");

  std::string a, b;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    const auto fields = split_tabs(line);
    if (fields[0] == "task" && fields.size() == 3) {
      if (!unescape(fields[1], a) || !unescape(fields[2], b)) return corrupt("bad escape");
      if (a.empty()) return corrupt("task record without an id");
      cm.record(CompletedWork{TaskId(a), b, {}});
    } else if (fields[0] == "file" && fields.size() == 2) {
      if (cm.entries_.empty()) return corrupt("file record before any task record");
      if (!unescape(fields[1], a)) return corrupt("bad escape");
      cm.entries_.back().files.push_back(a);
    } else {
      return corrupt("unknown record '" + std::string(fields[0].substr(0, 40)) + "'");
    }
  }
  if (in.bad()) return Error::of("cannot read " + shown);
  return cm;
}

}  // namespace br
