// Journal benchmark: fsync latency of the disk, durable transitions per second with group
// commit from 1, 4 and 16 concurrent appenders, what run-state snapshots cost those appends,
// and replay speed over 1,000,000 records.
//
//   journal_bench [--dir DIR] [--seconds S] [--replay-records N]
//                 [--only snapshots|throughput|replay]
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
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/codec.hpp"
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
                                          1,
                                          "worker-3",
                                          {"src/api/handler.py"}}};
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
  fmt::print(
      "fdatasync latency (256-byte appends, n={}): p50 {:.0f} us, p99 {:.0f} us "
      "=> at most {:.0f} synced writes/s\n\n",
      us.size(), us[us.size() / 2], us[us.size() * 99 / 100], 1e6 / us[us.size() / 2]);
}

// What run_appenders measured: durable records, the seconds it ran, and each appender's append
// latencies (append call → durable callback) in microseconds.
struct AppendRun {
  std::uint64_t durable = 0;
  double elapsed = 0;
  std::vector<std::vector<double>> latencies_us;
};

// `appenders` threads append for `seconds`, each keeping up to `window` appends in flight
// (window 1 = wait for each record to be durable before the next, like a caller that blocks
// on every transition). `next(t, step)` is appender t's record number `step`.
AppendRun run_appenders(Journal& journal, int appenders, int window, double seconds,
                        const std::function<JournalRecord(int, std::uint64_t)>& next) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> durable{0};
  AppendRun out;
  out.latencies_us.resize(static_cast<std::size_t>(appenders));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      std::mutex mu;
      std::condition_variable cv;
      int in_flight = 0;
      auto& us = out.latencies_us[static_cast<std::size_t>(t)];
      for (std::uint64_t step = 0; !stop.load(std::memory_order_relaxed); ++step) {
        JournalRecord record = next(t, step);
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return in_flight < window; });
          ++in_flight;
        }
        const auto sent = Clock::now();
        journal.append_async({std::move(record)}, [&, sent](Result<std::uint64_t> r) {
          const double waited = seconds_since(sent) * 1e6;
          if (r.ok()) durable.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> lock(mu);
          us.push_back(waited);
          --in_flight;
          cv.notify_one();
        });
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight == 0; });
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // measuring window
  stop = true;
  for (auto& th : threads) th.join();
  out.elapsed = seconds_since(start);
  out.durable = durable.load();
  return out;
}

// `appenders` threads each keep up to `window` appends in flight (window 1 = wait for each
// record to be durable before the next, like a caller that blocks on every transition).
void throughput(const std::string& dir, int appenders, int window, double seconds) {
  std::filesystem::remove_all(dir + "/tp");
  JournalOptions options;
  options.run_id = "bench";
  auto journal = std::move(Journal::open(dir + "/tp", options)).value();

  const AppendRun run =
      run_appenders(*journal, appenders, window, seconds, [](int t, std::uint64_t step) {
        return transition((static_cast<std::uint64_t>(t) << 40) + step);
      });
  const double elapsed = run.elapsed;
  const auto stats = journal->stats();
  fmt::print("| {:>9} | {:>6} | {:>12.0f} | {:>10.1f} | {:>9.0f} |\n", appenders, window,
             static_cast<double>(run.durable) / elapsed,
             static_cast<double>(stats.records) /
                 static_cast<double>(std::max<std::uint64_t>(1, stats.groups)),
             static_cast<double>(stats.groups) / elapsed);
  journal.reset();
  std::filesystem::remove_all(dir + "/tp");
}

// A plan of `n` tasks shaped like the planner's (ids, prose, criteria, files), so snapshots
// are as large as a real run's.
Plan bench_plan(std::uint64_t n) {
  Plan plan;
  plan.title = "snapshot bench";
  plan.overview = std::string(400, 'o');
  for (std::uint64_t i = 0; i < n; ++i) {
    Task t;
    t.id = TaskId("feature-" + std::to_string(i / 5) + "/0" + std::to_string(i % 5) + "-api");
    t.feature = FeatureId("feature-" + std::to_string(i / 5));
    t.title = "Implement the handlers of feature " + std::to_string(i / 5);
    t.description = std::string(300, 'd');
    if (i % 5 != 0) t.depends_on = {plan.tasks.back().id};
    t.acceptance = criteria_of({"GET /items returns the stored items", "file: src/api/items.py"});
    t.files = {"src/api/items_" + std::to_string(i) + ".py"};
    plan.tasks.push_back(std::move(t));
  }
  return plan;
}

