// Scale benchmark (issue 12): br against GNU make on the same DAG, from ≈2k to ≈390k tasks.
//  0. the plan: `br plan --json` of each synthetic spec (wall time, peak RSS); its tasks'
//     `id` and `depends_on` become a Makefile.
//  1. the run: `br run --auto` with a no-op agent (/bin/true, file_wait = 0) on 4 slots, and
//     `make -j4` on that Makefile, interleaved round by round: wall ms, ms/task, br / make, br's
//     peak RSS, the state dir's size. Goals: ms/task at the largest size ≤ 1.25 × ms/task at the
//     smallest; br / make at 39k tasks ≤ 1.5.
//  2. reading under load: pairs of br runs of the largest size below 390k, one alone and one
//     while the bench polls `br status --json` every 100 ms (--poll-rounds pairs): each call's
//     latency (goal ≤ 50 ms), the poller's CPU time, and each pair's dispatch rate with the
//     poller over without (goal: unchanged).
//
//   scale_bench [--sizes 2000,8000,39000] [--dir DIR] [--rounds N] [--poll-rounds N]
//               [--reader PROGRAM] [--keep]
//
// --reader: what the poller runs (default: br; build/coordinator/br-cli, the full CLI, shows
// what the small br saves).
//
// Sizes are approximate task counts (390000 is opt-in: br takes minutes); DIR is on the disk
// under test (default ./scale-bench.tmp), removed at the end unless --keep (to profile a run:
// each size's folder holds spec.md and br.toml).
//
// br runs one agent per batch of 2–3 tasks, make one recipe process per task (`@true` has no
// shell metacharacters, so make execs /bin/true without a shell), so neither side gets the
// cheaper deal by much; br's ms/batch is printed beside ms/task for that reason.
//
// Children are started with posix_spawn and reaped with wait4 for their rusage. A spawned
// child's ru_maxrss includes the peak of the image it replaced, which for posix_spawn is the
// bench's own memory (the kernel records the old mm's high-water mark at exec): so everything
// big (specs, plan JSON, journals) is handled in forked helpers, the bench stays a few MiB, and
// its own peak is printed as the floor of every figure.
#include <fcntl.h>
#include <fmt/core.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "actors/planner/decomposer.hpp"
#include "storage/journal.hpp"
#include "tests/bench/synthetic_spec.hpp"

extern char** environ;

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kHugeSize = 390000;  // opt-in, and never the one polled
constexpr int kSlots = 4;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "median (min–max)", or the one value of a single round.
std::string spread(const std::vector<double>& v) {
  if (v.size() < 2) return fmt::format("{:.0f}", median(v));
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt::format("{:.0f} ({:.0f}–{:.0f})", median(v), *lo, *hi);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(rank, v.size() - 1)];
}

// Runs `work` in a forked child and returns what it filled in, or nothing when it failed, so
// that the bench's own memory never holds a spec, a plan or a journal (see the top comment).
template <class T>
std::optional<T> in_child(const std::function<bool(T&)>& work) {
  static_assert(std::is_trivially_copyable_v<T>);
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::close(fds[0]);
    T value{};
    bool ok = false;
    try {
      ok = work(value);
    } catch (const std::exception& e) {
      fmt::print(stderr, "scale_bench: {}\n", e.what());
    }
    std::fflush(stderr);
    if (!ok || ::write(fds[1], &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  T value{};
  const bool got = ::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return value;
}

struct Exit {
  bool ok = false;  // exited with 0
  double wall_ms = 0;
  double peak_rss_mib = 0;  // ru_maxrss of the child and the descendants it waited for
  double cpu_ms = 0;        // user + system time of the child and the descendants it waited for
};

// Runs argv in `cwd`, stdout to `out`, stderr to `err`, and waits for it.
Exit run_child(const std::vector<std::string>& argv, const fs::path& cwd, const fs::path& out,
               const fs::path& err) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err == out) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  Exit exit;
  const auto start = Clock::now();
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    fmt::print(stderr, "scale_bench: cannot start {}: {}\n", argv[0], std::strerror(spawned));
    return exit;
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  exit.wall_ms = ms_since(start);
  exit.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  exit.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  exit.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
  return exit;
}

