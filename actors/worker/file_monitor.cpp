#include "actors/worker/file_monitor.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "actors/worker/workspace_path.hpp"

namespace br {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint32_t kWatchMask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
                                     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

Result<std::vector<fs::path>> resolve_all(const fs::path& workspace,
                                          const std::vector<std::string>& files) {
  std::vector<fs::path> out;
  Error errors;
  for (const auto& f : files) {
    auto p = resolve_in_workspace(workspace, f);
    if (p.ok()) {
      out.push_back(p.value());
    } else {
      errors.diagnostics.insert(errors.diagnostics.end(), p.error().diagnostics.begin(),
                                p.error().diagnostics.end());
    }
  }
  if (!errors.diagnostics.empty()) return errors;
  return out;
}

fs::path nearest_existing_dir(fs::path p) {
  std::error_code ec;
  p = p.parent_path();
  while (!p.empty() && !fs::is_directory(p, ec)) {
    const fs::path up = p.parent_path();
    if (up == p) break;
    p = up;
  }
  return p;
}

}  // namespace

Result<std::vector<std::string>> missing_files(const fs::path& workspace,
                                               const std::vector<std::string>& files) {
  auto paths = resolve_all(workspace, files);
  if (!paths.ok()) return paths.error();
  std::vector<std::string> missing;
  std::error_code ec;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!fs::exists(paths.value()[i], ec)) missing.push_back(files[i]);
  }
  return missing;
}

Result<FileWait> wait_for_files(const fs::path& workspace, const std::vector<std::string>& files,
                                std::int64_t timeout_ms, int wake_fd) {
  auto paths = resolve_all(workspace, files);
  if (!paths.ok()) return paths.error();
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(timeout_ms, 0));

  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return Error::of(std::string("inotify_init1 failed: ") + std::strerror(errno) +
                     " (raise fs.inotify.max_user_instances)");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  FileWait result;
  std::error_code ec;
  alignas(inotify_event) char buf[16384];
  while (true) {
    // Arm first, then look: a file created in between is either seen now or raises an event.
    for (const auto& p : paths.value()) {
      if (fs::exists(p, ec)) continue;
      const fs::path dir = nearest_existing_dir(p);
      if (!dir.empty()) ::inotify_add_watch(fd, dir.c_str(), kWatchMask);
    }
    result.missing.clear();
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!fs::exists(paths.value()[i], ec)) result.missing.push_back(files[i]);
    }
    if (result.missing.empty()) return result;

    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return result;
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int ready =
        ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(std::min<std::int64_t>(left, 1 << 30)));
    if (ready < 0 && errno != EINTR) {
      return Error::of(std::string("poll failed while waiting for files: ") + std::strerror(errno));
    }
    if (wake_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      result.woken = true;
      result.missing.clear();
      for (std::size_t i = 0; i < files.size(); ++i) {
        if (!fs::exists(paths.value()[i], ec)) result.missing.push_back(files[i]);
      }
      return result;
    }
    while (::read(fd, buf, sizeof buf) > 0) {
      // The events only say "something changed"; the next round looks at the files.
    }
  }
}

}  // namespace br
