// What an attempt changed in its worktree, seen with inotify while the agent worked, so that
// committing it does not stat every file of the repository (at 5,000 files that walk was most
// of an attempt's cost on disk). Linux only; when inotify cannot follow, the answer is
// "unknown" and the caller walks the tree as before.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace br {

// Paths relative to the watched root, '/'-separated.
struct ChangedPaths {
  std::vector<std::string> files;    // created, written, removed, renamed or chmod'ed
  std::vector<std::string> folders;  // created, removed or renamed: read again in full
};

class ChangeWatch {
 public:
  // Watches `root` and every folder below it (none named .git) from now on. A watch that
  // cannot be set up (no inotify instance left, the watch limit reached) is one whose
  // collect() says unknown.
  static ChangeWatch start(const std::filesystem::path& root);

  ChangeWatch() = default;
  ChangeWatch(ChangeWatch&& other) noexcept;
  ChangeWatch& operator=(ChangeWatch&& other) noexcept;
  ChangeWatch(const ChangeWatch&) = delete;
  ChangeWatch& operator=(const ChangeWatch&) = delete;
  ~ChangeWatch();

  // Everything changed since start(), or nullopt when that is not known for sure: the event
  // queue overflowed, the root itself moved or went, or a path named .git changed. Events
  // keep accumulating, so a later call returns a superset.
  std::optional<ChangedPaths> collect();

 private:
  void drain();
  int fd_ = -1;
  bool lost_ = false;
  std::unordered_map<int, std::string> folder_of_;  // watch descriptor → folder ("" = root)
  ChangedPaths seen_;
};

}  // namespace br
