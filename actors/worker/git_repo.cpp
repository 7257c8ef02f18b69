#include "actors/worker/git_repo.hpp"

#include <dirent.h>
#include <git2.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_set>

// LeakSanitizer builds: libgit2 1.5 (Debian) leaks allocations of its pcre2 regex backend,
// about 112 bytes per call on some paths (every report's stack ends in libpcre2-8). Those are
// the library's, not br's; this hook hides exactly them, so every other leak still fails a
// test. It lives here, in the only file that calls libgit2, so every program that can hit
// the leak carries it.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BR_LSAN_HOOK 1
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define BR_LSAN_HOOK 1
#endif
#ifdef BR_LSAN_HOOK
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }
// Without this, each such exit appends a table of the suppressions used to stderr, which is
// not br's output (a test that checks exactly what `br run --quiet` prints failed on it).
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
#endif

namespace br {
namespace {

// libgit2 is initialised once per process and never shut down: worker threads and the
// coordinator open repositories at any time until exit.
void ensure_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // By default every tree written checks that each object it names exists: one stat or
    // open per file of the project, per commit and per merge (5,000 files: ~80 ms a merge).
    // br writes trees only from an index it just filled, or from a merge of trees it has.
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
  });
}

Error git_failure(const std::string& what) {
  const git_error* e = git_error_last();
  return Error::of(what + ": " +
                   (e != nullptr && e->message != nullptr ? e->message : "git error"));
}

template <class T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;

using CommitPtr = Owned<git_commit, git_commit_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using IndexPtr = Owned<git_index, git_index_free>;
using RefPtr = Owned<git_reference, git_reference_free>;
using SigPtr = Owned<git_signature, git_signature_free>;
using DiffPtr = Owned<git_diff, git_diff_free>;
using PatchPtr = Owned<git_patch, git_patch_free>;
using WorktreePtr = Owned<git_worktree, git_worktree_free>;
using RepoPtr = Owned<git_repository, git_repository_free>;

std::string to_hex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

Result<git_oid> parse_oid(const CommitId& id) {
  git_oid oid;
  if (!is_commit_id(id) || git_oid_fromstr(&oid, id.c_str()) != 0) {
    return Error::of("not a commit id: '" + id.substr(0, 64) + "'");
  }
  return oid;
}

Result<CommitPtr> lookup_commit(git_repository* repo, const CommitId& id) {
  auto oid = parse_oid(id);
  if (!oid) return oid.error();
  git_commit* c = nullptr;
  if (git_commit_lookup(&c, repo, &*oid) != 0) return git_failure("commit " + id);
  return CommitPtr(c);
}

Result<SigPtr> signature(const Signature& who) {
  git_signature* sig = nullptr;
  if (git_signature_now(&sig, who.name.c_str(), who.email.c_str()) != 0) {
    return git_failure("signature");
  }
  return SigPtr(sig);
}

Result<CommitId> create_commit(git_repository* repo, const char* update_ref, const git_oid& tree_id,
                               const std::vector<const git_commit*>& parents,
                               const std::string& message, const Signature& who) {
  git_tree* tree = nullptr;
  if (git_tree_lookup(&tree, repo, &tree_id) != 0) return git_failure("tree");
  TreePtr owned_tree(tree);
  auto sig = signature(who);
  if (!sig) return sig.error();
  git_oid id;
  std::vector<const git_commit*> list = parents;
  if (git_commit_create(&id, repo, update_ref, sig->get(), sig->get(), nullptr, message.c_str(),
                        tree, list.size(), list.data()) != 0) {
    return git_failure("commit");
  }
  return to_hex(id);
}

// Adds `patterns` to the repository's own exclude file (never to a .gitignore of the user's).
Status add_excludes(git_repository* repo, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return Ok{};
  const std::filesystem::path file =
      std::filesystem::path(git_repository_path(repo)) / "info" / "exclude";
  std::string existing;
  {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    existing = ss.str();
  }
  std::string add;
  for (const auto& p : patterns) {
    if (("\n" + existing).find("\n" + p + "\n") == std::string::npos) add += p + "\n";
  }
  if (add.empty()) return Ok{};
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::app);
  if (!existing.empty() && existing.back() != '\n') out << '\n';
  out << "# br's state directory: not part of the project\n" << add;
  if (!out) return Error::of(file.string() + ": cannot write");
  return Ok{};
}

void clear_first_commit_locks(git_repository* repo) {
  const std::filesystem::path git_dir = git_repository_path(repo);
  std::error_code ec;
  std::filesystem::remove(git_dir / "index.lock", ec);
  git_reference* head = nullptr;
  if (git_reference_lookup(&head, repo, "HEAD") == 0) {
    if (const char* target = git_reference_symbolic_target(head)) {
      std::filesystem::remove(git_dir / (std::string(target) + ".lock"), ec);
    }
    git_reference_free(head);
  }
}

struct Staged {
  git_oid tree;
  bool ignored_files = false;  // the work tree holds files .gitignore keeps out of the tree
};