// Size, encode and decode time of the snapshot of a 10,000-task run with every task finished.
void snapshot_size() {
  Plan plan = bench_plan(10000);
  RunState state;
  std::uint64_t seq = 0;
  const auto apply = [&](RecordBody body) {
    (void)state.apply(JournalRecord{++seq, "bench", 0, std::move(body)});
  };
  std::vector<TaskId> ids;
  for (const auto& t : plan.tasks) ids.push_back(t.id);
  apply(rec::PlanCreated{std::move(plan), "s", "h"});
  for (const TaskId& id : ids) {
    apply(rec::TaskReady{id});
    apply(rec::BatchDispatched{BatchId("b-" + id.str()), "w1", {id}, {1}, 0});
    apply(rec::TaskStarted{id, 1, "w1"});
    apply(rec::TaskSucceeded{id, 1, "w1", {"src/api/items.py"}});
  }
  double best_encode = 1e9, best_decode = 1e9;
  std::string bytes;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    bytes = encode_snapshot(state);
    best_encode = std::min(best_encode, seconds_since(start));
    start = Clock::now();
    auto back = decode_snapshot(bytes, journal_decode_limits());
    best_decode = std::min(best_decode, seconds_since(start));
    if (!back.ok()) fmt::print("snapshot does not decode: {}\n", back.error().str());
  }
  fmt::print("snapshot of a 10,000-task run: {:.1f} MiB, encode {:.1f} ms, decode + checks "
             "{:.1f} ms [best of 5]\n",
             static_cast<double>(bytes.size()) / (1 << 20), best_encode * 1e3, best_decode * 1e3);
}

// Group commit with the run state folded and snapshotted as it goes: appenders cycle disjoint
// tasks of a 10,000-task plan through ready → dispatched → started → failed → retrying (legal
// transitions, so the journal keeps folding). Prints throughput and append latency (append
// call → durable callback), whose tail is where a snapshot taken in the write path shows.
void snapshot_cost(const std::string& dir, int appenders, int window, double seconds,
                   std::uint64_t snapshot_every) {
  constexpr std::uint64_t kTasks = 10000;
  std::filesystem::remove_all(dir + "/snap");
  JournalOptions options;
  options.run_id = "bench";
  options.snapshot_every = snapshot_every;
  auto journal = std::move(Journal::open(dir + "/snap", options)).value();
  Plan plan = bench_plan(kTasks);
  std::vector<TaskId> ids;
  for (const auto& t : plan.tasks) ids.push_back(t.id);
  (void)journal->append({JournalRecord{0, "", 0, rec::PlanCreated{std::move(plan), "s", "h"}}});

  // Task k of appender t is ids[t + k * appenders]; each cycles ready → dispatched → started →
  // failed → retrying, one step per record.
  const auto next = [&](int t, std::uint64_t step) {
    const std::uint64_t mine =
        (kTasks - static_cast<std::uint64_t>(t) + static_cast<std::uint64_t>(appenders) - 1) /
        static_cast<std::uint64_t>(appenders);
    const std::uint64_t k = step % mine, round = step / mine;
    const TaskId& id = ids[static_cast<std::size_t>(t) + k * static_cast<std::size_t>(appenders)];
    const auto attempt = static_cast<std::uint32_t>(round / 5 + 1);
    RecordBody body;
    switch (round % 5) {
      case 0:
        body = rec::TaskReady{id};
        break;
      case 1:
        body = rec::BatchDispatched{BatchId("b" + std::to_string(step)), "w1", {id}, {attempt}, 0};
        break;
      case 2:
        body = rec::TaskStarted{id, attempt, "w1"};
        break;
      case 3:
        body = rec::TaskFailed{id, attempt, "check_command exited 1"};
        break;
      default:
        body = rec::TaskRetrying{id, attempt + 1, 0};
        break;
    }
    return JournalRecord{0, "", 0, std::move(body)};
  };
  const AppendRun run = run_appenders(*journal, appenders, window, seconds, next);
  const double elapsed = run.elapsed;
  std::vector<double> all;
  for (const auto& v : run.latencies_us) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) {
    return all.empty()
               ? 0.0
               : all[std::min(all.size() - 1,
                              static_cast<std::size_t>(q * static_cast<double>(all.size())))];
  };
  journal->wait_for_snapshots();
  const std::size_t snapshots = journal->snapshots().size();
  fmt::print("| {:>14} | {:>9} | {:>6} | {:>10.0f} | {:>8.0f} | {:>8.0f} | {:>9.0f} | {:>9} |\n",
             snapshot_every == 0 ? std::string("off") : std::to_string(snapshot_every), appenders,
             window, static_cast<double>(run.durable) / elapsed, at(0.5), at(0.99),
             all.empty() ? 0.0 : all.back(), snapshots);
  journal.reset();
  std::filesystem::remove_all(dir + "/snap");
}

