// Crash harness: runs a spec with an in-process worker and br-worker processes, SIGKILLs the
// coordinator at random moments and restarts it, kills and restarts workers too, and checks
// at the end of every run that the crashes were harmless:
//   - the journal has no gap and no torn record, and replays;
//   - every task is in exactly one terminal state, and it is `succeeded` (the agent never fails);
//   - the demo agent's ledger shows every succeeded task's final attempt ran to success exactly
//     once, and no attempt of any task ran twice (no agent launched twice for one attempt);
//   - the integration branch is at the journaled head, and holds every commit of a succeeded
//     task (the in-process worker's attempts are isolated; kills land during merges too).
// Runs are repeated until --kills coordinator kills have happened. The seed is printed first
// and with any failure; the same seed gives the same kill schedule.
//
//   crash_harness --coordinator BIN --worker BIN --agent PATH [--kills 20] [--seed N] [--keep]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/core.h>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "storage/journal.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;
using namespace std::chrono_literals;
using test::Child;

namespace {

struct Options {
  std::string coordinator, worker, agent;
  int kills = 20;
  std::uint64_t seed = 0;
  bool keep = false;
};

struct Failure {
  std::string what;
};

// A free TCP port on 127.0.0.1 now; the coordinator binds it with SO_REUSEADDR on every restart.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Failure{"cannot find a free port"};
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

constexpr int kFeatures = 8;

void write_inputs(const std::string& dir, const Options& o) {
  std::ofstream spec(dir + "/spec.md");
  spec << "# Crash\n## Features\n";
  for (int i = 0; i < kFeatures; ++i) {
    spec << "### Piece " << i << " {#p" << i << "}\n"
         << "Business logic and an HTTP endpoint, with tests.\n\n";
    if (i >= 2) spec << "**Depends on:** p" << (i % 2) << "\n";
    spec << "**Files:**\n- src/p" << i << ".py\n- api/p" << i << ".py\n- tests/test_p" << i
         << ".py\n";
  }
  // Leases short enough that an attempt nobody reports comes back quickly; attempts lost to
  // crashes must not exhaust max_attempts (the agent never fails on its own here).
  std::ofstream(dir + "/br.toml")
      << "[run]\nworkspace = \"ws\"\nmax_attempts = 100\nbackoff_base = \"20ms\"\n"
      << "backoff_max = \"200ms\"\nlease = \"4s\"\n"
      << "[agent]\ncommand = [\"" << o.agent << "\"]\n"
      << "env = [\"BR_DEMO_SLEEP_MS\", \"BR_DEMO_LEDGER\"]\n"
      << "[verify]\nfile_wait = \"200ms\"\n";
}

class Cluster {
 public:
  Cluster(const Options& o, std::string dir, std::mt19937_64& rng)
      : o_(o), dir_(std::move(dir)), rng_(rng), port_(std::to_string(free_port())) {
    write_inputs(dir_, o_);
  }

  void start_coordinator() {
    coordinator_ = std::make_unique<Child>(
        dir_, fmt::format("coordinator-{}.log", coordinator_starts_++),
        std::vector<std::string>{o_.coordinator, "--config", "br.toml", "--spec", "spec.md",
                                 "--listen", "127.0.0.1:" + port_, "--state-dir", "state",
                                 "--workers", "1"},
        env());
  }
  void start_worker(int i) {
    workers_.resize(std::max<std::size_t>(workers_.size(), i + 1));
    // Same name after a restart: the coordinator then knows at once what it no longer holds.
    workers_[i] = std::make_unique<Child>(
        dir_, fmt::format("w{}-{}.log", i, worker_starts_++),
        std::vector<std::string>{o_.worker, "--connect", "127.0.0.1:" + port_, "--config",
                                 "br.toml", "--workspace", "ws", "--name", fmt::format("w{}", i),
                                 "--state-dir", fmt::format("w{}", i), "--slots", "2",
                                 "--reconnect-for", "30"},
        env());
  }
  Child& coordinator() { return *coordinator_; }
  void kill_worker(int i) { workers_[i]->kill_now(); }
  std::size_t workers() const { return workers_.size(); }
  const std::string& dir() const { return dir_; }