Result<Staged> write_staged(git_index* index, Staged staged) {
  if (git_index_write(index) != 0) return git_failure("writing the index");
  if (git_index_write_tree(&staged.tree, index) != 0) return git_failure("writing the tree");
  return staged;
}

// Stages every file of the work tree (new, modified, deleted; ignored files left out) from
// one walk of it: a diff of the index against the work tree, which also refreshes the stat
// data of unchanged files. (git_index_add_all and git_index_update_all walk it once each.)
Result<Staged> stage_all(git_repository* repo) {
  git_index* raw = nullptr;
  if (git_repository_index(&raw, repo) != 0) return git_failure("index");
  IndexPtr index(raw);
  git_diff_options opts{};
  (void)git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
               GIT_DIFF_INCLUDE_IGNORED | GIT_DIFF_UPDATE_INDEX | GIT_DIFF_INCLUDE_TYPECHANGE;
  git_diff* raw_diff = nullptr;
  if (git_diff_index_to_workdir(&raw_diff, repo, index.get(), &opts) != 0) {
    return git_failure("reading the work tree");
  }
  DiffPtr diff(raw_diff);
  Staged staged;
  const std::size_t n = git_diff_num_deltas(diff.get());
  for (std::size_t i = 0; i < n; ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    if (d->status == GIT_DELTA_IGNORED) {
      staged.ignored_files = true;
      continue;
    }
    const int rc = d->status == GIT_DELTA_DELETED
                       ? git_index_remove_bypath(index.get(), d->old_file.path)
                       : git_index_add_bypath(index.get(), d->new_file.path);
    if (rc != 0) return git_failure(std::string("staging ") + d->new_file.path);
  }
  return write_staged(index.get(), staged);
}

bool tracked(git_index* index, const std::string& path) {
  return git_index_get_bypath(index, path.c_str(), 0) != nullptr;
}

bool has_tracked_below(git_index* index, const std::string& folder) {
  std::size_t pos = 0;
  return git_index_find_prefix(&pos, index, (folder + "/").c_str()) == 0;
}

bool ignored(git_repository* repo, const std::string& path) {
  int is = 0;
  return git_ignore_path_is_ignored(&is, repo, path.c_str()) == 0 && is == 1;
}

// Staging from the paths a ChangeWatch saw, each handled as the full walk would: a tracked
// file is staged as it is now (or removed), an untracked one unless .gitignore keeps it out,
// a folder is read again in full. `unsure` is set where only git's own walk knows (a nested
// repository, a file that is neither regular nor a link).
class KnownStager {
 public:
  KnownStager(git_repository* repo, git_index* index, Staged& staged)
      : repo_(repo), index_(index), staged_(staged), root_(git_repository_workdir(repo)) {}

  bool unsure() const { return unsure_; }

  Status file(const std::string& path) {
    struct stat st {};
    if (::lstat((root_ / path).c_str(), &st) != 0) {
      if (git_index_remove_bypath(index_, path.c_str()) != 0) return fail("removing", path);
      return Ok{};
    }
    if (S_ISDIR(st.st_mode)) return folder(path);
    return present_file(path, st);
  }

  // Everything below `path` as it is now: files staged, index entries of files gone removed.
  Status folder(const std::string& path);

 private:
  // A file that is there, not a folder, as lstat found it.
  Status present_file(const std::string& path, const struct stat& st) {
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      unsure_ = true;
      return Ok{};
    }
    if (!tracked(index_, path) && ignored(repo_, path)) {
      staged_.ignored_files = true;
      return Ok{};
    }
    if (git_index_add_bypath(index_, path.c_str()) != 0) return fail("staging", path);
    return Ok{};
  }

  Status walk(const std::string& path, std::vector<std::string>& present);

  Error fail(const char* what, const std::string& path) const {
    return git_failure(std::string(what) + " " + path);
  }

  git_repository* repo_;
  git_index* index_;
  Staged& staged_;
  std::filesystem::path root_;
  bool unsure_ = false;
};

Status KnownStager::folder(const std::string& path) {
  std::vector<std::string> present;
  if (auto walked = walk(path, present); !walked) return walked;
  if (git_index_get_bypath(index_, path.c_str(), 0) != nullptr) {  // it was a file
    if (git_index_remove_bypath(index_, path.c_str()) != 0) return fail("removing", path);
  }
  std::sort(present.begin(), present.end());
  const std::string prefix = path + "/";
  std::vector<std::string> gone;
  std::size_t pos = 0;
  if (git_index_find_prefix(&pos, index_, prefix.c_str()) == 0) {
    for (; pos < git_index_entrycount(index_); ++pos) {
      const std::string_view entry = git_index_get_byindex(index_, pos)->path;
      if (entry.compare(0, prefix.size(), prefix) != 0) break;
      if (!std::binary_search(present.begin(), present.end(), entry)) gone.emplace_back(entry);
    }
  }
  for (const auto& g : gone) {
    if (git_index_remove_bypath(index_, g.c_str()) != 0) return fail("removing", g);
  }
  return Ok{};
}

