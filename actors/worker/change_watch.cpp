#include "actors/worker/change_watch.hpp"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace br {

namespace {

// Every change that can alter what a commit of the folder holds: content, existence, name and
// mode. Writes through mmap are seen when the file is closed (IN_CLOSE_WRITE).
constexpr std::uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB |
                                  IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                  IN_ONLYDIR | IN_DONT_FOLLOW;

bool is_folder(const std::filesystem::path& parent, const dirent* entry) {
  if (entry->d_type != DT_UNKNOWN) return entry->d_type == DT_DIR;
  struct stat st {};
  const auto path = parent / entry->d_name;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

ChangeWatch ChangeWatch::start(const std::filesystem::path& root) {
  ChangeWatch watch;
  watch.fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);  // not inherited by the agent
  if (watch.fd_ < 0) return watch;
  // Folders created later need no watch of their own: their creation is seen in a watched
  // parent, and collect() names them to be read again in full.
  std::vector<std::string> pending{""};
  while (!pending.empty() && !watch.lost_) {
    const std::string folder = std::move(pending.back());
    pending.pop_back();
    const std::filesystem::path dir = folder.empty() ? root : root / folder;
    const int wd = ::inotify_add_watch(watch.fd_, dir.c_str(), kEvents);
    DIR* listing = wd < 0 ? nullptr : ::opendir(dir.c_str());
    if (listing == nullptr) {
      watch.lost_ = true;  // ENOSPC (the watch limit), or the folder went meanwhile
      break;
    }
    watch.folder_of_[wd] = folder;
    while (const dirent* entry = ::readdir(listing)) {
      const std::string_view name = entry->d_name;
      if (name == "." || name == ".." || name == ".git") continue;
      if (is_folder(dir, entry))
        pending.push_back(folder.empty() ? std::string(name) : folder + "/" + std::string(name));
    }
    ::closedir(listing);
  }
  return watch;
}

ChangeWatch::ChangeWatch(ChangeWatch&& other) noexcept
    : fd_(other.fd_),
      lost_(other.lost_),
      folder_of_(std::move(other.folder_of_)),
      seen_(std::move(other.seen_)) {
  other.fd_ = -1;
}

ChangeWatch& ChangeWatch::operator=(ChangeWatch&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(lost_, other.lost_);
  std::swap(folder_of_, other.folder_of_);
  std::swap(seen_, other.seen_);
  return *this;
}

ChangeWatch::~ChangeWatch() {
  if (fd_ >= 0) ::close(fd_);
}

void ChangeWatch::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: nothing more queued
    for (ssize_t at = 0; at < n;) {
      inotify_event event{};
      std::memcpy(&event, buf + at, sizeof event);
      const char* name = buf + at + sizeof(inotify_event);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event.len);
      if ((event.mask & IN_Q_OVERFLOW) != 0) {
        lost_ = true;
        continue;
      }
      const auto folder = folder_of_.find(event.wd);
      if (folder == folder_of_.end()) continue;
      if (folder->second.empty() &&
          (event.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) != 0) {
        lost_ = true;  // the root itself moved or went: nothing below is known any more
        continue;
      }
      if (event.len == 0) continue;  // about a watched folder itself: its parent saw it too
      const std::string_view leaf(name, ::strnlen(name, event.len));
      if (leaf == ".git") {
        lost_ = true;  // a repository of its own, or the worktree's link: let git judge
        continue;
      }
      std::string path =
          folder->second.empty() ? std::string(leaf) : folder->second + "/" + std::string(leaf);
      if ((event.mask & IN_ISDIR) == 0) {
        seen_.files.push_back(std::move(path));
      } else if ((event.mask & IN_ATTRIB) == 0) {
        seen_.folders.push_back(std::move(path));  // a folder's mode is not in a commit
      }
    }
  }
}

std::optional<ChangedPaths> ChangeWatch::collect() {
  if (fd_ < 0 || lost_) return std::nullopt;
  drain();
  if (lost_) return std::nullopt;
  sort_unique(seen_.files);
  sort_unique(seen_.folders);
  return seen_;
}

}  // namespace br
