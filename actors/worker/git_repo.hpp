// Git through libgit2, for isolated attempts: the repository a run builds in, the worktree a
// worker slot runs its attempts in, the commit a passed attempt becomes, and the merge that
// integrates it. No CAF, no threads of its own; one GitRepo per thread (libgit2 objects are not
// shared between threads, the object database on disk is).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/worker/change_watch.hpp"
#include "protocol/model.hpp"
#include "protocol/result.hpp"

struct git_repository;

namespace br {

using CommitId = std::string;  // 40 lowercase hex digits: is_commit_id() in protocol/model.hpp

struct Signature {
  std::string name = "br";
  std::string email = "br@localhost";
};

// What merging a commit into a branch head did.
struct MergeOutcome {
  enum class Kind { kFastForward, kMerged, kAlreadyMerged, kConflict };
  Kind kind = Kind::kConflict;
  CommitId head;                       // the new head (unset for a conflict)
  std::vector<std::string> conflicts;  // paths both sides changed differently
};

// How a file changed in a commit, against its first parent.
struct FileChange {
  char status = 'M';  // 'A'dded, 'M'odified, 'D'eleted, 'R'enamed
  std::string path;
  std::size_t added_lines = 0, deleted_lines = 0;
};

class GitRepo {
 public:
  // The repository whose work tree is, or contains, `dir`.
  static Result<GitRepo> open(const std::filesystem::path& dir);
  // A repository at `dir` with no work tree of its own (a br-worker's object store), created
  // when missing.
  static Result<GitRepo> open_or_init_bare(const std::filesystem::path& dir);
  // The repository at `dir`, created there when `dir` is not in one: every file present
  // (minus `exclude`, added to .git/info/exclude) becomes its first commit on HEAD's branch.
  // `created` tells which happened.
  static Result<GitRepo> open_or_init(const std::filesystem::path& dir,
                                      const std::vector<std::string>& exclude, const Signature& who,
                                      bool* created);

  GitRepo(GitRepo&& other) noexcept;
  GitRepo& operator=(GitRepo&& other) noexcept;
  GitRepo(const GitRepo&) = delete;
  GitRepo& operator=(const GitRepo&) = delete;
  ~GitRepo();

  static bool is_valid_branch_name(const std::string& name);

  std::filesystem::path workdir() const;  // empty for a bare repository
  std::filesystem::path git_dir() const;

  // The commit HEAD names; an error for a repository with no commit yet.
  Result<CommitId> head() const;
  // Whether the working tree differs from HEAD in a tracked file (what a run will not see).
  bool has_uncommitted_changes() const;
  // The commit branch `name` (short name, e.g. "br/run-1") points at, or nullopt.
  Result<std::optional<CommitId>> branch(const std::string& name) const;
  // Points branch `name` at `commit`, creating or moving it (never the checked-out branch).
  Status set_branch(const std::string& name, const CommitId& commit);
  // Points an arbitrary reference (e.g. "refs/br/failed/…") at `commit`.
  Status set_ref(const std::string& ref, const CommitId& commit);
  Status delete_ref(const std::string& ref);
  // The commit a full reference name points at, or nullopt.
  Result<std::optional<CommitId>> ref_commit(const std::string& ref) const;
  bool has_commit(const CommitId& commit) const;
  // Whether `ancestor` is `descendant` or one of its ancestors.
  Result<bool> is_ancestor(const CommitId& ancestor, const CommitId& descendant) const;

  // Integrates `theirs` into `ours` without touching any work tree: a fast-forward when `ours`
  // is an ancestor of `theirs`, else a three-way merge whose commit has both as parents.
  Result<MergeOutcome> merge(const CommitId& ours, const CommitId& theirs,
                             const std::string& message, const Signature& who);

  // The files `commit` changed against its first parent (against nothing for a root commit).
  Result<std::vector<FileChange>> changes(const CommitId& commit) const;
  // The patch of `commit` against its first parent, as `git show` prints it (without header).
  Result<std::string> patch(const CommitId& commit) const;
  Result<std::string> message(const CommitId& commit) const;
  Result<std::vector<CommitId>> parents(const CommitId& commit) const;

  // Commits travel between hosts as packs (git's own transfer format). The objects of `want`
  // and its history, minus what is reachable from those of `haves` this repository holds:
  // what a repository that has `haves` lacks to have `want`.
  Result<std::string> pack_objects(const CommitId& want, const std::vector<CommitId>& haves) const;
  // Adds a pack's objects (each one's hash checked) to this repository; nothing of a pack
  // that does not index is kept.
  Status index_pack(const std::string& pack);
  // Checks a commit received from elsewhere against its parent: every object it adds is here,
  // and no path it touches leaves the tree (no "..", ".", ".git" or empty part, no symlink that
  // points outside). Without it a forged tree would reach the branch and, through it, the
  // user's checkout.
  Status check_received(const CommitId& commit) const;

  git_repository* raw() const { return repo_; }

 private:
  explicit GitRepo(git_repository* repo) : repo_(repo) {}
  git_repository* repo_ = nullptr;
};

// A git worktree of `repo`, kept by one worker slot and reused from attempt to attempt: each
// attempt starts with reset_to(base), which rewrites only the files that differ and removes
// everything else (untracked and ignored files included), so no attempt sees another's work.
class Worktree {
 public:
  // The worktree registered as `name` at `dir`, added at `at` when missing (a stale
  // registration, e.g. left by a crash, is pruned and the worktree added again).
  static Result<Worktree> open(const GitRepo& repo, const std::string& name,
                               const std::filesystem::path& dir, const CommitId& at);

  Worktree(Worktree&& other) noexcept;
  Worktree& operator=(Worktree&& other) noexcept;
  Worktree(const Worktree&) = delete;
  Worktree& operator=(const Worktree&) = delete;
  ~Worktree();

  const std::filesystem::path& dir() const { return dir_; }

  // Makes the tree exactly `commit` (HEAD detached there). Right after commit_all only the
  // files that differ are written; otherwise the whole tree is compared and cleaned.
  Status reset_to(const CommitId& commit);
  // Commits every change since reset_to (new, modified and deleted files, .gitignore obeyed)
  // with `base` as parent; nullopt when nothing changed. `changed`, what a ChangeWatch started
  // right after reset_to saw, spares the walk of every file: only those paths are looked at.
  Result<std::optional<CommitId>> commit_all(const CommitId& base, const std::string& message,
                                             const Signature& who,
                                             const ChangedPaths* changed = nullptr);

  // Removes the worktree's files and its registration in the repository.
  static Status remove(const GitRepo& repo, const std::string& name,
                       const std::filesystem::path& dir);

 private:
  Worktree(git_repository* repo, std::filesystem::path dir) : repo_(repo), dir_(std::move(dir)) {}
  std::filesystem::path clean_marker() const;
  // HEAD, if the files were marked clean there; the mark is gone either way.
  std::optional<CommitId> take_clean_mark();
  void mark_clean();
  git_repository* repo_ = nullptr;  // the worktree opened as a repository
  std::filesystem::path dir_;
};

}  // namespace br
