// Journal benchmark: fsync latency of the disk, durable transitions per second with group
// commit from 1, 4 and 16 concurrent appenders, and replay speed over 1,000,000 records.
//
//   journal_bench [--dir DIR] [--seconds S] [--replay-records N]
//
// DIR must be on the disk under test (default: ./journal-bench.tmp, removed afterwards).
#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/journal.hpp"

using namespace br;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A typical transition record: a task id, an attempt, a worker, a produced file.
JournalRecord transition(std::uint64_t i) {
  return JournalRecord{0, "", static_cast<std::int64_t>(i),
                       rec::TaskSucceeded{TaskId("feature-" + std::to_string(i % 1000) + "/03-api"),
                                          1, "worker-3", {"src/api/handler.py"}}};
}

void fsync_latency(const std::string& dir) {
  const std::string path = dir + "/fsync.probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  std::vector<double> us;
  char buf[256];
  std::memset(buf, 'x', sizeof buf);
  for (int i = 0; i < 300; ++i) {
    if (::write(fd, buf, sizeof buf) != sizeof buf) break;
    const auto start = Clock::now();
    ::fdatasync(fd);
    us.push_back(seconds_since(start) * 1e6);
  }
  ::close(fd);
  std::filesystem::remove(path);
  std::sort(us.begin(), us.end());
  fmt::print("fdatasync latency (256-byte appends, n={}): p50 {:.0f} us, p99 {:.0f} us "
             "=> at most {:.0f} synced writes/s\n\n",
             us.size(), us[us.size() / 2], us[us.size() * 99 / 100], 1e6 / us[us.size() / 2]);
}

// `appenders` threads each keep up to `window` appends in flight (window 1 = wait for each
// record to be durable before the next, like a caller that blocks on every transition).
void throughput(const std::string& dir, int appenders, int window, double seconds) {
  std::filesystem::remove_all(dir + "/tp");
  JournalOptions options;
  options.run_id = "bench";
  auto journal = std::move(Journal::open(dir + "/tp", options)).value();

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> durable{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      std::mutex mu;
      std::condition_variable cv;
      int in_flight = 0;
      std::uint64_t i = static_cast<std::uint64_t>(t) << 40;
      while (!stop.load(std::memory_order_relaxed)) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return in_flight < window; });
          ++in_flight;
        }
        journal->append_async({transition(i++)}, [&](Result<std::uint64_t> r) {
          if (r.ok()) durable.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lock(mu);
          --in_flight;
          cv.notify_one();
        });
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight == 0; });
    });
    (void)t;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // measuring window
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = seconds_since(start);
  const auto stats = journal->stats();
  fmt::print("| {:>9} | {:>6} | {:>12.0f} | {:>10.1f} | {:>9.0f} |\n", appenders, window,
             static_cast<double>(durable.load()) / elapsed,
             static_cast<double>(stats.records) / static_cast<double>(std::max<std::uint64_t>(1, stats.groups)),
             static_cast<double>(stats.groups) / elapsed);
  journal.reset();
  std::filesystem::remove_all(dir + "/tp");
}

// Replays a journal of `n` records: a plan of n/10 tasks, then each task cycles through
// ready → dispatched → started → failed → retrying, the mix a long run with retries writes.
void replay(const std::string& dir, std::uint64_t n) {
  std::filesystem::remove_all(dir + "/replay");
  JournalOptions options;
  options.run_id = "bench";
  auto journal = std::move(Journal::open(dir + "/replay", options)).value();
  const std::uint64_t tasks = std::max<std::uint64_t>(1, n / 10);
  Plan plan;
  plan.title = "replay bench";
  for (std::uint64_t i = 0; i < tasks; ++i) {
    Task t;
    t.id = TaskId("f" + std::to_string(i / 6) + "/0" + std::to_string(i % 6) + "-kind");
    t.title = "task " + std::to_string(i);
    plan.tasks.push_back(std::move(t));
  }
  std::vector<TaskId> ids;
  for (const auto& t : plan.tasks) ids.push_back(t.id);
  const auto write_start = Clock::now();
  (void)journal->append({JournalRecord{0, "", 0, rec::PlanCreated{std::move(plan), "s", "h"}}});
  std::uint64_t written = 1;
  std::vector<JournalRecord> chunk;
  for (std::uint32_t cycle = 1; written < n; ++cycle) {
    for (std::uint64_t i = 0; i < tasks && written < n; ++i) {
      const TaskId& id = ids[i];
      const std::int64_t t = static_cast<std::int64_t>(written);
      const RecordBody bodies[] = {
          rec::TaskReady{id},
          rec::BatchDispatched{BatchId("b" + std::to_string(written)), "w1", {id}, {cycle}, t},
          rec::TaskStarted{id, cycle, "w1"},
          rec::TaskFailed{id, cycle, "check_command exited 1"},
          rec::TaskRetrying{id, cycle + 1, t}};
      for (const auto& body : bodies) {
        if (written >= n) break;
        chunk.push_back(JournalRecord{0, "", t, body});
        ++written;
      }
      if (chunk.size() >= 10000) {
        (void)journal->append(std::move(chunk));
        chunk.clear();
      }
    }
  }
  if (!chunk.empty()) (void)journal->append(std::move(chunk));
  const double write_s = seconds_since(write_start);
  journal.reset();

  double best_scan = 1e9, best_replay = 1e9;
  std::uint64_t replayed = 0;
  for (int run = 0; run < 3; ++run) {
    auto reopened = std::move(Journal::open(dir + "/replay", {})).value();
    auto start = Clock::now();
    std::uint64_t count = 0;
    (void)reopened->scan(1, [&](const JournalRecord&) { return ++count, true; });
    best_scan = std::min(best_scan, seconds_since(start));
    start = Clock::now();
    auto state = reopened->replay();
    best_replay = std::min(best_replay, seconds_since(start));
    if (!state.ok()) {
      fmt::print("replay failed: {}\n", state.error().str());
      return;
    }
    replayed = state->last_seq();
  }
  fmt::print("replay of {} records ({} tasks): write {:.2f} s, scan+decode {:.3f} s, "
             "replay into RunState {:.3f} s ({:.2f} M records/s) [best of 3]\n",
             replayed, tasks, write_s, best_scan, best_replay,
             static_cast<double>(replayed) / best_replay / 1e6);
  std::filesystem::remove_all(dir + "/replay");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "journal-bench.tmp";
  double seconds = 3;
  std::uint64_t replay_records = 1000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (flag == "--replay-records") replay_records = std::stoull(argv[i + 1]);
  }
  std::filesystem::create_directories(dir);
  fsync_latency(dir);
  fmt::print("durable transitions/s (every record synced to the WAL before its callback):\n");
  fmt::print("| appenders | window | records/s    | per group  | groups/s  |\n");
  fmt::print("|-----------|--------|--------------|------------|-----------|\n");
  for (int appenders : {1, 4, 16}) {
    for (int window : {1, 64, 256}) throughput(dir, appenders, window, seconds);
  }
  fmt::print("\n");
  replay(dir, replay_records);
  std::filesystem::remove_all(dir);
  return 0;
}
