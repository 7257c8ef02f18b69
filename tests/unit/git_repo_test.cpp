// The git layer of isolated attempts, on real repositories in temporary directories, checked
// against the `git` CLI where an outside view is worth having.
#include "actors/worker/git_repo.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <fstream>
#include <thread>

#include "tests/support/files.hpp"
#include "tests/support/git_cli.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
namespace fs = std::filesystem;

namespace {

// A fresh project directory made a repository by br, with the given files.
GitRepo project(const test::TempDir& dir,
                const std::vector<std::pair<std::string, std::string>>& files) {
  for (const auto& [path, text] : files) test::write_file(dir.path() / "project" / path, text);
  bool created = false;
  auto repo = GitRepo::open_or_init(dir.path() / "project", {"/.br/"}, Signature{}, &created);
  REQUIRE(repo);
  REQUIRE(created);
  return std::move(repo).value();
}

}  // namespace

TEST_CASE("a directory that is not a repository becomes one, its files the first commit") {
  test::TempDir dir;
  test::write_file(dir.path() / "project/app.py", "print('hi')\n");
  test::write_file(dir.path() / "project/.br/journal/LOG", "state, not project\n");
  bool created = false;
  auto repo = GitRepo::open_or_init(dir.path() / "project", {"/.br/"}, Signature{}, &created);
  REQUIRE(repo);
  CHECK(created);
  auto head = repo->head();
  REQUIRE(head);
  CHECK(is_commit_id(*head));
  CHECK(test::git(dir.path() / "project", "ls-tree -r --name-only HEAD") == "app.py");
  CHECK(test::git(dir.path() / "project", "status --porcelain").empty());

  // Opened again it is the same repository, nothing new committed.
  auto again = GitRepo::open_or_init(dir.path() / "project", {"/.br/"}, Signature{}, &created);
  REQUIRE(again);
  CHECK_FALSE(created);
  CHECK(again->head().value() == *head);
  CHECK(test::read_file((dir.path() / "project/.git/info/exclude").string()).find("/.br/") !=
        std::string::npos);
}

TEST_CASE("an attempt's worktree starts at its base, and its changes become one commit") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"app.py", "v1\n"}, {"lib/util.py", "u\n"}});
  const CommitId base = repo.head().value();

  auto wt = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  CHECK(test::read_file((dir.path() / "wt/slot-1/app.py").string()) == "v1\n");

  SECTION("nothing changed: no commit") {
    auto none = wt->commit_all(base, "t1", Signature{});
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
  }
  SECTION("added, modified and deleted files are all in the commit") {
    test::write_file(wt->dir() / "app.py", "v2\n");
    test::write_file(wt->dir() / "new/model.py", "m\n");
    fs::remove(wt->dir() / "lib/util.py");
    auto commit = wt->commit_all(base, "T-1: the model\n\nBr-Task: T-1\n", Signature{});
    REQUIRE(commit);
    REQUIRE(commit->has_value());
    CHECK(repo.parents(**commit).value() == std::vector<CommitId>{base});
    auto changes = repo.changes(**commit);
    REQUIRE(changes);
    std::vector<std::string> seen;
    for (const auto& c : *changes) seen.push_back(std::string(1, c.status) + " " + c.path);
    CHECK(seen == std::vector<std::string>{"M app.py", "D lib/util.py", "A new/model.py"});
    CHECK(test::git(dir.path() / "project", "log -1 --format=%s " + **commit) == "T-1: the model");
    // The user's checked-out branch and files did not move.
    CHECK(repo.head().value() == base);
    CHECK(test::read_file((dir.path() / "project/app.py").string()) == "v1\n");
    CHECK(repo.patch(**commit).value().find("+v2") != std::string::npos);
  }
}

TEST_CASE("reset_to removes everything a failed attempt left, ignored files too") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"app.py", "v1\n"}, {".gitignore", "*.log\n"}});
  const CommitId base = repo.head().value();
  auto wt = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  test::write_file(wt->dir() / "app.py", "half written");
  test::write_file(wt->dir() / "partial.py", "x");
  test::write_file(wt->dir() / "build.log", "ignored output");
  REQUIRE(wt->reset_to(base));
  CHECK(test::read_file((wt->dir() / "app.py").string()) == "v1\n");
  CHECK_FALSE(fs::exists(wt->dir() / "partial.py"));
  CHECK_FALSE(fs::exists(wt->dir() / "build.log"));
  CHECK(test::git(wt->dir(), "status --porcelain --ignored").empty());
}