// Replays a journal of `n` records: a plan of n/10 tasks, then each task cycles through
// ready → dispatched → started → failed → retrying, the mix a long run with retries writes.
// With `snapshot_every` > 0 the journal holds snapshots and replay reads only the tail.
void replay(const std::string& dir, std::uint64_t n, std::uint64_t snapshot_every) {
  std::filesystem::remove_all(dir + "/replay");
  JournalOptions options;
  options.run_id = "bench";
  options.snapshot_every = snapshot_every;
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
  journal->wait_for_snapshots();
  const double write_s = seconds_since(write_start);
  const std::size_t snapshots = journal->snapshots().size();
  journal.reset();

  double best_scan = 1e9, best_replay = 1e9;
  std::uint64_t replayed = 0;
  JournalOptions read;
  read.read_only = true;  // as br status; a write open would fold at open instead
  for (int run = 0; run < 3; ++run) {
    auto start = Clock::now();
    auto reopened = std::move(Journal::open(dir + "/replay", read)).value();
    auto state = reopened->replay();
    best_replay = std::min(best_replay, seconds_since(start));
    if (!state.ok()) {
      fmt::print("replay failed: {}\n", state.error().str());
      return;
    }
    replayed = state->last_seq();
    start = Clock::now();
    std::uint64_t count = 0;
    (void)reopened->scan(1, [&](const JournalRecord&) { return ++count, true; });
    best_scan = std::min(best_scan, seconds_since(start));
  }
  fmt::print("| {:>9} | {:>7} | {:>14} | {:>9} | {:>7.2f} | {:>14.3f} | {:>14.3f} |\n", replayed,
             tasks, snapshot_every == 0 ? std::string("off") : std::to_string(snapshot_every),
             snapshots, write_s, best_scan, best_replay);
  std::filesystem::remove_all(dir + "/replay");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "journal-bench.tmp";
  double seconds = 3;
  std::uint64_t replay_records = 1000000;
  std::string only;  // "snapshots", "throughput" or "replay": one part only
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (flag == "--replay-records") replay_records = std::stoull(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
  }
  std::filesystem::create_directories(dir);
  fsync_latency(dir);
  if (only.empty() || only == "snapshots") {
    snapshot_size();
    fmt::print("snapshot cost (10,000-task plan, legal transitions; latency = append → "
               "durable, us; kept = snapshots stored at the end):\n");
    fmt::print("| snapshot_every | appenders | window | records/s  | p50      | p99      "
               "| max       | kept      |\n");
    fmt::print("|----------------|-----------|--------|------------|----------|----------"
               "|-----------|-----------|\n");
    for (auto [appenders, window] : {std::pair{1, 1}, std::pair{4, 64}}) {
      for (std::uint64_t every : {std::uint64_t{0}, std::uint64_t{10000}, std::uint64_t{1000}}) {
        snapshot_cost(dir, appenders, window, seconds, every);
      }
    }
    fmt::print("\n");
  }
  if (only.empty() || only == "throughput") {
    fmt::print("durable transitions/s (every record synced to the WAL before its callback):\n");
    fmt::print("| appenders | window | records/s    | per group  | groups/s  |\n");
    fmt::print("|-----------|--------|--------------|------------|-----------|\n");
    for (int appenders : {1, 4, 16}) {
      for (int window : {1, 64, 256}) throughput(dir, appenders, window, seconds);
    }
    fmt::print("\n");
  }
  if (only.empty() || only == "replay") {
    fmt::print("replay (read-only open + replay into RunState, and scan + decode of every "
               "record; seconds, best of 3):\n");
    fmt::print("| records   | tasks   | snapshot_every | snapshots | write s | scan+decode s  "
               "| open+replay s  |\n");
    fmt::print("|-----------|---------|----------------|-----------|---------|----------------"
               "|----------------|\n");
    for (std::uint64_t every : {std::uint64_t{0}, std::uint64_t{10000}}) {
      replay(dir, replay_records, every);
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