Status KnownStager::walk(const std::string& path, std::vector<std::string>& present) {
  DIR* listing = ::opendir((root_ / path).c_str());
  if (listing == nullptr) return Ok{};  // gone, or not a folder now: nothing below it
  std::vector<std::string> entries;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") entries.emplace_back(name);
  }
  ::closedir(listing);
  for (const auto& name : entries) {
    if (name == ".git") {
      unsure_ = true;
      return Ok{};
    }
    std::string child = path;
    child += '/';
    child += name;
    struct stat st {};
    if (::lstat((root_ / child).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (!has_tracked_below(index_, child) && ignored(repo_, child)) {
        staged_.ignored_files = true;
        continue;
      }
      if (auto below = walk(child, present); !below) return below;
      continue;
    }
    if (auto staged = present_file(child, st); !staged) return staged;
    present.push_back(child);
  }
  return Ok{};
}

bool below_any(const std::string& path, const std::unordered_set<std::string>& folders) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (folders.count(path.substr(0, slash)) != 0) return true;
  }
  return false;
}

// Stages what `changed` names, or nullopt where a full walk must decide.
Result<std::optional<Staged>> stage_known(git_repository* repo, const ChangedPaths& changed) {
  git_index* raw = nullptr;
  if (git_repository_index(&raw, repo) != 0) return git_failure("index");
  IndexPtr index(raw);
  Staged staged;
  KnownStager stager(repo, index.get(), staged);
  const std::unordered_set<std::string> folders(changed.folders.begin(), changed.folders.end());
  for (const auto& folder : changed.folders) {
    if (below_any(folder, folders)) continue;  // read with the folder above it
    if (auto done = stager.folder(folder); !done) return done.error();
  }
  for (const auto& file : changed.files) {
    if (below_any(file, folders)) continue;
    if (auto done = stager.file(file); !done) return done.error();
  }
  if (stager.unsure()) {
    (void)git_index_read(index.get(), 1);  // drop what was staged; the walk starts over
    return std::optional<Staged>();
  }
  auto written = write_staged(index.get(), staged);
  if (!written) return written.error();
  return std::optional<Staged>(*written);
}

Result<TreePtr> first_parent_tree(git_repository* repo, git_commit* commit) {
  if (git_commit_parentcount(commit) == 0) return TreePtr(nullptr);
  git_commit* parent = nullptr;
  if (git_commit_parent(&parent, commit, 0) != 0) return git_failure("parent");
  CommitPtr owned(parent);
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, parent) != 0) return git_failure("tree");
  (void)repo;
  return TreePtr(tree);
}

Result<DiffPtr> diff_to_parent(git_repository* repo, const CommitId& id) {
  auto commit = lookup_commit(repo, id);
  if (!commit) return commit.error();
  auto old_tree = first_parent_tree(repo, commit->get());
  if (!old_tree) return old_tree.error();
  git_tree* new_tree = nullptr;
  if (git_commit_tree(&new_tree, commit->get()) != 0) return git_failure("tree");
  TreePtr owned(new_tree);
  git_diff* diff = nullptr;
  git_diff_options opts{};
  (void)git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
  if (git_diff_tree_to_tree(&diff, repo, old_tree->get(), new_tree, &opts) != 0) {
    return git_failure("diff");
  }
  DiffPtr owned_diff(diff);
  git_diff_find_options find{};
  (void)git_diff_find_options_init(&find, GIT_DIFF_FIND_OPTIONS_VERSION);
  find.flags = GIT_DIFF_FIND_RENAMES;
  if (git_diff_find_similar(diff, &find) != 0) return git_failure("diff");
  return owned_diff;
}

char status_letter(git_delta_t status) {
  switch (status) {
    case GIT_DELTA_ADDED:
      return 'A';
    case GIT_DELTA_DELETED:
      return 'D';
    case GIT_DELTA_RENAMED:
      return 'R';
    default:
      return 'M';
  }
}

}  // namespace

GitRepo::GitRepo(GitRepo&& other) noexcept : repo_(other.repo_) { other.repo_ = nullptr; }

GitRepo& GitRepo::operator=(GitRepo&& other) noexcept {
  std::swap(repo_, other.repo_);
  return *this;
}

GitRepo::~GitRepo() {
  if (repo_ != nullptr) git_repository_free(repo_);
}

Result<GitRepo> GitRepo::open(const std::filesystem::path& dir) {
  ensure_libgit2();
  git_repository* repo = nullptr;
  if (git_repository_open_ext(&repo, dir.c_str(), 0, nullptr) != 0) {
    return Error::of(dir.string() + ": not in a git repository");
  }
  return GitRepo(repo);
}

Result<GitRepo> GitRepo::open_or_init_bare(const std::filesystem::path& dir) {
  ensure_libgit2();
  git_repository* repo = nullptr;
  if (git_repository_open_bare(&repo, dir.c_str()) == 0) return GitRepo(repo);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (git_repository_init(&repo, dir.c_str(), 1) != 0) {
    return git_failure(dir.string() + ": creating a repository");
  }
  return GitRepo(repo);
}

