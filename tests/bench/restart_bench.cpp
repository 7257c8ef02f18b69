// Restart benchmark: how long a coordinator that was killed mid-run takes to be back at work,
// with run-state snapshots in the journal and without. Builds the journal of a 10,000-task run
// that was half done when it died (every transition a real run journals: ready, dispatched,
// started, succeeded or failed and retried, with the dependents they release; a few attempts
// in flight), once with snapshots every 10,000 records and once without, then times
//   - Journal::open + replay() in this process, read-only (as `br status`) and for writing
//     (as `br resume`, which folds at open), and
//   - `br resume` end to end: from just before fork to the time of the first new
//     batchDispatched record it journals. Goal ≤ 500 ms.
// Each round starts from a copy of the journal as it was at the crash.
//
//   restart_bench [--dir DIR] [--features N] [--rounds R] [--no-binary] [--keep]
// --keep leaves DIR behind (the journals as at the crash, spec, br.toml), to profile a resume.
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

template <class T>
T value_or_die(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().str());
  return std::move(r).value();
}

// Journals, into every journal of `journals`, a run of `plan` in which half of the tasks (in
// the order they become ready) succeeded; every 25th first attempt fails and is retried. Ends
// with four attempts in flight, as at a crash. Returns the number of records.
std::uint64_t write_half_done_run(const std::vector<Journal*>& journals, const CheckedPlan& plan) {
  RunState state;
  std::int64_t now = unix_now_ms() - 3'600'000;
  std::vector<JournalRecord> pending;
  const auto commit = [&](std::vector<RecordBody> bodies) {
    for (auto& body : bodies) {
      JournalRecord r{state.last_seq() + 1, "restart-bench", now, std::move(body)};
      if (auto ok = state.apply(r); !ok) throw std::runtime_error(ok.error().str());
      r.seq = 0;
      pending.push_back(std::move(r));
    }
  };
  const auto flush = [&] {
    for (Journal* journal : journals) (void)value_or_die(journal->append(pending));
    pending.clear();
  };
  commit({rec::PlanCreated{plan.plan, "spec.md", plan.spec_hash}});
  for (int i = 0; i < 4; ++i) {
    commit({rec::WorkerJoined{fmt::format("local-{}", i), 1, std::string(kInProcessAddress)}});
  }
  RunTracker tracker(*plan.graph, RetryPolicy{});
  commit(tracker.release_ready(state));
  flush();
  const std::size_t target = plan.plan.tasks.size() / 2;
  std::uint64_t batch = 0;
  const auto dispatch = [&](std::size_t i, bool finish) {
    const TaskId& id = plan.plan.tasks[i].id;
    const std::uint32_t attempt = state.tasks()[i].attempt + 1;
    const std::string worker = fmt::format("local-{}", batch % 4);
    now += 10;
    commit({rec::BatchDispatched{
        BatchId("b" + std::to_string(batch++)), worker, {id}, {attempt}, now + 600000}});
    commit({rec::TaskStarted{id, attempt, worker}});
    if (!finish) return;
    TaskResult result;
    result.task = id;
    result.attempt = attempt;
    result.success = !(attempt == 1 && i % 25 == 0);
    result.reason = result.success ? "" : "check_command exited 1";
    result.worker = worker;
    result.files = {"src/file.py"};
    commit(tracker.on_result(state, result, now, 0.5).records);
  };
  const auto ready = [&](std::size_t limit) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < state.tasks().size() && out.size() < limit; ++i) {
      if (state.tasks()[i].status == TaskStatus::ready) out.push_back(i);
    }
    return out;
  };
  while (state.counts().succeeded < target) {
    const auto round = ready(64);
    if (round.empty()) break;
    for (std::size_t i : round) dispatch(i, true);
    commit(tracker.release_retries(state, now + 3'600'000));  // their backoff is over
    flush();
  }
  for (std::size_t i : ready(4)) dispatch(i, false);  // in flight at the crash
  flush();
  for (Journal* journal : journals) journal->wait_for_snapshots();
  return state.last_seq();
}

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Stats{v[v.size() / 2], v.front(), v.back()};
}

void copy_journal(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

// Journal::open + replay() of the journal at `dir`, in ms.
double open_replay_ms(const std::string& dir, bool read_only) {
  const auto t0 = std::chrono::steady_clock::now();
  JournalOptions options;
  options.read_only = read_only;
  auto journal = value_or_die(Journal::open(dir, options));
  auto state = value_or_die(journal->replay());
  const double ms = ms_since(t0);
  if (state.counts().succeeded == 0) throw std::runtime_error("replayed an empty run");
  return ms;
}

// Runs `br resume` on a copy of `journal_template` and returns fork → first new dispatch, in ms
// (the dispatch's time is the one br journaled with it).
double first_dispatch_ms(const fs::path& dir, const fs::path& journal_template) {
  const fs::path journal_dir = dir / "state" / "journal";
  copy_journal(journal_template, journal_dir);
  fs::remove(dir / "dispatched");
  std::uint64_t last_before = 0;
  {
    JournalOptions read;
    read.read_only = true;
    last_before = value_or_die(Journal::open(journal_dir.string(), read))->last_seq();
  }
  std::fflush(stdout);
  const std::int64_t started_ms = unix_now_ms();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(97);
    if (!std::freopen("resume.log", "w", stdout) || !std::freopen("resume.log", "a", stderr)) {
      ::_exit(96);
    }
    ::execl(BR_BINARY, BR_BINARY, "--state-dir", "state", "resume", "--auto", "--config", "br.toml",
            "--plain", static_cast<char*>(nullptr));
    ::_exit(98);
  }
  // The agent touches ../dispatched when it starts: a cheap signal to stop polling, so that
  // polling does not compete with br for the CPU. The time measured is the journal's.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(dir / "dispatched") && std::chrono::steady_clock::now() < deadline) {
    ::usleep(5000);
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::int64_t dispatched_ms = 0;
  JournalOptions read;
  read.read_only = true;
  auto journal = value_or_die(Journal::open(journal_dir.string(), read));
  (void)journal->scan(last_before + 1, [&](const JournalRecord& r) {
    if (!std::holds_alternative<rec::BatchDispatched>(r.body)) return true;
    dispatched_ms = r.time_ms;
    return false;
  });
  if (dispatched_ms == 0) {
    throw std::runtime_error("br resume never dispatched; see " + (dir / "resume.log").string());
  }
  return static_cast<double>(dispatched_ms - started_ms);
}

