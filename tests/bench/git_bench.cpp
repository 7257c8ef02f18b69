// Isolation cost per attempt: what br adds to each batch attempt of an isolated run, against
// the git CLI doing the same steps, on repositories of 100 and 5,000 files (one run, so the
// ratio is fair on a noisy machine).
//   br:  reset the slot's worktree to the head (only changed files are written) and watch it,
//        the agent's edit, commit what the watch saw, merge into the integration head, move
//        the branch;
//   git: `git worktree add --detach`, the edit, `git add -A && git commit`, `git merge` in a
//        checkout of the integration branch, `git worktree remove`.
// Attempts come in pairs from one base (two slots working side by side), so half the merges
// are fast-forwards and half three-way. Prints ms per attempt (median over the attempts) and
// the CLI / br ratio.
//
// Then the same repositories between hosts: the bootstrap pack a br-worker with an empty
// workspace fetches once, and per attempt the pack it sends back against the change's size.
//
//   git_bench [--files 100,5000] [--attempts 20] [--no-cli] [--no-remote]
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "actors/worker/git_repo.hpp"

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

void sh(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
    fmt::print(stderr, "git_bench: failed: {}\n", cmd);
    std::exit(1);
  }
}

std::string sh_out(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[256];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// A project of `files` small source files in 50 folders, committed.
void make_project(const fs::path& dir, int files) {
  for (int i = 0; i < files; ++i) {
    write(dir / fmt::format("pkg{}/mod{}.py", i % 50, i), fmt::format("value = {}\n", i));
  }
  sh(
      fmt::format("git -C '{}' init -q && git -C '{}' add -A && git -C '{}' -c user.name=b "
                  "-c user.email=b@b commit -qm base",
                  dir.string(), dir.string(), dir.string()));
}

double bench_br(const fs::path& root, int files, int attempts) {
  const fs::path project = root / "br-project";
  make_project(project, files);
  auto repo = GitRepo::open(project).value();
  CommitId head = repo.head().value();
  (void)repo.set_branch("br/bench", head);
  std::vector<Worktree> slots;
  for (int s = 0; s < 2; ++s) {
    slots.push_back(
        Worktree::open(repo, fmt::format("slot{}", s), root / fmt::format("wt{}", s), head)
            .value());
  }
  std::vector<double> times, resets, watches, commits, merges;
  for (int a = 0; a < attempts; a += 2) {
    const CommitId base = head;
    for (int s = 0; s < 2; ++s) {
      const auto start = Clock::now();
      Worktree& wt = slots[s];
      if (!wt.reset_to(base)) std::exit(1);
      resets.push_back(ms_since(start));
      // As a worker slot does: what the agent changes is seen, not looked for.
      const auto watching = Clock::now();
      ChangeWatch watch = ChangeWatch::start(wt.dir());
      watches.push_back(ms_since(watching));
      write(wt.dir() / fmt::format("new/task{}.py", a + s), "done = True\n");
      const auto committing = Clock::now();
      const auto changed = watch.collect();
      if (!changed) std::exit(1);
      auto commit = wt.commit_all(base, "task", Signature{}, &*changed);
      if (!commit || !commit->has_value()) std::exit(1);
      commits.push_back(ms_since(committing));
      const auto merging = Clock::now();
      auto merged = repo.merge(head, **commit, "merge", Signature{});
      if (!merged || merged->kind == MergeOutcome::Kind::kConflict) std::exit(1);
      head = merged->head;
      if (!repo.set_branch("br/bench", head)) std::exit(1);
      merges.push_back(ms_since(merging));
      times.push_back(ms_since(start));
    }
  }
  fmt::print(stderr,
             "  br at {} files: reset {:.2f} ms, watch {:.2f} ms, commit {:.2f} ms, merge {:.2f} ms\n",
             files, median(resets), median(watches), median(commits), median(merges));
  return median(times);
}

double bench_cli(const fs::path& root, int files, int attempts) {
  const fs::path project = root / "cli-project";
  make_project(project, files);
  const std::string p = project.string();
  const std::string id = "-c user.name=b -c user.email=b@b";
  // The integration branch checked out in a worktree of its own, for `git merge`.
  sh(fmt::format("git -C '{}' worktree add -q -b br/bench '{}/integ'", p, root.string()));
  const std::string integ = (root / "integ").string();
  std::vector<double> times;
  for (int a = 0; a < attempts; a += 2) {
    const std::string base = sh_out(fmt::format("git -C '{}' rev-parse HEAD", integ));
    for (int s = 0; s < 2; ++s) {
      const auto start = Clock::now();
      const std::string wt = fmt::format("{}/cli-wt{}", root.string(), a + s);
      sh(fmt::format("git -C '{}' worktree add -q --detach '{}' {}", p, wt, base));
      write(fs::path(wt) / fmt::format("new/task{}.py", a + s), "done = True\n");
      sh(fmt::format("git -C '{}' add -A && git -C '{}' {} commit -qm task", wt, wt, id));
      const std::string commit = sh_out(fmt::format("git -C '{}' rev-parse HEAD", wt));
      sh(fmt::format("git -C '{}' {} merge -q --no-edit {}", integ, id, commit));
      sh(fmt::format("git -C '{}' worktree remove --force '{}'", p, wt));
      times.push_back(ms_since(start));
    }
  }
  return median(times);
}

// Commits between hosts: a br-worker with an empty workspace fetches the base once (the
// bootstrap pack), then per attempt sends back the pack of its commit, which the coordinator
// indexes and checks. Prints the bytes shipped next to the size of the change.
void bench_remote(const fs::path& root, int files, int attempts) {
  const fs::path project = root / "remote-project";
  make_project(project, files);
  auto coordinator = GitRepo::open(project).value();
  const CommitId base = coordinator.head().value();
  auto worker = GitRepo::open_or_init_bare(root / "worker.git").value();
  const std::string bootstrap = coordinator.pack_objects(base, {}).value();
  if (!worker.index_pack(bootstrap)) std::exit(1);
  auto wt = Worktree::open(worker, "slot0", root / "remote-wt", base).value();
  for (const std::size_t change : {std::size_t{1} << 10, std::size_t{100} << 10}) {
    std::vector<double> packs, times;
    for (int a = 0; a < attempts; ++a) {
      if (!wt.reset_to(base)) std::exit(1);
      std::string text;
      std::uint32_t x = static_cast<std::uint32_t>(a + 1);
      while (text.size() < change) {
        x = x * 1103515245 + 12345;
        text += fmt::format("v{} = {}\n", x, x >> 7);
      }
      text.resize(change);
      write(wt.dir() / fmt::format("pkg{}/task{}.py", a % 50, a), text);
      auto commit = wt.commit_all(base, "task", Signature{});
      if (!commit || !commit->has_value()) std::exit(1);
      const auto start = Clock::now();
      const std::string pack = worker.pack_objects(**commit, {base}).value();
      if (!coordinator.index_pack(pack) || !coordinator.check_received(**commit)) std::exit(1);
      times.push_back(ms_since(start));
      packs.push_back(static_cast<double>(pack.size()));
    }
    fmt::print("{:>7} {:>14} {:>12} {:>12.0f} {:>10.2f}\n", files, bootstrap.size(), change,
               median(packs), median(times));
  }
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes{100, 5000};
  int attempts = 20;
  bool cli = true;     // --no-cli: br alone (for profiling)
  bool remote = true;  // --no-remote: no packs between hosts (for profiling)
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-cli" || flag == "--no-remote") {
      (flag == "--no-cli" ? cli : remote) = false;
      continue;
    }
    if (i + 1 >= argc) break;
    ++i;
    if (flag == "--files")
      sizes = parse_list(argv[i]);
    else if (flag == "--attempts")
      attempts = std::max(2, std::atoi(argv[i]));
  }
  fmt::print("{:>7} {:>14} {:>14} {:>10}\n", "files", "br ms/attempt", "git ms/attempt",
             "git / br");
  for (int files : sizes) {
    const fs::path root = fs::temp_directory_path() / fmt::format("br-git-bench-{}", ::getpid());
    fs::remove_all(root);
    fs::create_directories(root);
    const double br_ms = bench_br(root, files, attempts);
    const double cli_ms = cli ? bench_cli(root, files, attempts) : 0.0;
    fs::remove_all(root);
    fmt::print("{:>7} {:>14.2f} {:>14.2f} {:>10.1f}\n", files, br_ms, cli_ms, cli_ms / br_ms);
  }
  if (!remote) return 0;
  fmt::print("\nremote attempts (one new file each; pack = what the worker sends back)\n");
  fmt::print("{:>7} {:>14} {:>12} {:>12} {:>10}\n", "files", "bootstrap B", "change B",
             "pack B", "ms/attempt");
  for (int files : sizes) {
    const fs::path root = fs::temp_directory_path() / fmt::format("br-git-bench-{}", ::getpid());
    fs::remove_all(root);
    fs::create_directories(root);
    bench_remote(root, files, attempts);
    fs::remove_all(root);
  }
  return 0;
}