// Features of the synthetic generator whose plan has about `tasks` tasks: a guess at 4.5 tasks
// per feature, corrected once by planning the guess in a child.
std::size_t features_for(std::size_t tasks) {
  struct Planned {
    std::size_t tasks;
  };
  std::size_t features = std::max<std::size_t>(1, tasks * 2 / 9);
  const auto planned = in_child<Planned>([&](Planned& p) {
    ParseLimits limits;
    limits.max_bytes = std::size_t{1} << 30;
    limits.max_features = std::size_t{1} << 30;
    auto spec = parse_spec(bench::synthetic_spec(features), "spec.md", limits);
    if (!spec) throw std::runtime_error(spec.error().str());
    p.tasks = make_plan(*spec).tasks.size();
    return true;
  });
  if (planned && planned->tasks > 0) {
    features = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::llround(static_cast<double>(features) *
                                                 static_cast<double>(tasks) /
                                                 static_cast<double>(planned->tasks))));
  }
  return features;
}

std::string make_name(std::size_t index) { return "t" + std::to_string(index); }

// One phony target per task, named by its index (task ids hold '/', which make would take for
// a path); each runs a recipe process. All of them are declared phony on one line: GNU make 4.3
// walks the whole prerequisite list of .PHONY to append each line's names, so a `.PHONY: tN`
// line per target is quadratic (39k tasks: 156 s of make instead of 48 s, 96 % of its samples
// in that walk).
bool write_makefile(const std::vector<Task>& tasks, const fs::path& path) {
  std::unordered_map<std::string, std::size_t> index;
  index.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) index.emplace(tasks[i].id.str(), i);
  std::ofstream out(path);
  std::string names;
  for (std::size_t i = 0; i < tasks.size(); ++i) names += ' ' + make_name(i);
  out << ".PHONY: all" << names << "\nall:" << names << '\n';
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    out << make_name(i) << ':';
    for (const auto& d : tasks[i].depends_on) {
      const auto it = index.find(d.str());
      if (it == index.end()) throw std::runtime_error("unknown dependency " + d.str());
      out << ' ' << make_name(it->second);
    }
    out << "\n\t@true\n";
  }
  return static_cast<bool>(out.flush());
}

// The tasks' id and depends_on from `br plan --json` output, read with nlohmann's SAX
// interface: the document is never built (390k tasks: 216 MB of JSON in 6 s; a DOM parse
// filtered by a callback took 310 s).
class PlanTasks final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<Task> tasks;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& s) override {
    if (top_key_ != "tasks") return true;
    if (depth_ == kTask && task_key_ == "id") tasks.back().id = TaskId(s);
    if (depth_ == kTask + 1 && task_key_ == "depends_on") tasks.back().depends_on.emplace_back(s);
    return true;
  }
  bool start_object(std::size_t) override {
    if (++depth_ == kTask && top_key_ == "tasks") tasks.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) top_key_ = k;
    if (depth_ == kTask) task_key_ = k;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw std::runtime_error(std::string("br plan --json: ") + e.what());
  }

 private:
  static constexpr int kTask = 3;  // {"tasks": [{...}]}: the document, the array, a task
  int depth_ = 0;
  std::string top_key_, task_key_;
};

std::vector<Task> tasks_of_plan_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  PlanTasks handler;
  nlohmann::json::sax_parse(in, &handler);
  return std::move(handler.tasks);
}

// What a finished run's journal says.
struct RunFigures {
  std::uint64_t tasks = 0;       // in the plan
  std::uint64_t dispatched = 0;  // task dispatches (retries count again)
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
  std::int64_t first_dispatch_ms = 0, completed_ms = 0;
  bool succeeded = false;

