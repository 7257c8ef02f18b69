// Isolated attempts end to end: `br run` on a git workspace, with agents that run in parallel,
// conflict, fail half way and look around. What counts is the run's branch (read with the git
// CLI), the journal, and what each agent saw. Every test has its own temporary directory;
// agents meet at a barrier with a deadline, never a sleep.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "tests/support/br_run.hpp"

using namespace br;
using namespace br::test;
namespace fs = std::filesystem;

namespace {

// Two independent backend features, each expecting its own file.
std::string two_feature_spec() {
  return "# Pair\n## Overview\nTwo pieces.\n## Features\n"
         "### Alpha {#alpha}\n**Description:** Business logic alpha.\n**Files:**\n- src/alpha.py\n"
         "### Beta {#beta}\n**Description:** Business logic beta.\n**Files:**\n- src/beta.py\n";
}

std::string config(const std::string& extra_verify = "") {
  return "[run]\nworkers = 2\nworkspace = \"ws\"\nbackoff_base = \"100ms\"\nbatch_max_tasks = 1\n"
         "\n[agent]\ncommand = [\"./agent.sh\"]\ntimeout = \"60s\"\nenv = [\"BR_TEST_DIR\"]\n"
         "\n[verify]\nfile_wait = \"0s\"\n" +
         extra_verify;
}

// Each feature decomposes into a backend task (the file), a tests and a docs task (no files).
// The agent: for a task with an expected file, writes it and `shared.txt`, keeps a copy of its
// prompt, and on a first attempt waits (30 s at most) until both first attempts have begun, so that
// both start from the same base. BR_TEST_DIR is the test's directory.
const char* kAgent = R"SH(#!/usr/bin/env bash
set -u
task=$BR_TASK_IDS
name=${task//\//_}
attempt=$(grep -m1 '^BR-ATTEMPT: ' "$BR_PROMPT_FILE" | cut -d' ' -f2)
cp "$BR_PROMPT_FILE" "$BR_TEST_DIR/prompt-$name-$attempt.md"
file=$(grep -m1 '^BR-EXPECT-FILE: ' "$BR_PROMPT_FILE" | cut -d' ' -f2-)
[ -n "$file" ] || exit 0  # the tests and docs tasks of a feature: nothing to write
mkdir -p "$(dirname "$file")"
echo "work of $task" > "$file"
echo "$task was here (attempt $attempt)" > shared.txt
if [ "$attempt" = 1 ]; then
  touch "$BR_TEST_DIR/started-$name"
  met=0
  for _ in $(seq 300); do
    [ "$(ls "$BR_TEST_DIR" | grep -c '^started-')" -ge 2 ] && { met=1; break; }
    sleep 0.1
  done
  [ "$met" = 1 ] || touch "$BR_TEST_DIR/barrier-timeout"
fi
)SH";

struct IsolatedRun {
  TempDir dir{"br-iso"};
  Run run;
  RunState state;

  void start(const std::string& spec, const std::string& agent, const std::string& conf) {
    write_file(dir / "spec.md", spec);
    write_file(dir / "br.toml", conf);
    write_file(dir / "agent.sh", agent, true);
    run = run_br(
        dir, {"--state-dir", "state", "run", "--auto", "spec.md", "--config", "br.toml", "--plain"},
        {{"BR_TEST_DIR", dir.str()}});
    state = state_of(dir / "state");
  }
  std::string ws() const { return dir / "ws"; }
  std::string show(const std::string& path) const {
    return git(ws(), "show " + state.branch() + ":" + path);
  }
};

}  // namespace