 private:
  std::vector<std::pair<std::string, std::string>> env() {
    // Agents take 50–250 ms, so kills land before, during and after agent runs.
    return {{"BR_DEMO_LEDGER", dir_ + "/ledger"},
            {"BR_DEMO_SLEEP_MS", std::to_string(50 + rng_() % 200)}};
  }

  const Options& o_;
  std::string dir_;
  std::mt19937_64& rng_;
  std::string port_;
  std::unique_ptr<Child> coordinator_;
  std::vector<std::unique_ptr<Child>> workers_;
  int coordinator_starts_ = 0, worker_starts_ = 0;
};

void check(bool ok, const std::string& what) {
  if (!ok) throw Failure{what};
}

// Output of `git -C DIR ARGS`, trailing newlines dropped.
std::string git(const std::string& dir, const std::string& args) {
  std::string out;
  FILE* p = ::popen(("git -C '" + dir + "' " + args + " 2>&1").c_str(), "r");
  check(p != nullptr, "cannot run git");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The integration branch after crashes: where the journal says (a coordinator killed between
// journaling a merge and moving the ref had it set right by the next), and every succeeded
// task's commit on it, merged once.
void check_branch(const std::string& dir, const RunState& state) {
  check(state.isolated(), "the run is not isolated");
  const std::string ws = dir + "/ws";
  const std::string tip = git(ws, "rev-parse " + state.branch());
  check(tip == state.head(), fmt::format("branch {} is at {}, the journal says {}",
                                         state.branch(), tip, state.head()));
  // Second parents of merge commits: a commit merged twice appears twice.
  std::map<std::string, int> merged;
  std::istringstream merges(git(ws, "rev-list --merges --parents " + state.head()));
  for (std::string line; std::getline(merges, line);) {
    std::istringstream ids(line);
    std::string self, first, second;
    ids >> self >> first;
    while (ids >> second) ++merged[second];
  }
  std::set<std::string> commits;
  for (const auto& t : state.tasks()) {
    if (!t.commit.empty()) commits.insert(t.commit);
  }
  for (const auto& c : commits) {
    check(git(ws, "merge-base --is-ancestor " + c + " " + state.head() + " && echo yes") == "yes",
          "commit " + c + " of a succeeded task is not on the branch");
    check(merged[c] <= 1, fmt::format("commit {} was merged {} times", c, merged[c]));
  }
}

// Everything the harness promises about a finished run, from its journal and ledger. Returns
// how many tasks succeeded with an attempt dispatched by an earlier coordinator process (its
// worker held the result across the restart and delivered it to the next one).
int verify_run(const std::string& dir) {
  JournalOptions read;
  read.read_only = true;
  auto journal = Journal::open(dir + "/state/journal", read);
  check(journal.ok(), "journal does not open: " + (journal ? "" : journal.error().str()));
  std::uint64_t expected = 1;
  int starts = 0, carried = 0;
  std::map<std::string, int> dispatched_in;  // task → coordinator start of its last dispatch
  auto scanned = (*journal)->scan(1, [&](const JournalRecord& r) {
    check(r.seq == expected, fmt::format("journal gap: record {} follows {}", r.seq, expected - 1));
    ++expected;
    // Every coordinator start journals its in-process worker joining.
    if (const auto* j = std::get_if<rec::WorkerJoined>(&r.body); j && j->worker == "local-0") {
      ++starts;
    }
    if (const auto* d = std::get_if<rec::BatchDispatched>(&r.body)) {
      for (const auto& t : d->tasks) dispatched_in[t.str()] = starts;
    }
    if (const auto* s = std::get_if<rec::TaskSucceeded>(&r.body)) {
      if (dispatched_in[s->task.str()] != starts) ++carried;
    }
    return true;
  });
  check(scanned.ok(), "journal scan: " + (scanned ? "" : scanned.error().str()));
  auto replayed = (*journal)->replay();
  check(replayed.ok(), "journal replay: " + (replayed ? "" : replayed.error().str()));
  const RunState& state = *replayed;
  check(state.status() == RunStatus::succeeded,
        "run ended " + std::string(to_string(state.status())));

  std::map<std::pair<std::string, std::uint32_t>, int> ran;  // (task, attempt) → ledger lines
  std::istringstream ledger(test::read_file(dir + "/ledger"));
  std::string task;
  std::uint32_t attempt = 0;
  while (ledger >> task >> attempt) ++ran[{task, attempt}];
  for (const auto& [key, n] : ran) {
    check(n == 1, fmt::format("{} attempt {} ran {} times", key.first, key.second, n));
  }
  for (std::size_t i = 0; i < state.tasks().size(); ++i) {
    const TaskState& t = state.tasks()[i];
    const std::string id = state.plan().tasks[i].id.str();
    check(t.status == TaskStatus::succeeded,
          fmt::format("{} ended {}: {}", id, to_string(t.status), t.reason));
    check(ran.count({id, t.attempt}) == 1,
          fmt::format("{} succeeded with attempt {}, which the ledger never saw", id, t.attempt));
  }
  check_branch(dir, state);
  return carried;
}

// One run: start everything, kill the coordinator (and sometimes a worker) up to `budget`
// times at random moments, then let it finish.
struct RunStats {
  int kills = 0;
  int carried = 0;  // results delivered across a coordinator restart
};

RunStats one_run(const Options& o, const std::string& dir, std::mt19937_64& rng, int budget) {
  Cluster cluster(o, dir, rng);
  cluster.start_coordinator();
  for (int i = 0; i < 2; ++i) cluster.start_worker(i);
  int kills = 0;
  while (kills < budget) {
    // Anywhere from start-up (planning, replay) to deep into the run.
    const auto delay = std::chrono::milliseconds(rng() % 700);
    if (cluster.coordinator().wait(delay) != -1) break;  // the run finished first
    cluster.coordinator().kill_now();
    ++kills;
    if (rng() % 3 == 0) {
      const int w = static_cast<int>(rng() % cluster.workers());
      cluster.kill_worker(w);
      cluster.start_worker(w);
    }
    cluster.start_coordinator();
  }
  const int code = cluster.coordinator().wait(180s);
  check(code == 0, fmt::format("the last coordinator exited {}:\n{}", code,
                               cluster.coordinator().output()));
  return RunStats{kills, verify_run(dir)};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"br crash harness"};
  app.add_option("--coordinator", o.coordinator)->required();
  app.add_option("--worker", o.worker)->required();
  app.add_option("--agent", o.agent)->required();
  app.add_option("--kills", o.kills, "Coordinator kills in all");
  app.add_option("--seed", o.seed, "Kill schedule; 0 picks one");
  app.add_flag("--keep", o.keep, "Keep every run's directory");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = std::random_device{}();
  std::mt19937_64 rng(o.seed);
  fmt::print("crash harness: seed {}, {} coordinator kills\n", o.seed, o.kills);
  std::fflush(stdout);

  int kills = 0, runs = 0, carried = 0;
  const auto started = std::chrono::steady_clock::now();
  while (kills < o.kills) {
    auto dir = std::make_unique<test::TempDir>("br-crash");
    try {
      const RunStats run = one_run(o, dir->str(), rng, o.kills - kills);
      kills += run.kills;
      carried += run.carried;
      ++runs;
      fmt::print("run {}: {} kills, {} results carried across a restart, verified\n", runs,
                 run.kills, run.carried);
      std::fflush(stdout);
    } catch (const Failure& f) {
      const std::string kept = dir->str() + "-kept";
      std::filesystem::rename(dir->path(), kept);
      fmt::print(stderr, "crash harness FAILED (seed {}, run {}): {}\nfiles kept in {}\n",
                 o.seed, runs + 1, f.what, kept);
      return 1;
    }
    if (o.keep) std::filesystem::rename(dir->path(), dir->str() + "-kept");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  fmt::print("crash harness: {} kills over {} runs in {:.1f} s, seed {}: every run verified; "
             "{} results carried across a restart\n",
             kills, runs, seconds, o.seed, carried);
  return 0;
}