  double dispatch_rate() const {  // tasks per second, first dispatch → run completed
    const auto ms = static_cast<double>(completed_ms - first_dispatch_ms);
    return ms > 0 ? static_cast<double>(dispatched) * 1000.0 / ms : 0;
  }
};

// Reads the journal in `state`; with `makefile` set, also writes the Makefile from its
// planCreated record (for when `br plan` refuses the spec).
std::optional<RunFigures> read_journal(const fs::path& state, const fs::path& makefile = {}) {
  return in_child<RunFigures>([&](RunFigures& f) {
    JournalOptions options;
    options.read_only = true;
    auto journal = Journal::open((state / "journal").string(), options);
    if (!journal) throw std::runtime_error(journal.error().str());
    bool makefile_ok = makefile.empty();
    auto scanned = (*journal)->scan(1, [&](const JournalRecord& r) {
      ++f.records;
      if (const auto* p = std::get_if<rec::PlanCreated>(&r.body)) {
        f.tasks = p->plan.tasks.size();
        if (!makefile.empty()) makefile_ok = write_makefile(p->plan.tasks, makefile);
      } else if (const auto* d = std::get_if<rec::BatchDispatched>(&r.body)) {
        if (f.first_dispatch_ms == 0) f.first_dispatch_ms = r.time_ms;
        ++f.batches;
        f.dispatched += d->tasks.size();
      } else if (const auto* c = std::get_if<rec::RunCompleted>(&r.body)) {
        f.completed_ms = r.time_ms;
        f.succeeded = c->outcome == rec::RunOutcome::succeeded;
      }
      return true;
    });
    if (!scanned) throw std::runtime_error(scanned.error().str());
    return makefile_ok;
  });
}

double dir_mib(const fs::path& dir) {
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) bytes += it->file_size(ec);
  }
  return static_cast<double>(bytes) / (1 << 20);
}

struct Size {
  std::size_t nominal = 0, features = 0, tasks = 0;
  fs::path dir;
  double spec_mib = 0;
  Exit plan;                    // `br plan --json`
  bool makefile_from_plan = false;
};

// br.toml of every run. [limits] raised so that the 390k-task spec (≈31 MiB, 100k features) is
// accepted. The no-op agent changes no file, so the run shares one directory (no worktrees):
// what is measured is the orchestration, as make does it.
constexpr const char* kConfig =
    "[run]\nworkers = 4\nworkspace = \"ws\"\nisolation = \"none\"\n"
    "[agent]\ncommand = [\"/bin/true\"]\n"
    "[verify]\nfile_wait = 0\n"
    "[limits]\nspec_max_bytes = 1073741824\nmax_tasks = 10000000\n";

// Writes the spec, br.toml and, when `br plan` takes the spec, the Makefile.
bool prepare(Size& size) {
  fs::remove_all(size.dir);
  fs::create_directories(size.dir / "ws");
  std::ofstream(size.dir / "br.toml") << kConfig;
  struct Written {
    double mib;
  };
  const auto spec = in_child<Written>([&](Written& w) {
    const std::string text = bench::synthetic_spec(size.features);
    w.mib = static_cast<double>(text.size()) / (1 << 20);
    return static_cast<bool>(std::ofstream(size.dir / "spec.md") << text);
  });
  if (!spec) return false;
  size.spec_mib = spec->mib;
  // `br plan --config` gives the plan `br run` makes under those limits; a br whose plan takes
  // no --config plans within the default limits, which refuse the 390k spec.
  for (bool with_config : {true, false}) {
    std::vector<std::string> argv = {BR_BINARY, "plan", "--json", "spec.md"};
    if (with_config) argv.insert(argv.end(), {"--config", "br.toml"});
    size.plan = run_child(argv, size.dir, size.dir / "plan.json", size.dir / "plan.err");
    if (size.plan.ok) break;
  }
  if (size.plan.ok) {
    struct Count {
      std::size_t tasks;
    };
    const auto made = in_child<Count>([&](Count& c) {
      const auto tasks = tasks_of_plan_json(size.dir / "plan.json");
      c.tasks = tasks.size();
      return write_makefile(tasks, size.dir / "Makefile");
    });
    size.makefile_from_plan = made.has_value();
    if (made) size.tasks = made->tasks;
  }
  fs::remove(size.dir / "plan.json");
  return true;
}