TEST_CASE("after a commit, reset_to writes only what differs and still ends exactly there") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"a.txt", "a\n"}, {"sub/c.txt", "c\n"}, {"d.txt", "d\n"},
                               {".gitignore", "*.log\n"}});
  const CommitId base = repo.head().value();
  // Another slot's work on the same base: a change, a deletion, a new folder.
  auto other_wt = Worktree::open(repo, "slot-2", dir.path() / "wt/slot-2", base);
  REQUIRE(other_wt);
  test::write_file(other_wt->dir() / "a.txt", "a2\n");
  fs::remove_all(other_wt->dir() / "sub");
  test::write_file(other_wt->dir() / "e/f.txt", "f\n");
  const CommitId other = other_wt->commit_all(base, "other", Signature{}).value().value();

  auto wt = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  test::write_file(wt->dir() / "b.txt", "b\n");
  REQUIRE(wt->commit_all(base, "mine", Signature{}).value().has_value());
  REQUIRE(wt->reset_to(other));
  CHECK(test::read_file((wt->dir() / "a.txt").string()) == "a2\n");
  CHECK(test::read_file((wt->dir() / "e/f.txt").string()) == "f\n");
  CHECK(test::read_file((wt->dir() / "d.txt").string()) == "d\n");
  CHECK_FALSE(fs::exists(wt->dir() / "b.txt"));
  CHECK_FALSE(fs::exists(wt->dir() / "sub/c.txt"));
  CHECK(test::git(wt->dir(), "status --porcelain --ignored").empty());
  CHECK(test::git(wt->dir(), "rev-parse HEAD") == other);

  SECTION("what runs after a reset is cleaned by the next one, in full") {
    test::write_file(wt->dir() / "stray.py", "x");
    test::write_file(wt->dir() / "d.txt", "half written");
    REQUIRE(wt->reset_to(other));
    CHECK_FALSE(fs::exists(wt->dir() / "stray.py"));
    CHECK(test::read_file((wt->dir() / "d.txt").string()) == "d\n");
  }
  SECTION("ignored files left at a commit are removed by the next reset") {
    test::write_file(wt->dir() / "out.log", "test output");
    test::write_file(wt->dir() / "g.txt", "g\n");
    REQUIRE(wt->commit_all(other, "with a log", Signature{}).value().has_value());
    REQUIRE(wt->reset_to(other));
    CHECK_FALSE(fs::exists(wt->dir() / "out.log"));
    CHECK_FALSE(fs::exists(wt->dir() / "g.txt"));
    CHECK(test::git(wt->dir(), "status --porcelain --ignored").empty());
  }
  SECTION("nothing changed: the next reset moves it all the same") {
    REQUIRE_FALSE(wt->commit_all(other, "nothing", Signature{}).value().has_value());
    REQUIRE(wt->reset_to(base));
    CHECK(test::read_file((wt->dir() / "sub/c.txt").string()) == "c\n");
    CHECK_FALSE(fs::exists(wt->dir() / "e"));
    CHECK(test::git(wt->dir(), "status --porcelain --ignored").empty());
  }
}

TEST_CASE("a worktree is reused across attempts and can move to any commit") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"a.txt", "a\n"}});
  const CommitId base = repo.head().value();
  auto wt = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  test::write_file(wt->dir() / "b.txt", "b\n");
  const CommitId first = wt->commit_all(base, "first", Signature{}).value().value();
  REQUIRE(wt->reset_to(base));
  CHECK_FALSE(fs::exists(wt->dir() / "b.txt"));
  REQUIRE(wt->reset_to(first));
  CHECK(test::read_file((wt->dir() / "b.txt").string()) == "b\n");

  // Opened again (a new attempt, or a restarted worker) it is the same worktree.
  auto again = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(again);
  CHECK(fs::exists(again->dir() / "b.txt"));

  // A worktree whose directory vanished (a crash, a cleanup) is added afresh.
  wt = std::move(again).value();
  fs::remove_all(dir.path() / "wt/slot-1");
  auto fresh = Worktree::open(repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(fresh);
  CHECK(fs::exists(fresh->dir() / "a.txt"));
  CHECK_FALSE(fs::exists(fresh->dir() / "b.txt"));
  // No temporary branch is left in the user's branch list.
  CHECK(test::git(dir.path() / "project", "branch --list 'br-worktree/*'").empty());

  REQUIRE(Worktree::remove(repo, "slot-1", dir.path() / "wt/slot-1"));
  CHECK_FALSE(fs::exists(dir.path() / "wt/slot-1"));
  CHECK(test::git(dir.path() / "project", "worktree list").find("slot-1") == std::string::npos);
}