TEST_CASE(
    "two parallel agents change one file: one merges, the other conflicts, then "
    "succeeds on the new head") {
  IsolatedRun r;
  r.start(two_feature_spec(), kAgent, config());
  INFO(r.run.output);
  // Both first attempts must have run at the same time (else nothing conflicts); the output
  // above says why one did not.
  REQUIRE_FALSE(fs::exists(r.dir / "barrier-timeout"));
  REQUIRE(r.run.exit_code == 0);
  CHECK_THAT(r.run.output, Catch::Contains("git merge " + r.state.branch()));

  const TaskState* alpha = r.state.find(TaskId("alpha/01-backend"));
  const TaskState* beta = r.state.find(TaskId("beta/01-backend"));
  REQUIRE(alpha);
  REQUIRE(beta);
  CHECK(alpha->status == TaskStatus::succeeded);
  CHECK(beta->status == TaskStatus::succeeded);
  // Exactly one of them needed a second attempt, and it was told about the conflict.
  REQUIRE(alpha->attempt + beta->attempt == 3);
  const std::string retried = alpha->attempt == 2 ? "alpha" : "beta";
  const std::string prompt = read_file(r.dir / ("prompt-" + retried + "_01-backend-2.md"));
  CHECK_THAT(prompt, Catch::Contains("merge conflict in shared.txt"));
  bool conflict_journaled = false;
  for (const auto& rec : journal_of(r.dir / "state")) {
    if (const auto* f = std::get_if<rec::TaskFailed>(&rec.body)) {
      conflict_journaled = f->reason.find("merge conflict in shared.txt") != std::string::npos;
    }
  }
  CHECK(conflict_journaled);

  // The branch holds both tasks' work, and the retry's shared.txt (made on top of the other).
  CHECK(r.show("src/alpha.py") == "work of alpha/01-backend");
  CHECK(r.show("src/beta.py") == "work of beta/01-backend");
  CHECK(r.show("shared.txt") == retried + "/01-backend was here (attempt 2)");
  CHECK(git(r.ws(), "merge-base --is-ancestor " + alpha->commit + " " + r.state.branch() +
                        " && echo yes") == "yes");
  CHECK(git(r.ws(), "merge-base --is-ancestor " + beta->commit + " " + r.state.branch() +
                        " && echo yes") == "yes");
  CHECK(git(r.ws(), "rev-parse " + r.state.branch()) == r.state.head());
  CHECK_THAT(
      git(r.ws(), "log --format=%B " + r.state.branch()),
      Catch::Contains("Br-Run: " + r.state.run_id()) &&
                 Catch::Contains("Br-Task: alpha/01-backend") && Catch::Contains("Br-Task: beta/01-backend"));

  // The user's own checkout is as it was: no agent wrote there, no worktree is left.
  CHECK_FALSE(fs::exists(r.dir / "ws/src"));
  CHECK_FALSE(fs::exists(r.dir / "ws/shared.txt"));
  CHECK(git(r.ws(), "worktree list").find("state/worktrees") == std::string::npos);
}

