#include "coordinator/run_workspace.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace br {
namespace {

namespace fs = std::filesystem;

// The state dir as a pattern of the repository's exclude file, when it lies inside the tree.
std::vector<std::string> state_dir_exclude(const fs::path& workspace, const fs::path& state_dir) {
  std::error_code ec;
  const fs::path ws = fs::weakly_canonical(workspace, ec);
  const fs::path sd = fs::weakly_canonical(state_dir, ec);
  const fs::path rel = sd.lexically_relative(ws);
  if (rel.empty() || *rel.begin() == "..") return {};
  return {"/" + rel.generic_string() + "/"};
}

std::string short_id(const CommitId& id) { return id.substr(0, 12); }

}  // namespace

std::string branch_name(const std::string& branch_template, const std::string& run_id) {
  std::string out = branch_template;
  for (std::size_t at = out.find("{run}"); at != std::string::npos; at = out.find("{run}")) {
    out.replace(at, 5, run_id);
  }
  return out;
}

Status usable_workspace_folder(const Config& config) {
  const fs::path workspace = config.run.workspace;
  const std::string where = config.path.empty() ? "br.toml" : config.path;
  std::error_code ec;
  if (fs::exists(workspace, ec) && !fs::is_directory(workspace, ec)) {
    return Error::of(fmt::format("{}: [run] workspace = \"{}\" is a file, not a folder; set it to "
                                 "the project's folder",
                                 where, workspace.string()));
  }
  fs::create_directories(workspace, ec);
  if (ec || ::access(workspace.c_str(), W_OK | X_OK) != 0) {
    const std::string why = ec ? ec.message() : std::strerror(errno);
    return Error::of(fmt::format("{}: [run] workspace = \"{}\" cannot be used ({}); make it a "
                                 "folder you may write, or set [run] workspace to another",
                                 where, workspace.string(), why));
  }
  return Ok{};
}

Result<RunBase> open_run_base(const Config& config, const fs::path& state_dir) {
  // Checked first: bad input leaves the workspace as it was.
  const std::string probe = branch_name(config.run.branch, "0123456789abcdef");
  if (probe.empty() || !GitRepo::is_valid_branch_name(probe)) {
    return Error::of(fmt::format("{}: [run] branch = \"{}\" does not make a valid git branch name",
                                 config.path.empty() ? "br.toml" : config.path,
                                 config.run.branch));
  }
  const fs::path workspace = config.run.workspace;
  if (auto usable = usable_workspace_folder(config); !usable) return usable.error();
  bool created = false;
  auto repo = GitRepo::open_or_init(workspace, state_dir_exclude(workspace, state_dir), Signature{},
                                    &created);
  if (!repo) {
    return Error::of(fmt::format("{}: {}; the workspace must be a git repository (or a folder br "
                                 "may make one of), or set [run] isolation = \"none\"",
                                 workspace.string(), repo.error().str()));
  }
  RunBase out;
  out.repo = repo->workdir();
  auto head = repo->head();
  if (!head) return head.error();
  out.base = *head;
  if (created) {
    out.notes.push_back(fmt::format("made {} a git repository; its files are the first commit ({})",
                                    out.repo.string(), short_id(out.base)));
  } else if (repo->has_uncommitted_changes()) {
    out.notes.push_back(fmt::format("the run builds on the last commit ({}); uncommitted changes "
                                    "in {} are not part of it",
                                    short_id(out.base), out.repo.string()));
  }
  return out;
}

Status create_run_branch(const fs::path& repo_dir, const std::string& branch,
                         const CommitId& base) {
  auto repo = GitRepo::open(repo_dir);
  if (!repo) return repo.error();
  auto existing = repo->branch(branch);
  if (!existing) return existing.error();
  if (existing->has_value() && **existing != base) {
    return Error::of(
        fmt::format("{}: branch {} already exists; delete it (git branch -D {}) or "
                    "name another in [run] branch",
                    repo_dir.string(), branch, branch));
  }
  return repo->set_branch(branch, base);
}

// ---- GitIntegration -------------------------------------------------------------------

Result<std::unique_ptr<GitIntegration>> GitIntegration::open(const fs::path& repo,
                                                             const std::string& branch,
                                                             std::uint64_t change_max_bytes) {
  auto opened = GitRepo::open(repo);
  if (!opened) return opened.error();
  return std::unique_ptr<GitIntegration>(
      new GitIntegration(std::move(opened).value(), branch, change_max_bytes));
}

