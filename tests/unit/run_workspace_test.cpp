// The coordinator's side of isolation on real repositories: the run's base and branch, what it
// accepts to merge and what it refuses (with the reason the attempt then fails with), and the
// branch that follows durable records.
#include "coordinator/run_workspace.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/files.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
namespace fs = std::filesystem;

namespace {

struct Repo {
  test::TempDir dir{"br-ws"};
  GitRepo repo = [&] {
    test::write_file(dir.path() / "project/readme.md", "hi\n");
    bool created = false;
    return GitRepo::open_or_init(dir.path() / "project", {}, Signature{}, &created).value();
  }();
  CommitId base = repo.head().value();

  // A commit of `file` = `text` on top of `parent`, made in a worktree as a worker would.
  CommitId attempt(const std::string& name, const CommitId& parent, const std::string& file,
                   const std::string& text) {
    auto wt = Worktree::open(repo, name, dir.path() / ("wt-" + name), parent).value();
    test::write_file(wt.dir() / file, text);
    return wt.commit_all(parent, name, Signature{}).value().value();
  }
  TaskResult result(const CommitId& commit) {
    TaskResult r;
    r.task = TaskId("t/01");
    r.attempt = 1;
    r.batch = BatchId("b1");
    r.success = true;
    r.commit = commit;
    return r;
  }
};

}  // namespace

TEST_CASE("a passed attempt is merged, and its changed files are reported") {
  Repo r;
  auto integration = GitIntegration::open(r.dir.path() / "project", "br/run").value();
  const CommitId a = r.attempt("a", r.base, "src/a.py", "a\n");
  auto merged = integration->integrate(r.base, r.result(a));
  REQUIRE(merged);
  CHECK(merged->head == a);  // fast-forward
  CHECK(merged->files == std::vector<std::string>{"src/a.py"});
  // Idempotent: the same commit again (another task of its batch, a replayed result).
  auto again = integration->integrate(a, r.result(a));
  REQUIRE(again);
  CHECK(again->head == a);
}

TEST_CASE("what a worker sends that is not built on the run is refused with a reason") {
  Repo r;
  auto integration = GitIntegration::open(r.dir.path() / "project", "br/run").value();

  SECTION("a commit the repository does not have") {
    auto refused = integration->integrate(r.base, r.result(std::string(40, 'f')));
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().str(), Catch::Contains("is not in the repository"));
  }
  SECTION("a commit whose parent is not on the branch") {
    // Built on history the run never had: a commit that was never merged.
    const CommitId stray = r.attempt("s1", r.attempt("s0", r.base, "y.txt", "y\n"), "z", "z");
    auto refused = integration->integrate(r.base, r.result(stray));
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().str(), Catch::Contains("is not built on br/run"));
  }
  SECTION("a conflict names the paths, keeps the attempt on a side ref, and stays refused") {
    const CommitId one = r.attempt("one", r.base, "readme.md", "one\n");
    const CommitId two = r.attempt("two", r.base, "readme.md", "two\n");
    auto head = integration->integrate(r.base, r.result(one));
    REQUIRE(head);
    auto conflict = integration->integrate(head->head, r.result(two));
    REQUIRE_FALSE(conflict);
    CHECK_THAT(conflict.error().str(), Catch::Contains("merge conflict in readme.md"));
    CHECK(r.repo.ref_commit("refs/br/failed/b1-1").value() == std::optional<CommitId>(two));
    // The other tasks of that attempt fail alike, whatever the head is by then.
    auto still = integration->integrate(r.base, r.result(two));
    REQUIRE_FALSE(still);
    CHECK_THAT(still.error().str(), Catch::Contains("merge conflict in readme.md"));
  }
}

TEST_CASE("the branch follows durable successes, and a resume puts it at the journaled head") {
  Repo r;
  const fs::path project = r.dir.path() / "project";
  REQUIRE(create_run_branch(project, "br/run", r.base));
  // A branch of that name elsewhere belongs to someone else.
  const CommitId a = r.attempt("a", r.base, "a.txt", "a\n");
  REQUIRE(r.repo.set_branch("taken", a));
  CHECK_FALSE(create_run_branch(project, "taken", r.base));

  // A coordinator killed while moving the ref leaves its lock; the next one clears it.
  test::write_file(r.repo.git_dir() / "refs/heads/br/run.lock", "");
  auto follower = BranchFollower::open(project, "br/run");
  REQUIRE(follower);
  JournalRecord ok{1, "run", 0, rec::TaskSucceeded{TaskId("t/01"), 1, "w", {}, a, a}};
  REQUIRE(follower->follow({ok}));
  CHECK(r.repo.branch("br/run").value() == std::optional<CommitId>(a));
  REQUIRE(follower->set(r.base));  // replay says the head is the base: the ref goes back
  CHECK(r.repo.branch("br/run").value() == std::optional<CommitId>(r.base));
}

TEST_CASE("branch names come from the template and must be valid") {
  CHECK(branch_name("br/{run}", "abc") == "br/abc");
  CHECK(branch_name("results/{run}-{run}", "x") == "results/x-x");
  CHECK(GitRepo::is_valid_branch_name("br/abc"));
  CHECK_FALSE(GitRepo::is_valid_branch_name("br/a..b"));
  CHECK_FALSE(GitRepo::is_valid_branch_name("br/a b"));
}

TEST_CASE("a new run's base: a folder becomes a repository, a bad branch name changes nothing") {
  test::TempDir dir;
  test::write_file(dir.path() / "ws/spec.md", "# spec\n");
  Config config;
  config.run.workspace = (dir.path() / "ws").string();
  config.run.branch = "br/bad..{run}";
  auto refused = open_run_base(config, dir.path() / "ws/.br");
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().str(), Catch::Contains("does not make a valid git branch name"));
  CHECK_FALSE(fs::exists(dir.path() / "ws/.git"));

  config.run.branch = "br/{run}";
  auto base = open_run_base(config, dir.path() / "ws/.br");
  REQUIRE(base);
  CHECK(is_commit_id(base->base));
  REQUIRE(base->notes.size() == 1);
  CHECK_THAT(base->notes[0], Catch::Contains("a git repository"));
}