Result<GitRepo> GitRepo::open_or_init(const std::filesystem::path& dir,
                                      const std::vector<std::string>& exclude, const Signature& who,
                                      bool* created) {
  ensure_libgit2();
  *created = false;
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, dir.c_str(), 0, nullptr) != 0) {
    if (git_repository_init(&raw, dir.c_str(), 0) != 0) {
      return git_failure(dir.string() + ": creating a repository");
    }
  }
  GitRepo repo(raw);
  if (git_repository_is_bare(raw) != 0) {
    return Error::of(dir.string() + ": a bare repository has no files to build in");
  }
  if (auto added = add_excludes(raw, exclude); !added) return added.error();
  if (git_repository_head_unborn(raw) == 1) {
    // A new repository, or one with no commit yet: the files present become the first commit,
    // so every attempt starts from what the user has. A br killed while making that commit
    // left its lock files, which git never takes back; nothing else writes to a repository
    // that has no commit, so they are stale.
    clear_first_commit_locks(raw);
    auto staged = stage_all(raw);
    if (!staged) return staged.error();
    auto commit =
        create_commit(raw, "HEAD", staged->tree, {}, "Initial files (committed by br)", who);
    if (!commit) return commit.error();
    *created = true;
  }
  return repo;
}

bool GitRepo::is_valid_branch_name(const std::string& name) {
  ensure_libgit2();
  int valid = 0;
  return git_branch_name_is_valid(&valid, name.c_str()) == 0 && valid != 0;
}

std::filesystem::path GitRepo::workdir() const {
  const char* wd = git_repository_workdir(repo_);
  return wd != nullptr ? std::filesystem::path(wd) : std::filesystem::path();
}

std::filesystem::path GitRepo::git_dir() const { return git_repository_path(repo_); }

Result<CommitId> GitRepo::head() const {
  git_oid oid;
  if (git_reference_name_to_id(&oid, repo_, "HEAD") != 0) {
    return Error::of(workdir().string() + ": the repository has no commit yet");
  }
  return to_hex(oid);
}

bool GitRepo::has_uncommitted_changes() const {
  git_status_options opts{};
  (void)git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;  // untracked files are not counted
  git_status_list* list = nullptr;
  if (git_status_list_new(&list, repo_, &opts) != 0) return false;
  const bool changed = git_status_list_entrycount(list) > 0;
  git_status_list_free(list);
  return changed;
}

Result<std::optional<CommitId>> GitRepo::branch(const std::string& name) const {
  return ref_commit("refs/heads/" + name);
}

Status GitRepo::set_branch(const std::string& name, const CommitId& commit) {
  if (!is_valid_branch_name(name)) {
    return Error::of("'" + name + "' is not a valid branch name");
  }
  auto c = lookup_commit(repo_, commit);
  if (!c) return c.error();
  git_reference* ref = nullptr;
  // Refuses to move the branch checked out in the user's work tree.
  if (git_branch_create(&ref, repo_, name.c_str(), c->get(), 1) != 0) {
    return git_failure("branch " + name);
  }
  git_reference_free(ref);
  return Ok{};
}

Status GitRepo::set_ref(const std::string& ref, const CommitId& commit) {
  auto oid = parse_oid(commit);
  if (!oid) return oid.error();
  git_reference* out = nullptr;
  if (git_reference_create(&out, repo_, ref.c_str(), &*oid, 1, "br") != 0) {
    return git_failure("ref " + ref);
  }
  git_reference_free(out);
  return Ok{};
}

Result<std::optional<CommitId>> GitRepo::ref_commit(const std::string& ref) const {
  git_oid oid;
  const int rc = git_reference_name_to_id(&oid, repo_, ref.c_str());
  if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) return std::optional<CommitId>();
  if (rc != 0) return git_failure("ref " + ref);
  return std::optional<CommitId>(to_hex(oid));
}

Status GitRepo::delete_ref(const std::string& ref) {
  const int rc = git_reference_remove(repo_, ref.c_str());
  if (rc != 0 && rc != GIT_ENOTFOUND) return git_failure("ref " + ref);
  return Ok{};
}

bool GitRepo::has_commit(const CommitId& commit) const {
  return static_cast<bool>(lookup_commit(repo_, commit));
}

Result<bool> GitRepo::is_ancestor(const CommitId& ancestor, const CommitId& descendant) const {
  auto a = parse_oid(ancestor);
  auto d = parse_oid(descendant);
  if (!a) return a.error();
  if (!d) return d.error();
  if (git_oid_equal(&*a, &*d) != 0) return true;
  const int rc = git_graph_descendant_of(repo_, &*d, &*a);
  if (rc < 0) return git_failure("ancestry of " + descendant);
  return rc == 1;
}

