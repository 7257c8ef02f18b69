// Commits between hosts, on real repositories: a worker with an empty workspace gets a base
// from the coordinator's ObjectServer in chunks, commits an attempt, and sends it back as a
// pack that the coordinator's GitIntegration checks before it merges. What a worker may not
// send (a damaged pack, one without its commit, too large a change, a path out of the tree)
// is refused with the reason the attempt then fails with.
#include <catch2/catch.hpp>

#include <thread>

#include "actors/worker/remote_commits.hpp"
#include "coordinator/run_workspace.hpp"
#include "tests/support/files.hpp"
#include "tests/support/git_cli.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
namespace fs = std::filesystem;

namespace {

// A coordinator's project of `files` files, and a worker host with an empty workspace.
// A change's pack holds its commit, its new blobs and the trees on their paths (libgit2 makes
// no thin packs): it grows with the change and the folders it touches, not with the project.
struct Hosts {
  int files;  // first: the members below are made in order, and use it
  test::TempDir dir{"br-remote"};
  GitRepo coordinator = [&] {
    // In folders of 20, with text that does not compress to nothing, as in a real project.
    std::uint32_t x = 42;
    for (int i = 0; i < files; ++i) {
      std::string text = "# file " + std::to_string(i) + "\n";
      for (int line = 0; line < 20; ++line) {
        x = x * 1103515245 + 12345;
        text += "value_" + std::to_string(x) + " = " + std::to_string(x >> 8) + "\n";
      }
      test::write_file(dir.path() / "project" /
                           ("src/m" + std::to_string(i / 20) + "/f" + std::to_string(i) + ".py"),
                       text);
    }
    bool created = false;
    return GitRepo::open_or_init(dir.path() / "project", {}, Signature{}, &created).value();
  }();
  CommitId base = coordinator.head().value();
  GitRepo worker = open_worker_repository(dir.path() / "host/workspace").value();

  explicit Hosts(int n = 50) : files(n) {}

  // Fetches `want` as a worker does: chunk after chunk of one pack, then indexes it.
  std::size_t fetch(ObjectServer& server, const CommitId& want, std::vector<CommitId> have) {
    std::string pack, id;
    for (int requests = 0; requests < 100000; ++requests) {
      const ObjectsChunk chunk = server.serve(ObjectsRequest{want, have, pack.size()});
      REQUIRE(chunk.error.empty());
      if (pack.empty()) id = chunk.pack_id;
      REQUIRE(chunk.pack_id == id);
      pack += chunk.data;
      if (pack.size() >= chunk.total) break;
    }
    REQUIRE(worker.index_pack(pack));
    return pack.size();
  }

  // The worker's attempt: `file` = `text` on `parent`, in a worktree of its own repository.
  std::vector<TaskResult> attempt(const CommitId& parent, const std::string& file,
                                  const std::string& text, std::uint64_t max_bytes = 1 << 20) {
    auto wt = Worktree::open(worker, "slot-0", dir.path() / "host/wt", parent).value();
    REQUIRE(wt.reset_to(parent));
    test::write_file(wt.dir() / file, text);
    const CommitId commit = wt.commit_all(parent, "attempt", Signature{}).value().value();
    std::vector<TaskResult> results(2);
    for (std::size_t i = 0; i < results.size(); ++i) {
      results[i].task = TaskId(i == 0 ? "t/02" : "t/01");
      results[i].attempt = 1;
      results[i].batch = BatchId("b1");
      results[i].success = true;
      results[i].commit = commit;
    }
    attach_pack(worker, parent, max_bytes, results);
    return results;
  }
};

// Runs `command` with sh in the worker's repository; its output without the last newline.
std::string in(const Hosts& h, const std::string& command) {
  return test::shell("cd '" + (h.dir.path() / "host/workspace").string() + "' && " + command);
}

TaskResult forged_result(const CommitId& commit, std::string pack) {
  TaskResult r;
  r.task = TaskId("t/01");
  r.attempt = 1;
  r.batch = BatchId("b9");
  r.success = true;
  r.commit = commit;
  r.pack = std::move(pack);
  return r;
}

}  // namespace