TEST_CASE("merging: fast-forward, three-way, already merged, and conflicts named") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"shared.txt", "line\n"}});
  const CommitId base = repo.head().value();
  auto one = Worktree::open(repo, "one", dir.path() / "wt/one", base);
  auto two = Worktree::open(repo, "two", dir.path() / "wt/two", base);
  REQUIRE(one);
  REQUIRE(two);

  test::write_file(one->dir() / "user.py", "user\n");
  const CommitId a = one->commit_all(base, "A", Signature{}).value().value();
  test::write_file(two->dir() / "recipe.py", "recipe\n");
  const CommitId b = two->commit_all(base, "B", Signature{}).value().value();

  auto ff = repo.merge(base, a, "merge A", Signature{});
  REQUIRE(ff);
  CHECK(ff->kind == MergeOutcome::Kind::kFastForward);
  CHECK(ff->head == a);

  auto merged = repo.merge(a, b, "merge B", Signature{});
  REQUIRE(merged);
  REQUIRE(merged->kind == MergeOutcome::Kind::kMerged);
  CHECK(repo.parents(merged->head).value() == std::vector<CommitId>{a, b});
  CHECK(test::git(dir.path() / "project", "ls-tree -r --name-only " + merged->head) ==
        "recipe.py\nshared.txt\nuser.py");

  auto twice = repo.merge(merged->head, b, "again", Signature{});
  REQUIRE(twice);
  CHECK(twice->kind == MergeOutcome::Kind::kAlreadyMerged);
  CHECK(twice->head == merged->head);

  // Both change the same line differently: the second to arrive conflicts, path named.
  REQUIRE(one->reset_to(merged->head));
  REQUIRE(two->reset_to(merged->head));
  test::write_file(one->dir() / "shared.txt", "one's line\n");
  test::write_file(two->dir() / "shared.txt", "two's line\n");
  const CommitId c = one->commit_all(merged->head, "C", Signature{}).value().value();
  const CommitId d = two->commit_all(merged->head, "D", Signature{}).value().value();
  auto head = repo.merge(merged->head, c, "merge C", Signature{});
  REQUIRE(head);
  auto conflict = repo.merge(head->head, d, "merge D", Signature{});
  REQUIRE(conflict);
  CHECK(conflict->kind == MergeOutcome::Kind::kConflict);
  CHECK(conflict->conflicts == std::vector<std::string>{"shared.txt"});
  CHECK(conflict->head.empty());
}

TEST_CASE("branches and refs: the integration branch moves, the checked-out branch never") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"a.txt", "a\n"}});
  const CommitId base = repo.head().value();
  CHECK_FALSE(repo.branch("br/run-1").value().has_value());
  REQUIRE(repo.set_branch("br/run-1", base));
  CHECK(repo.branch("br/run-1").value() == std::optional<CommitId>(base));
  CHECK(test::git(dir.path() / "project", "rev-parse br/run-1") == base);

  const std::string current = test::git(dir.path() / "project", "symbolic-ref --short HEAD");
  CHECK_FALSE(repo.set_branch(current, base));  // the user's own branch is refused
  CHECK_FALSE(repo.set_branch("bad..name", base));

  REQUIRE(repo.set_ref("refs/br/failed/b1-1", base));
  CHECK(test::git(dir.path() / "project", "rev-parse refs/br/failed/b1-1") == base);
  REQUIRE(repo.delete_ref("refs/br/failed/b1-1"));
  REQUIRE(repo.delete_ref("refs/br/failed/b1-1"));  // gone already: fine

  CHECK_FALSE(repo.has_commit(std::string(40, 'a')));
  CHECK_FALSE(repo.has_commit("not-an-id"));
  CHECK(repo.has_commit(base));
}