Result<MergeOutcome> GitRepo::merge(const CommitId& ours, const CommitId& theirs,
                                    const std::string& message, const Signature& who) {
  auto our_commit = lookup_commit(repo_, ours);
  if (!our_commit) return our_commit.error();
  auto their_commit = lookup_commit(repo_, theirs);
  if (!their_commit) return their_commit.error();
  MergeOutcome out;
  auto theirs_in_ours = is_ancestor(theirs, ours);
  if (!theirs_in_ours) return theirs_in_ours.error();
  if (*theirs_in_ours) {
    out.kind = MergeOutcome::Kind::kAlreadyMerged;
    out.head = ours;
    return out;
  }
  auto ours_in_theirs = is_ancestor(ours, theirs);
  if (!ours_in_theirs) return ours_in_theirs.error();
  if (*ours_in_theirs) {
    out.kind = MergeOutcome::Kind::kFastForward;
    out.head = theirs;
    return out;
  }
  git_merge_options opts{};
  (void)git_merge_options_init(&opts, GIT_MERGE_OPTIONS_VERSION);
  git_index* raw = nullptr;
  if (git_merge_commits(&raw, repo_, our_commit->get(), their_commit->get(), &opts) != 0) {
    return git_failure("merging " + theirs);
  }
  IndexPtr index(raw);
  if (git_index_has_conflicts(index.get()) != 0) {
    git_index_conflict_iterator* it = nullptr;
    if (git_index_conflict_iterator_new(&it, index.get()) != 0) return git_failure("conflicts");
    const git_index_entry *ancestor = nullptr, *our = nullptr, *their = nullptr;
    while (git_index_conflict_next(&ancestor, &our, &their, it) == 0) {
      const git_index_entry* any = our != nullptr ? our : (their != nullptr ? their : ancestor);
      if (any != nullptr) out.conflicts.emplace_back(any->path);
    }
    git_index_conflict_iterator_free(it);
    std::sort(out.conflicts.begin(), out.conflicts.end());
    out.conflicts.erase(std::unique(out.conflicts.begin(), out.conflicts.end()),
                        out.conflicts.end());
    out.kind = MergeOutcome::Kind::kConflict;
    return out;
  }
  git_oid tree;
  if (git_index_write_tree_to(&tree, index.get(), repo_) != 0) return git_failure("merge tree");
  auto merged =
      create_commit(repo_, nullptr, tree, {our_commit->get(), their_commit->get()}, message, who);
  if (!merged) return merged.error();
  out.kind = MergeOutcome::Kind::kMerged;
  out.head = *merged;
  return out;
}

Result<std::vector<FileChange>> GitRepo::changes(const CommitId& commit) const {
  auto diff = diff_to_parent(repo_, commit);
  if (!diff) return diff.error();
  std::vector<FileChange> out;
  const std::size_t n = git_diff_num_deltas(diff->get());
  for (std::size_t i = 0; i < n; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff->get(), i);
    FileChange change;
    change.status = status_letter(delta->status);
    change.path = delta->status == GIT_DELTA_DELETED ? delta->old_file.path : delta->new_file.path;
    git_patch* raw = nullptr;
    if (git_patch_from_diff(&raw, diff->get(), i) == 0 && raw != nullptr) {
      PatchPtr patch(raw);
      std::size_t context = 0;
      (void)git_patch_line_stats(&context, &change.added_lines, &change.deleted_lines, raw);
    }
    out.push_back(std::move(change));
  }
  return out;
}

Result<std::string> GitRepo::patch(const CommitId& commit) const {
  auto diff = diff_to_parent(repo_, commit);
  if (!diff) return diff.error();
  git_buf buf = GIT_BUF_INIT;
  if (git_diff_to_buf(&buf, diff->get(), GIT_DIFF_FORMAT_PATCH) != 0) return git_failure("patch");
  std::string text(buf.ptr != nullptr ? buf.ptr : "", buf.size);
  git_buf_dispose(&buf);
  return text;
}

Result<std::string> GitRepo::message(const CommitId& commit) const {
  auto c = lookup_commit(repo_, commit);
  if (!c) return c.error();
  const char* m = git_commit_message(c->get());
  return std::string(m != nullptr ? m : "");
}

Result<std::vector<CommitId>> GitRepo::parents(const CommitId& commit) const {
  auto c = lookup_commit(repo_, commit);
  if (!c) return c.error();
  std::vector<CommitId> out;
  for (unsigned i = 0; i < git_commit_parentcount(c->get()); ++i) {
    out.push_back(to_hex(*git_commit_parent_id(c->get(), i)));
  }
  return out;
}

