#include "actors/worker/remote_commits.hpp"

#include <algorithm>
#include <mutex>
#include <tuple>

namespace br {

Result<GitRepo> open_worker_repository(const std::filesystem::path& workspace) {
  // The slots of one br-worker share its workspace and open it at their first batches, which
  // may come at once: two creating it together fail on git's config.lock, or one sees the
  // other's half-made repository as "other files".
  static std::mutex creating;
  const std::lock_guard<std::mutex> lock(creating);
  std::error_code ec;
  // This folder's own repository only: one found in a folder above it (the workspace may lie
  // inside some checkout) is not the worker's.
  if (std::filesystem::exists(workspace / ".git", ec)) return GitRepo::open(workspace);
  if (std::filesystem::exists(workspace / "HEAD", ec) &&
      std::filesystem::is_directory(workspace / "objects", ec)) {
    return GitRepo::open_or_init_bare(workspace);  // a bare repository, e.g. made here before
  }
  const bool empty = !std::filesystem::exists(workspace, ec) ||
                     std::filesystem::is_empty(workspace, ec);
  if (!empty) {
    return Error::of(workspace.string() +
                     ": the workspace of a br-worker is its git repository, and this folder "
                     "holds other files; give an empty folder (it is filled from the "
                     "coordinator) or a clone of the project");
  }
  return GitRepo::open_or_init_bare(workspace);
}

void attach_pack(const GitRepo& repo, const CommitId& base, std::uint64_t max_bytes,
                 std::vector<TaskResult>& results) {
  auto first = std::min_element(results.begin(), results.end(),
                                [](const TaskResult& a, const TaskResult& b) {
                                  return std::tie(a.task, a.attempt) < std::tie(b.task, b.attempt);
                                });
  if (first == results.end() || first->commit.empty()) return;
  auto pack = repo.pack_objects(first->commit, {base});
  std::string why;
  if (!pack) {
    why = "packing the attempt's commit: " + pack.error().str();
  } else if (pack->size() > max_bytes) {
    why = "the change is " + std::to_string(pack->size()) +
          " bytes of git objects, over limits.change_max_bytes (" + std::to_string(max_bytes) +
          "); split the task or raise the limit";
  }
  if (why.empty()) {
    first->pack = std::move(*pack);
    return;
  }
  for (auto& r : results) {
    r.success = false;
    r.reason = why;
    r.commit.clear();
  }
}

}  // namespace br