TEST_CASE("a workspace inside an existing repository uses that repository") {
  test::TempDir dir;
  GitRepo outer = project(dir, {{"sub/spec.md", "# spec\n"}});
  bool created = true;
  auto inner = GitRepo::open_or_init(dir.path() / "project/sub", {}, Signature{}, &created);
  REQUIRE(inner);
  CHECK_FALSE(created);
  CHECK(fs::equivalent(inner->workdir(), dir.path() / "project"));
  CHECK(inner->head().value() == outer.head().value());
  CHECK_FALSE(inner->has_uncommitted_changes());
  test::write_file(dir.path() / "project/sub/spec.md", "# changed\n");
  CHECK(inner->has_uncommitted_changes());
}

TEST_CASE("locks left by a br killed while making the first commit or a worktree are cleared") {
  test::TempDir dir;
  test::write_file(dir.path() / "project/app.py", "x\n");
  REQUIRE(test::git(dir.path(), "init -q project").empty());
  const std::string head_ref = test::git(dir.path() / "project", "symbolic-ref HEAD");
  test::write_file(dir.path() / ("project/.git/" + head_ref + ".lock"), "");
  test::write_file(dir.path() / "project/.git/index.lock", "");
  bool created = false;
  auto repo = GitRepo::open_or_init(dir.path() / "project", {}, Signature{}, &created);
  REQUIRE(repo);
  CHECK(created);
  const CommitId base = repo->head().value();

  test::write_file(dir.path() / "project/.git/refs/heads/br-worktree/slot-1.lock", "");
  auto wt = Worktree::open(*repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  CHECK(fs::exists(wt->dir() / "app.py"));

  // Killed during a reset or a commit of an existing worktree: its HEAD and index are locked.
  test::write_file(dir.path() / "wt/slot-1/app.py", "changed\n");
  auto next = wt->commit_all(base, "attempt", Signature{});
  REQUIRE(next);
  REQUIRE(next->has_value());
  const fs::path admin = dir.path() / "project/.git/worktrees/slot-1";
  test::write_file(admin / "HEAD.lock", "");
  test::write_file(admin / "index.lock", "");
  wt = Worktree::open(*repo, "slot-1", dir.path() / "wt/slot-1", base);
  REQUIRE(wt);
  const auto reset = wt->reset_to(base);
  INFO((reset ? std::string() : reset.error().str()));
  CHECK(reset);
  CHECK(test::read_file((dir.path() / "wt/slot-1/app.py").string()) == "x\n");
}

// A smoke test of concurrent adds; it has not reproduced a failure without the lock in
// Worktree::open on this machine.
TEST_CASE("the slots of one process add their worktrees at the same time") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"a.txt", "a\n"}});
  const CommitId base = repo.head().value();
  constexpr int kSlots = 8;
  std::vector<std::string> errors(kSlots);
  std::vector<std::thread> slots;
  for (int i = 0; i < kSlots; ++i) {
    slots.emplace_back([&, i] {
      // Each slot has its own GitRepo, as each worker thread does.
      auto own = GitRepo::open(dir.path() / "project");
      if (!own) {
        errors[i] = own.error().str();
        return;
      }
      const std::string name = "slot-" + std::to_string(i);
      auto wt = Worktree::open(*own, name, dir.path() / "wt" / name, base);
      if (!wt) errors[i] = wt.error().str();
    });
  }
  for (auto& t : slots) t.join();
  for (int i = 0; i < kSlots; ++i) {
    INFO("slot " << i);
    CHECK(errors[i].empty());
    CHECK(fs::exists(dir.path() / "wt" / ("slot-" + std::to_string(i)) / "a.txt"));
  }
}