Status GitIntegration::receive(const TaskResult& result) {
  if (result.pack.size() > change_max_bytes_) {
    return Error::of(fmt::format(
        "the change is {} bytes of git objects, over limits.change_max_bytes ({}); split the "
        "task or raise the limit",
        result.pack.size(), change_max_bytes_));
  }
  if (!repo_.has_commit(result.commit)) {
    if (auto indexed = repo_.index_pack(result.pack); !indexed) {
      return Error::of("the attempt's objects are damaged: " + indexed.error().str());
    }
    if (!repo_.has_commit(result.commit)) {
      return Error::of("the attempt's objects do not hold its commit " + short_id(result.commit));
    }
  }
  if (auto checked = repo_.check_received(result.commit); !checked) {
    return Error::of("the attempt's commit is refused: " + checked.error().str());
  }
  return Ok{};
}

Result<Integrated> GitIntegration::integrate(const std::string& head, const TaskResult& result) {
  const CommitId& commit = result.commit;
  if (auto it = refused_.find(commit); it != refused_.end()) return Error::of(it->second);
  auto refuse = [&](std::string why) -> Result<Integrated> {
    // Bounded: a commit is refused for each of its tasks, then never seen again.
    if (refused_.size() >= 1024) refused_.erase(refused_.begin());
    refused_[commit] = why;
    return Error::of(std::move(why));
  };
  if (!result.pack.empty()) {
    if (auto received = receive(result); !received) return refuse(received.error().str());
  }
  if (!repo_.has_commit(commit)) return refuse("commit " + commit + " is not in the repository");
  auto parents = repo_.parents(commit);
  if (!parents) return refuse(parents.error().str());
  if (parents->size() != 1) return refuse("commit " + short_id(commit) + " is not one attempt's");
  auto on_branch = repo_.is_ancestor(parents->front(), head);
  if (!on_branch) return refuse(on_branch.error().str());
  if (!*on_branch) {
    return refuse(fmt::format("commit {} is not built on {} (its parent {} is not in it)",
                              short_id(commit), branch_, short_id(parents->front())));
  }
  auto merged = repo_.merge(
      head, commit,
      fmt::format("Merge {} ({}) into {}", result.batch.str(), short_id(commit), branch_),
      Signature{});
  if (!merged) return refuse(merged.error().str());
  if (merged->kind == MergeOutcome::Kind::kConflict) {
    std::string paths;
    for (const auto& p : merged->conflicts) paths += (paths.empty() ? "" : ", ") + p;
    // The attempt's work stays where `br task diff` and git can find it.
    (void)repo_.set_ref(fmt::format("refs/br/failed/{}-{}", result.batch.str(), result.attempt),
                        commit);
    return refuse(
        fmt::format("merge conflict in {}: work merged into {} since the attempt "
                    "began changed the same lines; retry from the new head",
                    paths, branch_));
  }
  auto changes = repo_.changes(commit);
  if (!changes) return refuse(changes.error().str());
  Integrated out;
  out.head = merged->head;
  for (const auto& c : *changes) {
    if (c.status != 'D') out.files.push_back(c.path);
  }
  return out;
}

// ---- ObjectServer ----------------------------------------------------------------------

Result<std::unique_ptr<ObjectServer>> ObjectServer::open(const fs::path& repo,
                                                         std::size_t chunk_bytes) {
  auto opened = GitRepo::open(repo);
  if (!opened) return opened.error();
  return std::unique_ptr<ObjectServer>(
      new ObjectServer(std::move(opened).value(), std::max<std::size_t>(chunk_bytes, 1024)));
}

ObjectsChunk ObjectServer::serve(const ObjectsRequest& request) {
  ObjectsChunk out;
  if (!repo_.has_commit(request.want)) {
    out.error = "the coordinator has no commit " + request.want;
    return out;
  }
  std::vector<std::string> haves = request.have;
  std::sort(haves.begin(), haves.end());
  haves.erase(std::unique(haves.begin(), haves.end()), haves.end());
  if (haves.size() > 64) haves.resize(64);  // a hint; more only costs the walk time
  std::string key = request.want;
  for (const auto& h : haves) key += " " + h;
  auto it = std::find_if(recent_.begin(), recent_.end(), [&](const Pack& p) { return p.key == key; });
  if (it == recent_.end()) {
    auto pack = repo_.pack_objects(request.want, haves);
    if (!pack) {
      out.error = pack.error().str();
      return out;
    }
    Pack made{key, {}, std::move(*pack)};
    // A pack ends with the SHA-1 of everything before it: its name in git, and here.
    static const char* kHex = "0123456789abcdef";
    for (std::size_t i = made.bytes.size() >= 20 ? made.bytes.size() - 20 : 0;
         i < made.bytes.size(); ++i) {
      const auto byte = static_cast<unsigned char>(made.bytes[i]);
      made.id += kHex[byte >> 4];
      made.id += kHex[byte & 15];
    }
    if (recent_.size() >= 8) recent_.erase(recent_.begin());
    recent_.push_back(std::move(made));
    it = std::prev(recent_.end());
  }
  out.pack_id = it->id;
  out.total = it->bytes.size();
  if (request.offset < it->bytes.size()) {
    out.data = it->bytes.substr(request.offset, chunk_bytes_);
  }
  return out;
}

