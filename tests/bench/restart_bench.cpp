// Restart benchmark: how long a coordinator that was killed mid-run takes to be back at work.
// Builds the journal of a 10,000-task run that was half done when it died (every transition a
// real run journals: ready, dispatched, started, succeeded, with the dependents they release),
// then times `br resume` from fork to the first new dispatch (the time of the first
// batchDispatched record it journals). Goal ≤ 500 ms. Also times the journal alone: open and
// replay into the run state.
//
//   restart_bench [--dir DIR] [--features N] [--rounds R]
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "actors/graph/run_tracker.hpp"
#include "coordinator/planning.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"
#include "tests/bench/synthetic_spec.hpp"

using namespace br;
namespace fs = std::filesystem;

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Journals a run of `plan` in which the first half of the tasks (in the order they become
// ready) succeeded, in groups of records as the graph actor writes them.
std::size_t write_half_done_run(const std::string& journal_dir, const CheckedPlan& plan) {
  JournalOptions create;
  create.run_id = "restart-bench";
  auto journal = Journal::open(journal_dir, create);
  if (!journal) throw std::runtime_error(journal.error().str());
  RunState state;
  std::int64_t now = unix_now_ms();
  auto commit = [&](std::vector<RecordBody> bodies) {
    std::vector<JournalRecord> records;
    for (auto& body : bodies) {
      JournalRecord r{0, "restart-bench", now, std::move(body)};
      if (auto ok = state.apply(r); !ok) throw std::runtime_error(ok.error().str());
      records.push_back(std::move(r));
    }
    if (auto seq = (*journal)->append(std::move(records)); !seq) {
      throw std::runtime_error(seq.error().str());
    }
  };
  commit({rec::PlanCreated{plan.plan, "spec.md", plan.spec_hash}});
  std::vector<RecordBody> joined;
  for (int i = 0; i < 4; ++i) {
    joined.push_back(rec::WorkerJoined{fmt::format("local-{}", i), 1, std::string(kInProcessAddress)});
  }
  commit(std::move(joined));
  RunTracker tracker(*plan.graph, RetryPolicy{});
  commit(tracker.release_ready(state));
  const std::size_t target = plan.plan.tasks.size() / 2;
  std::uint64_t batch = 0;
  while (state.counts().succeeded < target) {
    std::vector<TaskId> ready;
    for (std::size_t i = 0; i < state.tasks().size() && ready.size() < 64; ++i) {
      if (state.tasks()[i].status == TaskStatus::ready) ready.push_back(plan.plan.tasks[i].id);
    }
    if (ready.empty()) break;
    for (const TaskId& id : ready) {
      now += 10;
      const BatchId b("b" + std::to_string(batch++));
      commit({rec::BatchDispatched{b, "local-0", {id}, {1}, now + 600000}});
      commit({rec::TaskStarted{id, 1, "local-0"}});
      TaskResult result;
      result.task = id;
      result.attempt = 1;
      result.success = true;
      result.worker = "local-0";
      result.files = {"src/file.py"};
      commit(tracker.on_result(state, result, now, 0.5).records);
    }
  }
  return (*journal)->last_seq();
}

struct Restart {
  double open_replay_ms = 0;    // Journal::open + replay, in this process
  double first_dispatch_ms = 0; // fork of `br resume` → its first batchDispatched record
};

Restart restart_once(const fs::path& dir) {
  Restart out;
  const std::string journal_dir = (dir / "state" / "journal").string();
  std::uint64_t last_before = 0;
  {
    const auto t0 = std::chrono::steady_clock::now();
    JournalOptions read;
    read.read_only = true;
    auto journal = Journal::open(journal_dir, read);
    if (!journal) throw std::runtime_error(journal.error().str());
    auto state = (*journal)->replay();
    if (!state) throw std::runtime_error(state.error().str());
    out.open_replay_ms = ms_since(t0);
    last_before = (*journal)->last_seq();
  }
  const std::int64_t started_ms = unix_now_ms();
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(97);
    std::freopen("resume.log", "w", stdout);
    std::freopen("resume.log", "a", stderr);
    ::execl(BR_BINARY, BR_BINARY, "--state-dir", "state", "resume", "--config", "br.toml",
            "--plain", static_cast<char*>(nullptr));
    ::_exit(98);
  }
  // Wait (at most 30 s) for the first new dispatch to be durable, then stop the run.
  std::int64_t dispatched_ms = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (dispatched_ms == 0 && std::chrono::steady_clock::now() < deadline) {
    ::usleep(20000);
    JournalOptions read;
    read.read_only = true;
    auto journal = Journal::open(journal_dir, read);
    if (!journal) continue;
    (void)(*journal)->scan(last_before + 1, [&](const JournalRecord& r) {
      if (std::holds_alternative<rec::BatchDispatched>(r.body)) {
        dispatched_ms = r.time_ms;
        return false;
      }
      return true;
    });
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (dispatched_ms == 0) throw std::runtime_error("br resume never dispatched; see resume.log");
  out.first_dispatch_ms = static_cast<double>(dispatched_ms - started_ms);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "restart-bench.tmp";
  std::size_t features = 2200;  // ≈ 10,000 tasks
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--features") features = std::stoul(argv[i + 1]);
    else if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
  }
  fs::remove_all(dir);
  fs::create_directories(dir / "state");
  std::ofstream(dir / "spec.md") << bench::synthetic_spec(features, 42);
  // An agent that takes its time: only the first dispatch matters here.
  std::ofstream(dir / "br.toml") << "[run]\nworkers = 4\nworkspace = \"ws\"\n"
                                 << "[agent]\ncommand = [\"/bin/sleep\", \"30\"]\n";
  auto plan = plan_spec_file((dir / "spec.md").string(), LimitsConfig{});
  if (!plan) {
    fmt::print(stderr, "{}\n", plan.error().str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t records = write_half_done_run((dir / "state" / "journal").string(), *plan);
  fmt::print("Restart: {} tasks, half done, {} journal records (written in {:.0f} ms)\n",
             plan->plan.tasks.size(), records, ms_since(t0));

  std::vector<double> replay, dispatch;
  for (int r = 0; r < rounds; ++r) {
    const Restart one = restart_once(dir);
    replay.push_back(one.open_replay_ms);
    dispatch.push_back(one.first_dispatch_ms);
  }
  std::sort(replay.begin(), replay.end());
  std::sort(dispatch.begin(), dispatch.end());
  fmt::print("  journal open + replay      median {:7.1f} ms  (min {:.1f}, max {:.1f})\n",
             replay[replay.size() / 2], replay.front(), replay.back());
  fmt::print("  br resume → first dispatch median {:7.1f} ms  (min {:.1f}, max {:.1f})  goal ≤ 500\n",
             dispatch[dispatch.size() / 2], dispatch.front(), dispatch.back());
  fs::remove_all(dir);
  return dispatch[dispatch.size() / 2] <= 500 ? 0 : 1;
}