// A worktree add cut short (a full disk, a kill) leaves its registration behind with HEAD on
// br's temporary branch, in any state of repair. Each must be cleared by the next open of that
// slot; one was seen to fail every later attempt with "reference is already checked out".
TEST_CASE("a worktree add cut short at any point does not stop the slot's next attempt") {
  const std::vector<std::pair<const char*, std::vector<const char*>>> cuts = {
      {"registration only", {"gitdir", "commondir"}},  // files removed from .git/worktrees/NAME
      {"no gitdir file", {"gitdir"}},
      {"no commondir file", {"commondir"}},
      {"no index", {"index"}},
      {"whole", {}},
  };
  for (const auto& [what, removed] : cuts) {
    for (const bool dir_kept : {true, false}) {
      DYNAMIC_SECTION(what << (dir_kept ? ", folder kept" : ", folder gone")) {
        test::TempDir dir;
        GitRepo repo = project(dir, {{"a.txt", "a\n"}});
        const CommitId base = repo.head().value();
        const fs::path tree = dir.path() / "wt/slot-1";
        // What libgit2's add leaves before it checks out and br detaches HEAD: the worktree on
        // the temporary branch.
        test::git(dir.path() / "project",
                  "worktree add -q -b br-worktree/slot-1 " + tree.string() + " " + base);
        const fs::path admin = dir.path() / "project/.git/worktrees/slot-1";
        REQUIRE(fs::exists(admin / "HEAD"));
        for (const char* file : removed) fs::remove(admin / file);
        if (!dir_kept) fs::remove_all(tree);

        auto wt = Worktree::open(repo, "slot-1", tree, base);
        INFO((wt ? std::string() : wt.error().str()));
        REQUIRE(wt);
        CHECK(fs::exists(tree / "a.txt"));
        test::write_file(tree / "b.txt", "b\n");
        auto commit = wt->commit_all(base, "b", Signature{});
        REQUIRE(commit);
        CHECK(commit->has_value());
        // The temporary branch is gone again; the user's branch list is as it was.
        CHECK(test::git(dir.path() / "project", "branch --list br-worktree/*").empty());
      }
    }
  }
}

TEST_CASE("a worktree name that is not a plain file name is refused") {
  test::TempDir dir;
  GitRepo repo = project(dir, {{"a.txt", "a\n"}});
  const CommitId base = repo.head().value();
  for (const char* name : {"../escape", "a/b", ".hidden", ""}) {
    auto wt = Worktree::open(repo, name, dir.path() / "wt/x", base);
    CHECK_FALSE(wt);
  }
}