namespace {

using RevwalkPtr = Owned<git_revwalk, git_revwalk_free>;
using PackbuilderPtr = Owned<git_packbuilder, git_packbuilder_free>;
using OdbPtr = Owned<git_odb, git_odb_free>;
using BlobPtr = Owned<git_blob, git_blob_free>;

// One part of a path in a tree that checks out inside the tree, on any file system git runs on.
bool is_safe_path_part(std::string_view part) {
  if (part.empty() || part == "." || part == "..") return false;
  std::string lower(part);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower != ".git" && part.find('\\') == std::string_view::npos;
}

bool is_safe_path(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    if (!is_safe_path_part(path.substr(start, slash - start))) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// A symlink at `path` whose target stays inside the tree.
bool is_safe_link(std::string_view path, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  long depth = static_cast<long>(std::count(path.begin(), path.end(), '/'));  // of its folder
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = target.find('/', start);
    const std::string_view part = target.substr(start, slash - start);
    if (part == "..") {
      if (--depth < 0) return false;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

Result<std::string> GitRepo::pack_objects(const CommitId& want,
                                          const std::vector<CommitId>& haves) const {
  auto want_oid = parse_oid(want);
  if (!want_oid) return want_oid.error();
  git_revwalk* walk = nullptr;
  if (git_revwalk_new(&walk, repo_) != 0) return git_failure("pack");
  RevwalkPtr owned_walk(walk);
  if (git_revwalk_push(walk, &*want_oid) != 0) return git_failure("pack of " + want);
  for (const auto& have : haves) {
    // Commits this repository does not know are not the receiver's to claim: skipped.
    if (have == want || !has_commit(have)) continue;
    auto oid = parse_oid(have);
    if (oid && git_revwalk_hide(walk, &*oid) != 0) return git_failure("pack, hiding " + have);
  }
  git_packbuilder* pb = nullptr;
  if (git_packbuilder_new(&pb, repo_) != 0) return git_failure("pack");
  PackbuilderPtr owned_pb(pb);
  // One thread: the caller's. The output is then also the same for the same input.
  git_packbuilder_set_threads(pb, 1);
  if (git_packbuilder_insert_walk(pb, walk) != 0) return git_failure("pack of " + want);
  git_buf buf = GIT_BUF_INIT;
  if (git_packbuilder_write_buf(&buf, pb) != 0) return git_failure("pack of " + want);
  std::string out(buf.ptr, buf.size);
  git_buf_dispose(&buf);
  return out;
}

Status GitRepo::index_pack(const std::string& pack) {
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo_) != 0) return git_failure("object database");
  OdbPtr owned_odb(odb);
  git_odb_writepack* writer = nullptr;
  if (git_odb_write_pack(&writer, odb, nullptr, nullptr) != 0) return git_failure("pack");
  git_indexer_progress progress{};
  const int appended = writer->append(writer, pack.data(), pack.size(), &progress);
  const int committed = appended == 0 ? writer->commit(writer, &progress) : appended;
  Status status = committed == 0 ? Status(Ok{}) : Status(git_failure("pack"));
  writer->free(writer);
  return status;
}

Status GitRepo::check_received(const CommitId& commit) const {
  auto c = lookup_commit(repo_, commit);
  if (!c) return c.error();
  auto parent_tree = first_parent_tree(repo_, c->get());
  if (!parent_tree) return parent_tree.error();
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, c->get()) != 0) return git_failure("tree of " + commit);
  TreePtr owned_tree(tree);
  git_diff* raw_diff = nullptr;
  // Reading the trees for the diff also proves every tree object it passes through is here.
  if (git_diff_tree_to_tree(&raw_diff, repo_, parent_tree->get(), tree, nullptr) != 0) {
    return git_failure("commit " + commit);
  }
  DiffPtr diff(raw_diff);
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo_) != 0) return git_failure("object database");
  OdbPtr owned_odb(odb);
  for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    for (const git_diff_file* f : {&d->old_file, &d->new_file}) {
      if (f->path != nullptr && !is_safe_path(f->path)) {
        return Error::of("the change has a path outside the tree: '" +
                         std::string(f->path).substr(0, 200) + "'");
      }
    }
    if (d->status == GIT_DELTA_DELETED) continue;
    const git_diff_file& f = d->new_file;
    if (f.mode == GIT_FILEMODE_COMMIT) continue;  // a submodule's commit lives elsewhere
    if (git_odb_exists(odb, &f.id) == 0) {
      return Error::of(std::string("object ") + to_hex(f.id) + " of " + f.path + " is missing");
    }
    if (f.mode == GIT_FILEMODE_LINK) {
      git_blob* blob = nullptr;
      if (git_blob_lookup(&blob, repo_, &f.id) != 0) return git_failure(f.path);
      BlobPtr owned_blob(blob);
      const std::string_view target(static_cast<const char*>(git_blob_rawcontent(blob)),
                                    static_cast<std::size_t>(git_blob_rawsize(blob)));
      if (!is_safe_link(f.path, target)) {
        return Error::of(std::string("the symlink ") + f.path + " points outside the tree");
      }
    }
  }
  return Ok{};
}

// ---- Worktree ----------------------------------------------------------------------------

Worktree::Worktree(Worktree&& other) noexcept : repo_(other.repo_), dir_(std::move(other.dir_)) {
  other.repo_ = nullptr;
}

Worktree& Worktree::operator=(Worktree&& other) noexcept {
  std::swap(repo_, other.repo_);
  std::swap(dir_, other.dir_);
  return *this;
}

Worktree::~Worktree() {
  if (repo_ != nullptr) git_repository_free(repo_);
}