void print_row(const char* what, const Stats& on, const Stats& off) {
  fmt::print(
      "| {:<34} | {:>7.1f} ({:>6.1f}–{:>6.1f}) | {:>7.1f} ({:>6.1f}–{:>6.1f}) | {:>5.2f}× |\n",
      what, on.median, on.min, on.max, off.median, off.min, off.max, off.median / on.median);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "restart-bench.tmp";
  std::size_t features = 2200;  // ≈ 10,000 tasks
  int rounds = 5;
  bool binary = true;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-binary")
      binary = false;
    else if (flag == "--keep")
      keep = true;
    else if (i + 1 < argc && flag == "--dir")
      dir = argv[++i];
    else if (i + 1 < argc && flag == "--features")
      features = std::stoul(argv[++i]);
    else if (i + 1 < argc && flag == "--rounds")
      rounds = std::stoi(argv[++i]);
  }
  try {
    fs::remove_all(dir);
    fs::create_directories(dir / "state");
    fs::create_directories(dir / "ws");
    std::ofstream(dir / "spec.md") << bench::synthetic_spec(features, 42);
    // An agent that signals its start and takes its time: only the first dispatch matters.
    std::ofstream(dir / "br.toml")
        << "[run]\nworkers = 4\nworkspace = \"ws\"\nisolation = \"none\"\n"
        << "[agent]\ncommand = [\"/bin/sh\", \"-c\", \"touch ../dispatched; exec sleep 30\"]\n";
    const auto plan = value_or_die(plan_spec_file((dir / "spec.md").string(), LimitsConfig{}));

    const fs::path with = dir / "with-snapshots", without = dir / "without-snapshots";
    std::uint64_t records = 0;
    std::vector<std::uint64_t> snapshots;
    const auto t0 = std::chrono::steady_clock::now();
    {
      JournalOptions on;
      on.run_id = "restart-bench";
      JournalOptions off = on;
      off.snapshot_every = 0;
      auto a = value_or_die(Journal::open(with.string(), on));
      auto b = value_or_die(Journal::open(without.string(), off));
      records = write_half_done_run({a.get(), b.get()}, plan);
      snapshots = a->snapshots();
    }
    fmt::print(
        "Restart: {} tasks, half done, {} journal records (both journals written in "
        "{:.0f} ms); with snapshots every 10,000 records: {} kept, the newest at "
        "record {}\n\n",
        plan.plan.tasks.size(), records, ms_since(t0), snapshots.size(),
        snapshots.empty() ? 0 : snapshots.back());

    fmt::print("| {:<34} | {:<27} | {:<27} | ratio  |\n", "ms: median (min–max)", "with snapshots",
               "without (full replay)");
    fmt::print("|{:-<36}|{:-<29}|{:-<29}|--------|\n", "", "", "");
    for (bool read_only : {true, false}) {
      std::vector<double> on, off;
      for (int r = 0; r < rounds; ++r) {
        // Copies, so that a write open (which adds a snapshot when one is due) leaves the
        // templates as they were at the crash.
        copy_journal(with, dir / "probe");
        on.push_back(open_replay_ms((dir / "probe").string(), read_only));
        copy_journal(without, dir / "probe");
        off.push_back(open_replay_ms((dir / "probe").string(), read_only));
      }
      print_row(read_only ? "open + replay, read-only (status)" : "open + replay, writing (resume)",
                stats_of(on), stats_of(off));
    }
    if (binary) {
      std::vector<double> on, off;
      for (int r = 0; r < rounds; ++r) {
        on.push_back(first_dispatch_ms(dir, with));
        off.push_back(first_dispatch_ms(dir, without));
      }
      const Stats s = stats_of(on);
      print_row("br resume → first dispatch", s, stats_of(off));
      // Issue 6 asked 500 ms of a 10k-task run; issue 12 asks 300 ms of the 39k-task one.
      const double goal_ms = plan.plan.tasks.size() >= 30000 ? 300 : 500;
      fmt::print("\nGoal: br resume → first dispatch ≤ {:.0f} ms (with snapshots): {}\n",
                 goal_ms, s.median <= goal_ms ? "met" : "NOT met");
      if (!keep) fs::remove_all(dir);
      return s.median <= goal_ms ? 0 : 1;
    }
    if (!keep) fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "restart_bench: {}\n", e.what());
    return 3;
  }
}