TEST_CASE("a commit from what a change watch saw is the commit a full walk makes") {
  // Each change is made alike in two worktrees at the same base; one commits from its watch,
  // the other walks every file. The trees must be the same, and nothing left unstaged.
  using Change = std::function<void(const fs::path& wt, const fs::path& outside)>;
  const std::vector<std::pair<std::string, Change>> changes{
      {"nothing", [](const fs::path&, const fs::path&) {}},
      {"a tracked file written", [](const fs::path& wt, const fs::path&) {
         test::write_file(wt / "app.py", "v2\n");
       }},
      {"a file deleted and written again alike", [](const fs::path& wt, const fs::path&) {
         fs::remove(wt / "app.py");
         test::write_file(wt / "app.py", "v1\n");
       }},
      {"new files at the top and in a tracked folder", [](const fs::path& wt, const fs::path&) {
         test::write_file(wt / "new.py", "n\n");
         test::write_file(wt / "lib/more.py", "m\n");
       }},
      {"a new nested folder", [](const fs::path& wt, const fs::path&) {
         test::write_file(wt / "a/b/c/d.py", "d\n");
         test::write_file(wt / "lib/deep/er/e.py", "e\n");
       }},
      {"a tracked file and a tracked folder deleted", [](const fs::path& wt, const fs::path&) {
         fs::remove(wt / "app.py");
         fs::remove_all(wt / "lib");
       }},
      {"a folder renamed", [](const fs::path& wt, const fs::path&) {
         fs::rename(wt / "lib", wt / "lib2");
         test::write_file(wt / "lib2/sub/added.py", "a\n");
       }},
      {"a file made executable", [](const fs::path& wt, const fs::path&) {
         fs::permissions(wt / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
       }},
      {"ignored files and folders", [](const fs::path& wt, const fs::path&) {
         test::write_file(wt / "out.log", "log\n");
         test::write_file(wt / "build/obj/x.o", "o\n");
         test::write_file(wt / "lib/cache.log", "log\n");
         test::write_file(wt / "kept.py", "k\n");
       }},
      {".gitignore changed to ignore a new file", [](const fs::path& wt, const fs::path&) {
         test::write_file(wt / "scratch.tmp", "t\n");
         test::write_file(wt / ".gitignore", "*.log\nbuild/\n*.tmp\n");
       }},
      {"a file replaced by a folder and a folder by a file", [](const fs::path& wt,
                                                                const fs::path&) {
         fs::remove(wt / "app.py");
         test::write_file(wt / "app.py/inner.py", "i\n");
         fs::remove_all(wt / "lib");
         test::write_file(wt / "lib", "now a file\n");
       }},
      {"a symbolic link", [](const fs::path& wt, const fs::path&) {
         fs::create_symlink("app.py", wt / "link.py");
       }},
      {"a file and a folder moved in from outside", [](const fs::path& wt,
                                                       const fs::path& outside) {
         test::write_file(outside / "moved.py", "m\n");
         test::write_file(outside / "pkg/one.py", "1\n");
         test::write_file(outside / "pkg/two/three.py", "3\n");
         fs::rename(outside / "moved.py", wt / "lib/moved.py");
         fs::rename(outside / "pkg", wt / "pkg");
       }},
      {"a tracked file moved out", [](const fs::path& wt, const fs::path& outside) {
         fs::create_directories(outside);
         fs::rename(wt / "lib/util.py", outside / "util.py");
       }},
  };
  for (const auto& [what, change] : changes) {
    DYNAMIC_SECTION(what) {
      test::TempDir dir;
      GitRepo repo = project(dir, {{"app.py", "v1\n"},
                                   {"lib/util.py", "u\n"},
                                   {"lib/sub/s.py", "s\n"},
                                   {"run.sh", "#!/bin/sh\n"},
                                   {".gitignore", "*.log\nbuild/\n"}});
      const CommitId base = repo.head().value();
      auto watched = Worktree::open(repo, "watched", dir.path() / "wt/watched", base);
      auto walked = Worktree::open(repo, "walked", dir.path() / "wt/walked", base);
      REQUIRE(watched);
      REQUIRE(walked);
      REQUIRE(watched->reset_to(base));
      ChangeWatch watch = ChangeWatch::start(watched->dir());
      change(watched->dir(), dir.path() / "outside-1");
      change(walked->dir(), dir.path() / "outside-2");
      const auto seen = watch.collect();
      REQUIRE(seen.has_value());
      auto from_watch = watched->commit_all(base, "t", Signature{}, &*seen);
      auto from_walk = walked->commit_all(base, "t", Signature{});
      REQUIRE(from_watch);
      REQUIRE(from_walk);
      REQUIRE(from_watch->has_value() == from_walk->has_value());
      if (from_walk->has_value()) {
        CHECK(test::git(dir.path() / "project", "rev-parse " + **from_watch + "^{tree}") ==
              test::git(dir.path() / "project", "rev-parse " + **from_walk + "^{tree}"));
      }
      CHECK(test::git(watched->dir(), "status --porcelain") ==
            test::git(walked->dir(), "status --porcelain"));
      CHECK(test::git(watched->dir(), "status --porcelain").empty());
    }
  }
}

TEST_CASE("a change watch answers 'unknown' where only a walk can tell") {
  test::TempDir dir;
  test::write_file(dir.path() / "root/lib/a.py", "a\n");
  SECTION("a path named .git") {
    ChangeWatch watch = ChangeWatch::start(dir.path() / "root");
    test::write_file(dir.path() / "root/lib/.git", "gitdir: elsewhere\n");
    CHECK_FALSE(watch.collect().has_value());
  }
  SECTION("the root moved") {
    ChangeWatch watch = ChangeWatch::start(dir.path() / "root");
    fs::rename(dir.path() / "root", dir.path() / "moved");
    CHECK_FALSE(watch.collect().has_value());
  }
  SECTION("a root that is not there") {
    ChangeWatch watch = ChangeWatch::start(dir.path() / "absent");
    CHECK_FALSE(watch.collect().has_value());
  }
  SECTION("otherwise what changed, files and folders apart") {
    ChangeWatch watch = ChangeWatch::start(dir.path() / "root");
    test::write_file(dir.path() / "root/lib/b.py", "b\n");
    test::write_file(dir.path() / "root/new/c.py", "c\n");
    fs::remove(dir.path() / "root/lib/a.py");
    auto seen = watch.collect();
    REQUIRE(seen.has_value());
    CHECK(seen->files == std::vector<std::string>{"lib/a.py", "lib/b.py"});
    CHECK(seen->folders == std::vector<std::string>{"new"});
  }
}