TEST_CASE("a worker with an empty workspace fetches its base and sends back only its change") {
  Hosts h(200);
  auto server = ObjectServer::open(h.dir.path() / "project", 4096).value();
  const std::size_t bootstrap = h.fetch(*server, h.base, {});
  CHECK(h.worker.has_commit(h.base));
  CHECK(bootstrap > 4096);  // it took several chunks

  auto results = h.attempt(h.base, "src/new.py", "print('new')\n");
  // The pack rides on the result delivered first (the smaller task id), once.
  CHECK(results[0].pack.empty());
  REQUIRE_FALSE(results[1].pack.empty());
  INFO("bootstrap " << bootstrap << " bytes, change " << results[1].pack.size() << " bytes");
  CHECK(results[1].pack.size() * 20 < bootstrap);  // the change, not the repository

  auto integration = GitIntegration::open(h.dir.path() / "project", "br/run").value();
  auto merged = integration->integrate(h.base, results[1]);
  INFO((merged ? std::string() : merged.error().str()));
  REQUIRE(merged);
  CHECK(merged->head == results[1].commit);
  CHECK(merged->files == std::vector<std::string>{"src/new.py"});
  CHECK(test::git(h.dir.path() / "project", "show " + merged->head + ":src/new.py") ==
        "print('new')");

  // The next base is fetched knowing what the worker has: only what is new comes.
  REQUIRE(h.coordinator.set_branch("br/run", merged->head));
  const CommitId next = [&] {
    auto wt = Worktree::open(h.coordinator, "c", h.dir.path() / "cwt", merged->head).value();
    test::write_file(wt.dir() / "src/other.py", "x = 1\n");
    return wt.commit_all(merged->head, "other", Signature{}).value().value();
  }();
  const std::size_t increment = h.fetch(*server, next, {h.base, results[1].commit});
  CHECK(h.worker.has_commit(next));
  CHECK(increment * 20 < bootstrap);
}

TEST_CASE("a worker's workspace with other files in it is refused with what to do") {
  test::TempDir dir;
  test::write_file(dir.path() / "ws/notes.txt", "mine\n");
  auto repo = open_worker_repository(dir.path() / "ws");
  REQUIRE_FALSE(repo);
  CHECK_THAT(repo.error().str(), Catch::Contains("give an empty folder"));
}

TEST_CASE("the slots of one worker may open its new workspace at the same moment") {
  // Found in integration.distributed: two slots' first batches arrived together and one
  // failed on config.lock, or took the other's half-made repository for "other files".
  test::TempDir dir;
  for (int round = 0; round < 20; ++round) {
    const auto ws = dir.path() / ("ws" + std::to_string(round));
    std::vector<std::string> errors(4);
    std::vector<std::thread> slots;
    for (auto& error : errors) {
      slots.emplace_back([&ws, &error] {
        auto repo = open_worker_repository(ws);
        if (!repo) error = repo.error().str();
      });
    }
    for (auto& slot : slots) slot.join();
    for (const auto& error : errors) CHECK(error.empty());
  }
}

