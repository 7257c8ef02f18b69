// Waits for an agent's expected files to appear in the workspace, with inotify rather than
// polling: it watches the nearest existing ancestor of each missing file and re-arms as the
// directories below it are created.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "protocol/result.hpp"

namespace br {

struct FileWait {
  std::vector<std::string> missing;  // files still absent when the wait ended, in input order
  bool woken = false;                // ended because `wake_fd` became readable
  bool all_present() const { return missing.empty(); }
};

// The files of `files` (relative to `workspace`) that do not exist now. A path that escapes
// the workspace is an error.
Result<std::vector<std::string>> missing_files(const std::filesystem::path& workspace,
                                               const std::vector<std::string>& files);

// Returns when every file exists (at once if they already do), when `timeout_ms` has passed
// (<= 0: check once and return), or when `wake_fd` (if >= 0, e.g. a pidfd of the agent or a
// CancelSource fd) becomes readable — so it can wait for "files appear OR the agent exits".
// Files may lie in directories that do not exist yet.
Result<FileWait> wait_for_files(const std::filesystem::path& workspace,
                                const std::vector<std::string>& files, std::int64_t timeout_ms,
                                int wake_fd = -1);

}  // namespace br