Result<Worktree> Worktree::open(const GitRepo& repo, const std::string& name,
                                const std::filesystem::path& dir, const CommitId& at) {
  // The name becomes a folder of the repository's that is removed when stale.
  const bool safe_name = !name.empty() && name.front() != '.' &&
                         std::all_of(name.begin(), name.end(), [](unsigned char c) {
                           return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                         });
  if (!safe_name) return Error::of("worktree name '" + name + "': use letters, digits, -, _ and .");
  git_worktree* existing = nullptr;
  if (git_worktree_lookup(&existing, repo.raw(), name.c_str()) == 0) {
    WorktreePtr wt(existing);
    const std::filesystem::path registered = git_worktree_path(wt.get());
    std::error_code ec;
    if (git_worktree_validate(wt.get()) == 0 && std::filesystem::equivalent(registered, dir, ec)) {
      git_repository* raw = nullptr;
      // br detaches HEAD as the last step of an add: one still on a branch is half made.
      if (git_repository_open(&raw, dir.c_str()) == 0) {
        if (git_repository_head_detached(raw) == 1) {
          // One slot of one process uses a worktree, and it is opening it now: a lock in its
          // admin folder was left by a br killed while it moved HEAD or wrote the index (a
          // reset or a commit), and would fail every later reset of the slot.
          const std::filesystem::path admin = git_repository_path(raw);
          std::filesystem::remove(admin / "HEAD.lock", ec);
          std::filesystem::remove(admin / "index.lock", ec);
          return Worktree(raw, dir);
        }
        git_repository_free(raw);
      }
    }
  }
  // Left by a crash, moved or half made (a worktree add that failed midway, e.g. on a full
  // disk, leaves its registration with HEAD on the temporary branch below, which then counts
  // as checked out and makes every later add fail): forget it and start again. The name is
  // br's own, so is everything registered under it.
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(git_repository_commondir(repo.raw())) / "worktrees" / name, ec);
  // The slots of one process add their worktrees at the same moment (a run's start), each
  // creating and deleting a branch and writing the repository's worktree admin files; one at a
  // time keeps any lock of git's from failing a slot's first attempt. (Suspected, not proven,
  // in one loaded sanitizer run where a first attempt ran late.)
  static std::mutex adding;
  const std::lock_guard<std::mutex> one_at_a_time(adding);
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir.parent_path(), ec);
  auto commit = lookup_commit(repo.raw(), at);
  if (!commit) return commit.error();
  // libgit2 checks a worktree out on a branch; a temporary one is made for it and deleted once
  // the worktree's HEAD is detached, so the user's branch list stays as it was.
  const std::string temp_branch = "br-worktree/" + name;
  // br's own branch, never the user's: a lock left by a br killed right here is stale.
  std::filesystem::remove(repo.git_dir() / "refs" / "heads" / (temp_branch + ".lock"), ec);
  git_reference* ref = nullptr;
  if (git_branch_create(&ref, repo.raw(), temp_branch.c_str(), commit->get(), 1) != 0) {
    return git_failure("worktree " + name);
  }
  RefPtr owned_ref(ref);
  git_worktree_add_options opts{};
  (void)git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
  opts.ref = ref;
  git_worktree* added = nullptr;
  if (git_worktree_add(&added, repo.raw(), name.c_str(), dir.c_str(), &opts) != 0) {
    const Error error = git_failure("adding worktree " + dir.string());
    std::filesystem::remove_all(std::filesystem::path(git_repository_commondir(repo.raw())) / "worktrees" / name, ec);  // what it left
    git_branch_delete(ref);
    return error;
  }
  WorktreePtr wt(added);
  git_repository* raw = nullptr;
  if (git_repository_open_from_worktree(&raw, wt.get()) != 0) return git_failure("worktree");
  Worktree out(raw, dir);
  if (git_repository_set_head_detached(raw, git_commit_id(commit->get())) != 0 ||
      git_branch_delete(ref) != 0) {
    return git_failure("worktree " + name);
  }
  return out;
}

// The worktree is known clean at its HEAD from the moment commit_all has staged every file
// (and found no ignored one) until the next reset_to: nothing runs in it in between. A file in
// the worktree's admin folder records it, so a worker restarted in that gap still knows.
std::filesystem::path Worktree::clean_marker() const {
  return std::filesystem::path(git_repository_path(repo_)) / "br-clean";
}

std::optional<CommitId> Worktree::take_clean_mark() {
  std::ifstream in(clean_marker());
  std::string hex;
  git_oid marked;
  git_oid head;
  const bool clean = in >> hex && git_oid_fromstrp(&marked, hex.c_str()) == 0 &&
                     git_reference_name_to_id(&head, repo_, "HEAD") == 0 &&
                     git_oid_equal(&marked, &head) != 0;
  in.close();
  // Whatever comes next may change the files. Emptied, not removed: making a file is most of
  // what a commit costs on some file systems (ext4 allocating inodes after many deletions).
  if (!hex.empty()) std::ofstream(clean_marker(), std::ios::trunc);
  if (!clean) return std::nullopt;
  return CommitId(git_oid_tostr_s(&head));
}