struct BrRun {
  Exit exit;
  RunFigures figures;
  double state_mib = 0;
};

// `exited`, when given, is set as soon as br has exited (before its journal is read).
std::optional<BrRun> run_br(const Size& size, std::atomic<bool>* exited = nullptr) {
  fs::remove_all(size.dir / "state");
  BrRun run;
  run.exit = run_child({BR_BINARY, "--state-dir", "state", "run", "--auto", "spec.md", "--config",
                        "br.toml", "--quiet"},
                       size.dir, size.dir / "br.log", size.dir / "br.log");
  if (exited) *exited = true;
  if (!run.exit.ok) return std::nullopt;
  const fs::path makefile = size.dir / "Makefile";
  const auto figures = read_journal(size.dir / "state", fs::exists(makefile) ? fs::path() : makefile);
  if (!figures || !figures->succeeded) return std::nullopt;
  run.figures = *figures;
  run.state_mib = dir_mib(size.dir / "state");
  return run;
}

Exit run_make(const Size& size) {
  return run_child({"make", "-j" + std::to_string(kSlots), "-r", "-R", "-s", "-f", "Makefile"},
                   size.dir, size.dir / "make.log", size.dir / "make.log");
}

struct Row {
  Size size;
  std::vector<double> br_ms, make_ms;
  double br_rss_mib = 0, state_mib = 0;
  std::uint64_t batches = 0;
  std::uint64_t records = 0;

  double br_ms_per_task() const { return median(br_ms) / static_cast<double>(size.tasks); }
  double make_ms_per_task() const { return median(make_ms) / static_cast<double>(size.tasks); }
};

// `br status --json` every 100 ms from the time br's journal exists until `stop`; calls that
// fail before the first answer (the journal is still being created) are not counted.
struct Poller {
  std::vector<double> latencies_ms;
  double cpu_ms = 0;  // of every call
  int failed = 0;
  std::string first_failure;  // its stderr's first line
  std::atomic<bool> stop{false};

  std::string reader = BR_BINARY;  // the program polled: br, or br-cli to compare

  void run(const fs::path& dir) {
    auto next = Clock::now();
    while (!stop) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(100);
      if (stop) break;
      if (!fs::exists(dir / "state" / "journal")) continue;
      const Exit e = run_child({reader, "--state-dir", "state", "status", "--json"}, dir,
                               "/dev/null", dir / "status.err");
      next = std::max(next, Clock::now());  // a slow call delays the next, never bunches them
      cpu_ms += e.cpu_ms;
      if (e.ok) {
        latencies_ms.push_back(e.wall_ms);
      } else if (!latencies_ms.empty() && ++failed == 1) {
        std::ifstream err(dir / "status.err");
        std::getline(err, first_failure);
      }
    }
  }
};