TEST_CASE("a failed attempt's partial files reach neither the branch nor a later task") {
  // beta depends on alpha; alpha's first attempt writes a stray file and fails.
  const std::string spec =
      "# Chain\n## Overview\nTwo steps.\n## Features\n"
      "### Alpha {#alpha}\n**Description:** Business logic alpha.\n**Files:**\n- src/alpha.py\n"
      "### Beta {#beta}\n**Description:** Business logic beta.\n**Depends on:** alpha\n"
      "**Files:**\n- src/beta.py\n";
  const char* agent = R"SH(#!/usr/bin/env bash
set -u
attempt=$(grep -m1 '^BR-ATTEMPT: ' "$BR_PROMPT_FILE" | cut -d' ' -f2)
file=$(grep -m1 '^BR-EXPECT-FILE: ' "$BR_PROMPT_FILE" | cut -d' ' -f2-)
mkdir -p src
if [ "$BR_TASK_IDS" = alpha/01-backend ] && [ "$attempt" = 1 ]; then
  echo half > src/partial.py
  exit 1
fi
find . -path ./.git -prune -o -type f -print | sort > "$BR_TEST_DIR/seen-${BR_TASK_IDS//\//_}.txt"
[ -n "$file" ] || exit 0
echo "work of $BR_TASK_IDS" > "$file"
)SH";
  IsolatedRun r;
  r.start(spec, agent, config());
  INFO(r.run.output);
  REQUIRE(r.run.exit_code == 0);
  CHECK(r.state.find(TaskId("alpha/01-backend"))->attempt == 2);

  const std::string seen_by_beta = read_file(r.dir / "seen-beta_01-backend.txt");
  CHECK_THAT(seen_by_beta, Catch::Contains("./src/alpha.py"));  // its dependency's work
  CHECK_THAT(seen_by_beta, !Catch::Contains("partial"));
  CHECK_THAT(read_file(r.dir / "seen-alpha_01-backend.txt"), !Catch::Contains("partial"));
  CHECK(git(r.ws(), "ls-tree -r --name-only " + r.state.branch()) == "src/alpha.py\nsrc/beta.py");
  // The failed attempt stays inspectable on a side ref.
  const std::string failed_refs = git(r.ws(), "for-each-ref --format='%(refname)' refs/br/failed");
  REQUIRE_FALSE(failed_refs.empty());
  CHECK(git(r.ws(), "show " + failed_refs + ":src/partial.py") == "half");

  // What each task changed, as br shows it.
  const Run diff = run_br(r.dir, {"--state-dir", "state", "task", "diff", "alpha/01-backend"});
  CHECK(diff.exit_code == 0);
  CHECK_THAT(diff.output, Catch::Contains("passed attempt 2 of alpha/01-backend") &&
                              Catch::Contains("A src/alpha.py") && !Catch::Contains("partial"));
  const Run list = run_br(r.dir, {"--state-dir", "state", "task", "list", "--json"});
  CHECK_THAT(list.output,
             Catch::Contains("\"commit\": \"" + r.state.find(TaskId("beta/01-backend"))->commit));
  const Run unknown = run_br(r.dir, {"--state-dir", "state", "task", "diff", "nope"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("no task 'nope'"));
}

TEST_CASE("check_command of one attempt never sees another attempt's files") {
  // Each check runs while the other agent's file exists somewhere: in a shared directory it
  // would see two files in src/.
  // Files of src/ that are not in the attempt's base: at most its own new file.
  const std::string check =
      "#!/usr/bin/env bash\nnew=$(git status --porcelain --untracked-files=all -- src)\n"
      "[ \"$(echo \"$new\" | grep -c .)\" -le 1 ] || { echo \"saw: $new\"; exit 1; }\n";
  IsolatedRun r;
  write_file(r.dir / "check.sh", check, true);
  r.start(two_feature_spec(), kAgent, config("check_command = [\"./check.sh\"]\n"));
  INFO(r.run.output);
  REQUIRE(r.run.exit_code == 0);
  // Both first attempts passed their checks (one then conflicted on shared.txt at the merge).
  for (const auto& rec : journal_of(r.dir / "state")) {
    if (const auto* f = std::get_if<rec::TaskFailed>(&rec.body)) {
      CHECK_THAT(f->reason, !Catch::Contains("saw:"));
    }
  }
  CHECK(r.show("src/alpha.py") == "work of alpha/01-backend");
  CHECK(r.show("src/beta.py") == "work of beta/01-backend");
}

TEST_CASE("isolation = \"none\" keeps one shared directory, and that is what the check sees") {
  const std::string check =
      "#!/usr/bin/env bash\n[ \"$(ls src | wc -l)\" -le 1 ] || "
      "{ echo \"saw: $(ls src | tr '\\n' ' ')\"; exit 1; }\n";
  IsolatedRun r;
  write_file(r.dir / "check.sh", check, true);
  std::string conf = config("check_command = [\"./check.sh\"]\n");
  conf.replace(conf.find("[run]\n"), 6, "[run]\nisolation = \"none\"\nmax_attempts = 1\n");
  r.start(two_feature_spec(), kAgent, conf);
  // The trade-off, shown: each check saw the other agent's file, so neither passed.
  CHECK(r.run.exit_code == 1);
  CHECK_FALSE(r.state.isolated());
  CHECK(fs::exists(r.dir / "ws/src/alpha.py"));
  CHECK(fs::exists(r.dir / "ws/src/beta.py"));
}
