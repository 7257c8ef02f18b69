// The git side of an isolated run, as the coordinator sees it: the repository and base commit
// a new run starts from, the integration branch, the merge of each passed attempt (the
// Integration the run tracker asks), and the branch that follows the journal: moved only
// once a success naming the new head is durable, and set back to the journaled head when a
// run resumes (objects written → record journaled → ref moved, so a crash at any point
// leaves a branch that a restart can make right).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/graph/integration.hpp"
#include "actors/worker/git_repo.hpp"
#include "protocol/config.hpp"
#include "protocol/run_state.hpp"

namespace br {

// Where a new isolated run starts.
struct RunBase {
  std::filesystem::path repo;      // the repository's work tree
  CommitId base;                   // its HEAD when the run began
  std::vector<std::string> notes;  // things the user should know (a repository was made, …)
};

// Opens the workspace's repository, or makes one there of the files present (the state dir
// left out), and checks that `branch_template` can name a branch. Touches nothing else.
Result<RunBase> open_run_base(const Config& config, const std::filesystem::path& state_dir);

// The workspace folder made if missing and checked to be a folder this process may write:
// before a run has a journal (a run without isolation works in it; open_run_base checks it).
Status usable_workspace_folder(const Config& config);

// The integration branch of run `run_id`: the template with {run} replaced.
std::string branch_name(const std::string& branch_template, const std::string& run_id);

// Creates the run's branch at its base; a branch of that name that already exists is refused
// (it belongs to something else), unless it already points at `base`.
Status create_run_branch(const std::filesystem::path& repo, const std::string& branch,
                         const CommitId& base);

// Merges passed attempts for the run tracker. A commit it refused stays refused, so the other
// results of the same attempt (one per task) fail alike.
// A result from another host brings its commit's objects as a pack: it is indexed (each
// object's hash checked), and refused unless it is at most `change_max_bytes`, holds the commit
// and every object the commit adds, and changes no path outside the tree.
class GitIntegration final : public Integration {
 public:
  static Result<std::unique_ptr<GitIntegration>> open(const std::filesystem::path& repo,
                                                      const std::string& branch,
                                                      std::uint64_t change_max_bytes =
                                                          LimitsConfig{}.change_max_bytes);
  Result<Integrated> integrate(const std::string& head, const TaskResult& result) override;

 private:
  GitIntegration(GitRepo repo, std::string branch, std::uint64_t change_max_bytes)
      : repo_(std::move(repo)), branch_(std::move(branch)), change_max_bytes_(change_max_bytes) {}
  Status receive(const TaskResult& result);
  GitRepo repo_;
  std::string branch_;
  std::uint64_t change_max_bytes_;
  std::map<CommitId, std::string> refused_;
};

// Serves the objects of the run's commits to br-workers on other hosts, which need no clone:
// the pack of what a worker lacks for a commit, in chunks that fit a message. The last few
// packs are kept, so the chunks of one pack come from one build of it.
class ObjectServer {
 public:
  static Result<std::unique_ptr<ObjectServer>> open(const std::filesystem::path& repo,
                                                    std::size_t chunk_bytes);
  ObjectsChunk serve(const ObjectsRequest& request);

 private:
  struct Pack {
    std::string key;  // want and haves
    std::string id;   // the pack's own checksum, hex
    std::string bytes;
  };
  ObjectServer(GitRepo repo, std::size_t chunk_bytes)
      : repo_(std::move(repo)), chunk_bytes_(chunk_bytes) {}
  GitRepo repo_;
  std::size_t chunk_bytes_;
  std::vector<Pack> recent_;  // newest last
};

// Moves the branch to the head the journal holds. Called with each durable group of records
// and once when a run resumes.
class BranchFollower {
 public:
  static Result<BranchFollower> open(const std::filesystem::path& repo, std::string branch);
  Status follow(const std::vector<JournalRecord>& durable);
  Status set(const CommitId& head);
  const std::string& branch() const { return branch_; }
  const CommitId& head() const { return head_; }

 private:
  BranchFollower(GitRepo repo, std::string branch)
      : repo_(std::move(repo)), branch_(std::move(branch)) {}
  GitRepo repo_;
  std::string branch_;
  CommitId head_;
};

// Removes the worktrees of earlier coordinators (a crash leaves them): every slot makes its
// own again at its next attempt.
void remove_stale_worktrees(const std::filesystem::path& repo,
                            const std::filesystem::path& worktrees_dir);

// What `br task diff TASK` prints: the commit of the task's passed attempt (or of its last
// failed one, kept on refs/br/failed/…), its message, files changed and patch. `repo`
// overrides the repository the journal names (when it moved); empty: that one.
Result<std::string> task_diff_text(const RunState& state, const TaskId& task,
                                   const std::string& repo);

// "N commits on br/…; take them with: git merge br/…" for the end of a run.
std::string result_summary(const RunState& state);

}  // namespace br
