// Agent start cost against br's own size: run_process of /bin/true (agent_runner's spawn, a
// clone that shares br's memory until the exec) and, for comparison, a plain fork + execve +
// waitpid done here, each timed with the process at ~10 MiB resident, then again after
// allocating and touching ~1 GiB. fork copies the page tables of all that memory; the clone
// does not. Reports median and p90 per method and size, and the 1 GiB / 10 MiB ratio.
//
//   spawn_bench [--runs N] [--mib M]
#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "actors/worker/agent_runner.hpp"

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Memory the process holds and has written, so every page is mapped.
std::unique_ptr<char[]> touched(std::size_t bytes) {
  std::unique_ptr<char[]> p(new char[bytes]);
  std::memset(p.get(), 1, bytes);
  return p;
}

struct Stats {
  double median = 0;
  double p90 = 0;
};

Stats stats(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 9 / 10]};
}

double time_run_process(const ProcessSpec& spec) {
  const auto start = Clock::now();
  auto r = run_process(spec);
  const double ms = ms_since(start);
  if (!r.ok() || !r->success()) {
    fmt::print(stderr, "run_process failed: {}\n", r.ok() ? r->describe() : r.error().str());
    std::exit(1);
  }
  return ms;
}

double time_fork_exec(char* const* argv, char* const* envp) {
  const auto start = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execve(argv[0], argv, envp);
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "fork + execve of {} failed\n", argv[0]);
    std::exit(1);
  }
  return ms_since(start);
}

struct Row {
  Stats spawn;
  Stats fork;
  std::size_t resident = 0;
};

// One method at a time, not alternated: alternated, the run_process after each fork of the
// 1 GiB process took ~3x its time, while run_process alone is as fast at 1 GiB as at 10 MiB.
template <class Run>
Stats timed(int runs, const Run& run) {
  for (int i = 0; i < 10; ++i) run();  // warm-up: page cache, lazy binding, the log file
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) ms.push_back(run());
  return stats(std::move(ms));
}

Row measure(int runs, const ProcessSpec& spec, char* const* argv, char* const* envp) {
  Row row;
  row.spawn = timed(runs, [&] { return time_run_process(spec); });
  row.fork = timed(runs, [&] { return time_fork_exec(argv, envp); });
  row.resident = resident_bytes();
  return row;
}

std::string cell(const Stats& s) { return fmt::format("{:7.2f} / {:7.2f}", s.median, s.p90); }

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  std::size_t big_mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs")
      runs = std::max(1, std::stoi(argv[i + 1]));
    else if (flag == "--mib")
      big_mib = std::stoull(argv[i + 1]);
  }
  const fs::path dir = fs::temp_directory_path() / ("spawn_bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  ProcessSpec spec;
  spec.argv = {"/bin/true"};
  spec.cwd = dir;
  spec.env = clean_environment({});
  spec.log_file = dir / "run.log";
  std::vector<char*> fork_argv = {const_cast<char*>("/bin/true"), nullptr};
  std::vector<char*> fork_envp;
  for (const auto& e : spec.env) fork_envp.push_back(const_cast<char*>(e.c_str()));
  fork_envp.push_back(nullptr);

  constexpr std::size_t kMiB = std::size_t{1} << 20;
  const std::size_t base = resident_bytes();
  auto small = touched(base < 10 * kMiB ? 10 * kMiB - base : kMiB);
  const Row at_small = measure(runs, spec, fork_argv.data(), fork_envp.data());
  auto big = touched(big_mib * kMiB);
  const Row at_big = measure(runs, spec, fork_argv.data(), fork_envp.data());

  fmt::print("spawn of /bin/true, {} runs per cell after 10 warm-up; median / p90 in ms\n", runs);
  fmt::print("| method                  |  RSS {:4} MiB     |  RSS {:4} MiB     | ratio |\n",
             at_small.resident / kMiB, at_big.resident / kMiB);
  fmt::print("|-------------------------|-------------------|-------------------|-------|\n");
  const auto line = [&](const char* method, Stats Row::*which) {
    const Stats& small_stats = at_small.*which;
    const Stats& big_stats = at_big.*which;
    fmt::print("| {:23} | {} | {} | {:4.1f}x |\n", method, cell(small_stats), cell(big_stats),
               big_stats.median / small_stats.median);
  };
  line("run_process (clone)", &Row::spawn);
  line("fork + execve + waitpid", &Row::fork);
  fmt::print("at {} MiB a fork + execve takes {:.0f}x the time of run_process (medians)\n",
             at_big.resident / kMiB, at_big.fork.median / at_big.spawn.median);

  big.reset();
  small.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