struct Options {
  std::vector<std::size_t> sizes = {2000, 8000, 39000};
  fs::path dir = "scale-bench.tmp";
  std::string reader = BR_BINARY;  // --reader: what the poller runs as `… status --json`
  int rounds = 3;
  int poll_rounds = 1;
  bool keep = false;
};

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--keep") {
      o.keep = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--reader") {
      o.reader = value;
    } else if (flag == "--poll-rounds") {
      o.poll_rounds = std::max(1, std::stoi(value));
    } else if (flag == "--rounds") {
      o.rounds = std::max(1, std::stoi(value));
    } else if (flag == "--sizes") {
      o.sizes.clear();
      for (std::size_t at = 0; at <= value.size();) {
        const std::size_t comma = std::min(value.find(',', at), value.size());
        o.sizes.push_back(std::stoul(value.substr(at, comma - at)));
        at = comma + 1;
      }
    } else {
      return std::nullopt;
    }
  }
  std::sort(o.sizes.begin(), o.sizes.end());
  o.sizes.erase(std::unique(o.sizes.begin(), o.sizes.end()), o.sizes.end());
  if (o.sizes.empty() || o.sizes.front() == 0) return std::nullopt;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_args(argc, argv);
  if (!options) {
    fmt::print(stderr,
               "usage: scale_bench [--sizes 2000,8000,39000] [--dir DIR] [--rounds N] [--poll-rounds N] "
               "[--reader PROGRAM] "
               "[--keep]\n"
               "  sizes are approximate task counts; 390000 is opt-in (br takes minutes)\n");
    return 2;
  }
  // The largest size below the huge one is run once more under a status poller.
  std::size_t polled = options->sizes.front();
  for (std::size_t s : options->sizes) {
    if (s < kHugeSize) polled = s;
  }
  try {
    fs::create_directories(options->dir);
    const fs::path root = fs::absolute(options->dir);
    std::vector<Row> rows;

    fmt::print("0. plan: `br plan --json` of the synthetic specs\n");
    fmt::print("| tasks | features | spec MiB | br plan --json ms | peak RSS MiB | Makefile from |\n"
               "|---|---|---|---|---|---|\n");
    for (std::size_t nominal : options->sizes) {
      Row row;
      row.size.nominal = nominal;
      row.size.features = features_for(nominal);
      row.size.dir = root / std::to_string(nominal);
      if (!prepare(row.size)) throw std::runtime_error("cannot write the spec of " +
                                                       std::to_string(nominal));
      fmt::print("| {} | {} | {:.1f} | {} | {} | {} |\n",
                 row.size.makefile_from_plan ? std::to_string(row.size.tasks) : "?",
                 row.size.features, row.size.spec_mib,
                 row.size.plan.ok ? fmt::format("{:.0f}", row.size.plan.wall_ms) : "refused",
                 row.size.plan.ok ? fmt::format("{:.0f}", row.size.plan.peak_rss_mib) : "–",
                 row.size.makefile_from_plan ? "br plan --json" : "journal's planCreated");
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }

    fmt::print("\n1. run: br (agent /bin/true, file_wait 0, {} slots) and make -j{} on the same "
               "DAG, interleaved; ms: median (min–max) of {} round(s)\n",
               kSlots, kSlots, options->rounds);
    fmt::print("| tasks | batches | br ms | br ms/task | br ms/batch | make ms | make ms/task "
               "| br / make | br peak RSS MiB | state MiB | journal records |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (Row& row : rows) {
      for (int r = 0; r < options->rounds; ++r) {
        const auto br = run_br(row.size);
        if (!br) {
          throw std::runtime_error("br run of " + std::to_string(row.size.nominal) +
                                   " failed; see " + (row.size.dir / "br.log").string());
        }
        row.size.tasks = br->figures.tasks;
        row.br_ms.push_back(br->exit.wall_ms);
        row.br_rss_mib = std::max(row.br_rss_mib, br->exit.peak_rss_mib);
        row.state_mib = br->state_mib;
        row.batches = br->figures.batches;
        row.records = br->figures.records;
        const Exit make = run_make(row.size);
        if (!make.ok) {
          throw std::runtime_error("make of " + std::to_string(row.size.nominal) + " failed; see " +
                                   (row.size.dir / "make.log").string());
        }
        row.make_ms.push_back(make.wall_ms);
      }
      const double br_ms = median(row.br_ms), make_ms = median(row.make_ms);
      fmt::print("| {} | {} | {} | {:.2f} | {:.2f} | {} | {:.2f} | {:.2f} | {:.0f} | {:.0f} | {} |\n",
                 row.size.tasks, row.batches, spread(row.br_ms), row.br_ms_per_task(),
                 br_ms / static_cast<double>(row.batches), spread(row.make_ms),
                 row.make_ms_per_task(), br_ms / make_ms, row.br_rss_mib, row.state_mib,
                 row.records);
      std::fflush(stdout);
    }
    const Row& smallest = rows.front();
    const Row& largest = rows.back();
    const Row* near_39k = &rows.front();
    const auto distance = [](std::size_t a, std::size_t b) { return a > b ? a - b : b - a; };
    for (const Row& row : rows) {
      if (distance(row.size.nominal, 39000) < distance(near_39k->size.nominal, 39000)) {
        near_39k = &row;
      }
    }
    fmt::print("\nbr ms/task at {} tasks / at {} tasks: {:.2f} (goal ≤ 1.25)\n", largest.size.tasks,
               smallest.size.tasks, largest.br_ms_per_task() / smallest.br_ms_per_task());
    fmt::print("br / make at {} tasks: {:.2f} (goal at 39k ≤ 1.5)\n", near_39k->size.tasks,
               median(near_39k->br_ms) / median(near_39k->make_ms));

    Row& load = *std::find_if(rows.begin(), rows.end(),
                              [&](const Row& r) { return r.size.nominal == polled; });
    fmt::print("\n2. reading under load: br status --json every 100 ms during a br run of {} "
               "tasks\n",
               load.size.tasks);
    // Each polled run is paired with an unpolled one beside it, so that a pair sees the same
    // machine: between rounds of a few seconds, this VM's dispatch rate moves by ±20 %. The
    // order alternates (unpolled first in odd rounds, polled first in even ones), so that a
    // machine speeding up or slowing down through the bench does not favour either side.
    fmt::print("| round | status calls | failed | p50 ms | p99 ms | max ms | poller CPU ms/s "
               "| dispatch tasks/s without poller | with poller | with / without |\n"
               "|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<double> ratios;
    for (int r = 0; r < options->poll_rounds; ++r) {
      const bool polled_first = r % 2 == 1;
      std::optional<std::optional<BrRun>> alone;  // set once its run is over
      if (!polled_first) alone.emplace(run_br(load.size));
      Poller poller;
      poller.reader = options->reader;
      std::thread polling([&] { poller.run(load.size.dir); });
      const auto br = run_br(load.size, &poller.stop);
      poller.stop = true;
      polling.join();
      if (polled_first) alone.emplace(run_br(load.size));
      if (!*alone || !br) throw std::runtime_error("br run beside the poller failed");
      const double without = (*alone)->figures.dispatch_rate();
      const double with = br->figures.dispatch_rate();
      ratios.push_back(without > 0 ? with / without : 0);
      fmt::print("| {}{} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.0f} | {:.0f} | {:.0f} | {:.2f} |\n",
                 r + 1, polled_first ? " (polled first)" : "", poller.latencies_ms.size(), poller.failed,
                 percentile(poller.latencies_ms, 0.5), percentile(poller.latencies_ms, 0.99),
                 percentile(poller.latencies_ms, 1.0), poller.cpu_ms / (br->exit.wall_ms / 1e3),
                 without, with, ratios.back());
      if (poller.failed > 0) fmt::print("first failed call: {}\n", poller.first_failure);
      std::fflush(stdout);
    }
    fmt::print("with / without poller, median of {} pair(s): {:.2f}\n", ratios.size(),
               median(ratios));
    fmt::print("(goals: status ≤ 50 ms; dispatch rate unchanged)\n");
    fmt::print("\nthe bench's own peak RSS, the floor of every child's: {:.0f} MiB\n",
               bench::peak_rss_mib());
    if (!options->keep) fs::remove_all(root);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "scale_bench: {}\n", e.what());
    return 3;
  }
}