TEST_CASE("what a worker sends back is checked before it is merged, and refused with why") {
  Hosts h;
  auto server = ObjectServer::open(h.dir.path() / "project", 1 << 20).value();
  h.fetch(*server, h.base, {});

  SECTION("a damaged pack") {
    auto results = h.attempt(h.base, "src/a.py", "a\n");
    std::string& pack = results[1].pack;
    pack[pack.size() / 2] = static_cast<char>(pack[pack.size() / 2] ^ 0x5a);
    auto integration = GitIntegration::open(h.dir.path() / "project", "br/run").value();
    auto merged = integration->integrate(h.base, results[1]);
    REQUIRE_FALSE(merged);
    CHECK_THAT(merged.error().str(), Catch::Contains("objects are damaged"));
  }
  SECTION("a pack that lacks the commit it names") {
    auto results = h.attempt(h.base, "src/a.py", "a\n");
    auto other = h.attempt(h.base, "src/b.py", "b\n");
    results[1].pack = other[1].pack;
    auto integration = GitIntegration::open(h.dir.path() / "project", "br/run").value();
    auto merged = integration->integrate(h.base, results[1]);
    REQUIRE_FALSE(merged);
    CHECK_THAT(merged.error().str(), Catch::Contains("do not hold its commit"));
  }
  SECTION("a change over limits.change_max_bytes, by the coordinator and by the worker") {
    std::string noise;
    std::uint32_t x = 12345;
    for (int i = 0; i < 64 * 1024; ++i) noise += static_cast<char>((x = x * 1103515245 + 12345) >> 24);
    auto results = h.attempt(h.base, "big.bin", noise);
    auto integration =
        GitIntegration::open(h.dir.path() / "project", "br/run", 16 * 1024).value();
    auto merged = integration->integrate(h.base, results[1]);
    REQUIRE_FALSE(merged);
    CHECK_THAT(merged.error().str(), Catch::Contains("over limits.change_max_bytes"));

    auto refused_here = h.attempt(h.base, "big2.bin", noise, 16 * 1024);
    for (const auto& r : refused_here) {
      CHECK_FALSE(r.success);
      CHECK(r.pack.empty());
      CHECK_THAT(r.reason, Catch::Contains("over limits.change_max_bytes"));
    }
  }
  SECTION("a commit on another base than the run's") {
    // The worker's own root commit: not built on anything the coordinator has.
    const std::string blob = in(h, "printf hi | git hash-object -w --stdin");
    const std::string tree = in(h, "printf '100644 blob " + blob + "\\trogue.txt\\n' | git mktree");
    const std::string root = in(h, "git commit-tree " + tree + " -m rogue < /dev/null");
    REQUIRE(is_commit_id(root));
    TaskResult r = forged_result(root, h.worker.pack_objects(root, {}).value());
    auto integration = GitIntegration::open(h.dir.path() / "project", "br/run").value();
    auto merged = integration->integrate(h.base, r);
    REQUIRE_FALSE(merged);
    CHECK_THAT(merged.error().str(), Catch::Contains("is not one attempt's"));
  }
  SECTION("a path out of the tree: a .git folder, a symlink pointing outside") {
    const std::string base_tree = in(h, "git rev-parse " + h.base + "^{tree}");
    const std::string hook = in(h, "printf 'rm -rf ~' | git hash-object -w --stdin");
    const std::string hooks = in(h, "printf '100755 blob " + hook + "\\tpost-checkout\\n' | git mktree");
    const std::string target = in(h, "printf ../../../etc/passwd | git hash-object -w --stdin");
    // `git mktree` refuses a folder named .git; the tree is written byte by byte instead.
    std::string dot_git_entry = std::string("40000 .git") + '\0';
    for (std::size_t i = 0; i < 40; i += 2) {
      dot_git_entry += static_cast<char>(std::stoi(hooks.substr(i, 2), nullptr, 16));
    }
    test::write_file(h.dir.path() / "entry", dot_git_entry);
    const std::vector<std::string> trees = {
        in(h, "git hash-object --literally -t tree -w " + (h.dir.path() / "entry").string()),
        in(h, "{ git ls-tree " + base_tree + "; printf '120000 blob " + target +
                  "\\tpasswd\\n'; } | git mktree"),
    };
    for (const std::string& tree : trees) {
      REQUIRE(tree.size() == 40);
      const std::string commit =
          in(h, "git commit-tree " + tree + " -p " + h.base + " -m x < /dev/null");
      REQUIRE(is_commit_id(commit));
      TaskResult r = forged_result(commit, h.worker.pack_objects(commit, {h.base}).value());
      auto integration = GitIntegration::open(h.dir.path() / "project", "br/run").value();
      auto merged = integration->integrate(h.base, r);
      REQUIRE_FALSE(merged);
      CHECK_THAT(merged.error().str(), Catch::Contains("outside the tree"));
      CHECK(integration->integrate(h.base, r).error().str() == merged.error().str());
    }
  }
}
