// Execution benchmark for `br run --auto` in one process:
//  1. makespan / lower bound: 200 tasks of a wide DAG on 8 slots, an agent that sleeps 200 ms
//     per task of its batch; lower bound = max(critical path, total work / slots), in agent
//     time. Goal ≤ 1.10.
//  2. orchestration overhead per task with an agent that does nothing (/bin/true): wall time
//     per task on 1 slot and on 8 slots, journal fsyncs and process starts included. Goal ≤ 2 ms.
//
//   run_bench [--dir DIR]     (DIR on the disk under test; default ./run-bench.tmp)
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "actors/worker/agent_runner.hpp"
#include "storage/journal.hpp"

using namespace br;

namespace {

// 50 independent features, each a chain schema → api → tests → docs: 200 tasks, 4 levels.
std::string wide_spec() {
  std::string spec = "# Bench\n## Features\n";
  for (int i = 0; i < 50; ++i) {
    spec += "### Part " + std::to_string(i) + " {#p" + std::to_string(i) + "}\n" +
            "**Description:** A database table served by a REST endpoint.\n";
  }
  return spec;
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

struct Measured {
  double makespan_ms = 0;  // first dispatch → run completed, from the journal
  double wall_ms = 0;      // the whole `br run` process
  std::size_t tasks = 0, batches = 0;
  bool ok = false;
};

Measured run(const std::filesystem::path& dir, const std::string& agent, int workers) {
  std::filesystem::remove_all(dir / "state");
  // A repository of its own for the workspace: attempts are isolated in worktrees of it (the
  // default), and without it br would build on whatever repository holds DIR.
  std::filesystem::remove_all(dir / "ws");
  if (std::system(("git init -q '" + (dir / "ws").string() + "'").c_str()) != 0) return {};
  write(dir / "br.toml", "[run]\nworkers = " + std::to_string(workers) +
                             "\nworkspace = \"ws\"\n[agent]\ncommand = [\"" + agent +
                             "\"]\n[verify]\nfile_wait = 0\n");
  ProcessSpec spec;
  spec.argv = {BR_BINARY, "--state-dir", "state", "run", "--auto", "spec.md", "--config",
               "br.toml", "--quiet"};
  spec.cwd = dir;
  spec.env = clean_environment({});
  spec.log_file = dir / "br.log";
  spec.timeout_ms = 600000;
  const auto start = std::chrono::steady_clock::now();
  auto outcome = run_process(spec);
  Measured m;
  m.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
  if (!outcome || !outcome->success()) return m;
  JournalOptions options;
  options.read_only = true;
  auto journal = Journal::open((dir / "state/journal").string(), options);
  if (!journal) return m;
  std::int64_t first = 0, last = 0;
  (void)(*journal)->scan(1, [&](const JournalRecord& r) {
    if (const auto* d = std::get_if<rec::BatchDispatched>(&r.body)) {
      if (first == 0) first = r.time_ms;
      ++m.batches;
      m.tasks += d->tasks.size();
    }
    if (std::holds_alternative<rec::RunCompleted>(r.body)) last = r.time_ms;
    return true;
  });
  m.makespan_ms = static_cast<double>(last - first);
  m.ok = last > 0;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = "run-bench.tmp";
  if (argc == 3 && std::string(argv[1]) == "--dir") dir = argv[2];
  std::filesystem::create_directories(dir);
  dir = std::filesystem::absolute(dir);
  write(dir / "spec.md", wide_spec());
  // Sleeps 200 ms for each task of its batch.
  write(dir / "sleep-agent", "#!/bin/sh\nn=0\nfor t in $BR_TASK_IDS; do n=$((n+1)); done\n"
                             "ms=$((n*200))\nsleep \"$((ms/1000)).$(printf %03d $((ms%1000)))\"\n");
  std::filesystem::permissions(dir / "sleep-agent", std::filesystem::perms::owner_all);

  const int slots = 8;
  const double per_task_ms = 200;
  const double critical_ms = 4 * per_task_ms;        // schema → api → tests → docs
  const double total_ms = 200 * per_task_ms;
  const double lower = std::max(critical_ms, total_ms / slots);
  fmt::print("1. makespan, 200 tasks (50 chains of 4), {} slots, agent sleeps 200 ms per task\n",
             slots);
  fmt::print("| run | tasks | batches | makespan ms | lower bound ms | ratio |\n|---|---|---|---|---|---|\n");
  double best = 1e18;
  for (int i = 0; i < 3; ++i) {
    const Measured m = run(dir, (dir / "sleep-agent").string(), slots);
    if (!m.ok) {
      fmt::print("run failed; see {}\n", (dir / "br.log").string());
      return 1;
    }
    best = std::min(best, m.makespan_ms / lower);
    fmt::print("| {} | {} | {} | {:.0f} | {:.0f} | {:.3f} |\n", i + 1, m.tasks, m.batches,
               m.makespan_ms, lower, m.makespan_ms / lower);
  }
  fmt::print("best ratio {:.3f} (goal ≤ 1.10)\n\n", best);

  fmt::print("2. overhead per task, agent = /bin/true, 200 tasks\n");
  fmt::print("| slots | batches | makespan ms | wall ms | makespan per task ms | wall per task ms |\n"
             "|---|---|---|---|---|---|\n");
  for (int workers : {1, 8}) {
    const Measured m = run(dir, "/bin/true", workers);
    if (!m.ok) {
      fmt::print("run failed; see {}\n", (dir / "br.log").string());
      return 1;
    }
    fmt::print("| {} | {} | {:.0f} | {:.0f} | {:.2f} | {:.2f} |\n", workers, m.batches,
               m.makespan_ms, m.wall_ms, m.makespan_ms / static_cast<double>(m.tasks),
               m.wall_ms / static_cast<double>(m.tasks));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