void Worktree::mark_clean() {
  git_oid head;
  if (git_reference_name_to_id(&head, repo_, "HEAD") != 0) return;
  std::ofstream(clean_marker()) << git_oid_tostr_s(&head) << '\n';
}

namespace {

Result<TreePtr> tree_of(git_commit* commit) {
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, commit) != 0) return git_failure("tree");
  return TreePtr(tree);
}

// Work files at `from`'s tree, known clean, become `to`'s: only the paths that differ between
// the two trees are checked out (both sides of a rename), without walking the rest.
Status checkout_changed_paths(git_repository* repo, const CommitId& from, git_commit* to) {
  auto from_commit = lookup_commit(repo, from);
  if (!from_commit) return from_commit.error();
  auto from_tree = tree_of(from_commit->get());
  if (!from_tree) return from_tree.error();
  auto to_tree = tree_of(to);
  if (!to_tree) return to_tree.error();
  git_diff* raw_diff = nullptr;
  if (git_diff_tree_to_tree(&raw_diff, repo, from_tree->get(), to_tree->get(), nullptr) != 0) {
    return git_failure("diff");
  }
  const DiffPtr diff(raw_diff);
  std::vector<std::string> changed;
  for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    changed.emplace_back(d->old_file.path);
    if (std::string_view(d->new_file.path) != d->old_file.path) {
      changed.emplace_back(d->new_file.path);
    }
  }
  // An empty path list means every path to libgit2: with nothing changed there is nothing to do.
  if (changed.empty()) return Ok{};
  std::vector<char*> paths;
  paths.reserve(changed.size());
  for (auto& p : changed) paths.push_back(p.data());
  git_checkout_options opts{};
  (void)git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
  opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
  opts.baseline = from_tree->get();
  opts.paths = {paths.data(), paths.size()};
  if (git_checkout_tree(repo, reinterpret_cast<const git_object*>(to), &opts) != 0) {
    return git_failure("checkout");
  }
  return Ok{};
}

}  // namespace

Status Worktree::reset_to(const CommitId& commit) {
  auto c = lookup_commit(repo_, commit);
  if (!c) return c.error();
  // Clean at a known commit (the usual case: the slot's last attempt passed): only what differs
  // is written. Otherwise, or if that fails, the whole tree is compared and every stray file
  // removed.
  const auto clean = take_clean_mark();
  if (!clean || !checkout_changed_paths(repo_, *clean, c->get())) {
    git_checkout_options opts{};
    (void)git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
    opts.checkout_strategy =
        GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED | GIT_CHECKOUT_REMOVE_IGNORED;
    if (git_checkout_tree(repo_, reinterpret_cast<const git_object*>(c->get()), &opts) != 0) {
      return git_failure("resetting " + dir_.string() + " to " + commit);
    }
  }
  if (git_repository_set_head_detached(repo_, git_commit_id(c->get())) != 0) {
    return git_failure("resetting " + dir_.string() + " to " + commit);
  }
  return Ok{};
}

Result<std::optional<CommitId>> Worktree::commit_all(const CommitId& base,
                                                     const std::string& message,
                                                     const Signature& who,
                                                     const ChangedPaths* changed) {
  auto parent = lookup_commit(repo_, base);
  if (!parent) return parent.error();
  std::optional<Staged> staged;
  if (changed != nullptr) {
    auto known = stage_known(repo_, *changed);
    if (!known) return known.error();
    staged = *known;
  }
  if (!staged) {
    auto walked = stage_all(repo_);
    if (!walked) return walked.error();
    staged = *walked;
  }
  std::optional<CommitId> out;
  if (git_oid_equal(&staged->tree, git_commit_tree_id(parent->get())) == 0) {
    auto commit = create_commit(repo_, nullptr, staged->tree, {parent->get()}, message, who);
    if (!commit) return commit.error();
    auto oid = parse_oid(*commit);
    if (git_repository_set_head_detached(repo_, &*oid) != 0) return git_failure("worktree HEAD");
    out = *commit;
  }
  // Now the files are HEAD's tree (nothing changed: HEAD is still the base they match).
  if (!staged->ignored_files && (out || git_oid_equal(&staged->tree, git_commit_tree_id(parent->get())) != 0)) {
    mark_clean();
  }
  return out;
}

Status Worktree::remove(const GitRepo& repo, const std::string& name,
                        const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  git_worktree* wt = nullptr;
  if (git_worktree_lookup(&wt, repo.raw(), name.c_str()) != 0) return Ok{};
  WorktreePtr owned(wt);
  git_worktree_prune_options prune{};
  (void)git_worktree_prune_options_init(&prune, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
  prune.flags =
      GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED | GIT_WORKTREE_PRUNE_WORKING_TREE;
  if (git_worktree_prune(owned.get(), &prune) != 0) return git_failure("worktree " + name);
  return Ok{};
}

}  // namespace br