// ---- BranchFollower --------------------------------------------------------------------

Result<BranchFollower> BranchFollower::open(const fs::path& repo, std::string branch) {
  auto opened = GitRepo::open(repo);
  if (!opened) return opened.error();
  // A coordinator killed while moving the ref left its lock file, and git never takes a lock
  // back. The branch is this run's and the journal's lock says no other coordinator runs it,
  // so the lock is stale.
  std::error_code ec;
  fs::remove(opened->git_dir() / "refs" / "heads" / (branch + ".lock"), ec);
  return BranchFollower(std::move(opened).value(), std::move(branch));
}

Status BranchFollower::set(const CommitId& head) {
  if (head.empty() || head == head_) return Ok{};
  if (auto moved = repo_.set_branch(branch_, head); !moved) return moved;
  head_ = head;
  return Ok{};
}

Status BranchFollower::follow(const std::vector<JournalRecord>& durable) {
  const CommitId* last = nullptr;
  for (const auto& r : durable) {
    if (const auto* s = std::get_if<rec::TaskSucceeded>(&r.body); s && !s->head.empty()) {
      last = &s->head;
    }
  }
  return last ? set(*last) : Status(Ok{});
}

void remove_stale_worktrees(const fs::path& repo_dir, const fs::path& worktrees_dir) {
  auto repo = GitRepo::open(repo_dir);
  std::error_code ec;
  if (!repo || !fs::is_directory(worktrees_dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(worktrees_dir, ec)) {
    (void)Worktree::remove(*repo, entry.path().filename().string(), entry.path());
  }
}

Result<std::string> task_diff_text(const RunState& state, const TaskId& task,
                                   const std::string& repo_dir) {
  const TaskState* t = state.find(task);
  if (t == nullptr) return Error::of("no task '" + task.str() + "' in this run");
  if (!state.isolated()) {
    return Error::of("this run made no commits (it ran with [run] isolation = \"none\")");
  }
  auto repo = GitRepo::open(repo_dir.empty() ? state.repo() : repo_dir);
  if (!repo) {
    return Error::of(repo.error().str() + "; if the repository moved, pass --repo DIR");
  }
  CommitId commit = t->commit;
  std::string what = "passed attempt " + std::to_string(t->attempt);
  if (commit.empty()) {
    if (t->status == TaskStatus::succeeded) {
      return fmt::format("{} succeeded without changing a file\n", task.str());
    }
    const std::string ref = fmt::format("refs/br/failed/{}-{}", t->batch.str(), t->attempt);
    if (auto id = repo->ref_commit(ref); id && id->has_value()) {
      commit = **id;
      what = fmt::format("failed attempt {}, kept on {}", t->attempt, ref);
    } else {
      return fmt::format("{} has no commit ({}, attempt {})\n", task.str(), to_string(t->status),
                         t->attempt);
    }
  }
  auto message = repo->message(commit);
  auto changes = repo->changes(commit);
  auto patch = repo->patch(commit);
  if (!message) return message.error();
  if (!changes) return changes.error();
  if (!patch) return patch.error();
  std::string out = fmt::format("commit {} ({} of {})\n\n", commit, what, task.str());
  std::istringstream lines(*message);
  for (std::string line; std::getline(lines, line);) out += "    " + line + "\n";
  out += "\n";
  for (const auto& c : *changes) {
    out += fmt::format(" {} {}  +{} -{}\n", c.status, c.path, c.added_lines, c.deleted_lines);
  }
  return out + "\n" + *patch;
}

std::string result_summary(const RunState& state) {
  if (!state.isolated()) return {};
  std::size_t commits = 0;
  for (const auto& t : state.tasks()) {
    if (t.status == TaskStatus::succeeded && !t.commit.empty()) ++commits;
  }
  if (state.head() == state.base_commit()) {
    return fmt::format("branch {} has no new work (still at {})\n", state.branch(),
                       short_id(state.base_commit()));
  }
  return fmt::format("result: branch {} ({} tasks' commits on {}); take it with: git merge {}\n",
                     state.branch(), commits, short_id(state.base_commit()), state.branch());
}

}  // namespace br
