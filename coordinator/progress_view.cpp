#include "coordinator/progress_view.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "coordinator/state_views.hpp"

namespace br {

std::string format_duration(std::int64_t ms) {
  if (ms < 0) ms = 0;
  const std::int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}.{}s", s, (ms % 1000) / 100);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

namespace {

constexpr std::size_t kRecentShown = 3;

constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";

// Columns `text` takes on a terminal, taking each UTF-8 sequence as one.
std::size_t columns(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// `line` in at most `width` columns, its start and end kept and the middle given up for "…":
// a failure's reason ends with the agent's last words, the part worth reading, after a long
// "(log: …)". Cuts fall between UTF-8 sequences.
std::string fit_keeping_end(const std::string& line, std::size_t width) {
  const std::size_t have = columns(line);
  if (have <= width) return line;
  if (width < 8) return line.substr(0, width);  // no room for both ends
  const std::size_t head_columns = width / 3;
  std::size_t head = 0;
  for (std::size_t seen = 0; head < line.size(); ++head) {
    if ((static_cast<unsigned char>(line[head]) & 0xC0) != 0x80 && seen++ == head_columns) break;
  }
  // Tail: the last width - head_columns - 1 columns.
  std::size_t tail = line.size();
  for (std::size_t kept = 0; tail > head;) {
    --tail;
    if ((static_cast<unsigned char>(line[tail]) & 0xC0) != 0x80 &&
        ++kept == width - head_columns - 1) {
      break;
    }
  }
  return line.substr(0, head) + "…" + line.substr(tail);
}

std::string paint(const std::string& text, const char* colour, bool on) {
  return on ? colour + text + "\x1b[0m" : text;
}

// A transition line's keyword (after "[done/total] ") in its colour.
std::string paint_line(const std::string& line, bool on) {
  if (!on || line.empty() || line[0] != '[') return line;
  const std::size_t start = line.find("] ");
  if (start == std::string::npos) return line;
  const std::size_t word = start + 2;
  const std::size_t end = line.find(' ', word);
  const std::string keyword = line.substr(word, end == std::string::npos ? end : end - word);
  const char* colour = keyword == "done"                          ? kGreen
                       : keyword == "FAILED" || keyword == "blocked" ? kRed
                       : keyword == "retry" || keyword == "cancel"   ? kYellow
                                                                     : nullptr;
  if (colour == nullptr) return line;
  return line.substr(0, word) + paint(keyword, colour, true) +
         (end == std::string::npos ? "" : line.substr(end));
}
constexpr std::size_t kLevelsShown = 6;

std::string bar(std::size_t done, std::size_t total, std::size_t width) {
  const std::size_t filled = total == 0 ? width : done * width / total;
  return std::string(filled, '#') + std::string(width - filled, '.');
}

}  // namespace

ProgressView::ProgressView(RunState state, std::shared_ptr<const DependencyGraph> graph,
                           std::uint32_t slots, std::int64_t started_ms, bool verbose)
    : state_(std::move(state)),
      graph_(std::move(graph)),
      levels_(graph_ ? graph_->levels() : std::vector<std::vector<std::uint32_t>>{}),
      slots_(std::max<std::uint32_t>(1, slots)),
      started_ms_(started_ms),
      verbose_(verbose) {}

std::vector<std::string> ProgressView::apply(const std::vector<JournalRecord>& records) {
  std::vector<std::string> lines;
  for (const auto& record : records) {
    // Attempt duration is measured from dispatch, before the record changes the state.
    std::int64_t dispatched = 0;
    std::uint32_t planned = 0;
    const auto attempt_of = [&](const TaskId& id) {
      if (const TaskState* t = state_.find(id)) dispatched = t->dispatched_ms;
      if (auto i = state_.index_of(id)) planned = state_.plan().tasks[*i].minutes;
    };
    if (const auto* s = std::get_if<rec::TaskSucceeded>(&record.body)) {
      attempt_of(s->task);
    } else if (const auto* f = std::get_if<rec::TaskFailed>(&record.body)) {
      attempt_of(f->task);
    }
    JournalRecord unnumbered = record;
    unnumbered.seq = 0;  // the view sees durable records, but not necessarily all of them
    if (!state_.apply(unnumbered)) continue;
    if (dispatched > 0) {
      busy_ms_ += record.time_ms - dispatched;
      busy_planned_min_ += planned;
    }
    std::string line = describe(record);
    if (const auto* ok = std::get_if<rec::TaskSucceeded>(&record.body)) {
      for (auto& event : recent_) event.recovered = event.recovered || event.task == ok->task.str();
    }
    const TaskId* task = nullptr;
    if (const auto* f = std::get_if<rec::TaskFailed>(&record.body)) task = &f->task;
    if (const auto* r = std::get_if<rec::TaskRetrying>(&record.body)) task = &r->task;
    if (const auto* b = std::get_if<rec::TaskBlocked>(&record.body)) task = &b->task;
    if (task != nullptr) {
      recent_.push_back(Event{task->str(), line.substr(line.find(']') + 2), false});
      if (recent_.size() > kRecentShown) recent_.pop_front();
    }
    line = paint_line(line, colour_);
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

std::string ProgressView::describe(const JournalRecord& r) const {
  const ProgressCounts c = state_.counts();
  const std::string done = fmt::format("[{}/{}]", c.succeeded, c.total);
  struct Visitor {
    const ProgressView& view;
    const std::string& done;
    std::string operator()(const rec::PlanCreated&) const { return ""; }
    std::string operator()(const rec::PlanRevised&) const { return ""; }
    std::string operator()(const rec::TasksReopened& v) const {
      return fmt::format("{} retry   {} task(s) start over", done, v.tasks.size());
    }
    std::string operator()(const rec::TaskReady& v) const {
      return view.verbose_ ? fmt::format("{} ready   {}", done, v.task.str()) : "";
    }
    std::string operator()(const rec::BatchDispatched& v) const {
      std::string ids;
      for (const auto& t : v.tasks) ids += (ids.empty() ? "" : ", ") + t.str();
      return fmt::format("{} dispatch {} to {}: {}", done, v.batch.str(), v.worker, ids);
    }
    std::string operator()(const rec::TaskStarted& v) const {
      return fmt::format("{} start   {} (attempt {}) on {}", done, v.task.str(), v.attempt,
                         v.worker);
    }
    std::string operator()(const rec::TaskSucceeded& v) const {
      const TaskState* t = view.state_.find(v.task);
      const std::int64_t took = t ? t->finished_ms - t->dispatched_ms : 0;
      return fmt::format("{} done    {} in {}", done, v.task.str(), format_duration(took));
    }
    std::string operator()(const rec::TaskFailed& v) const {
      return fmt::format("{} FAILED  {} (attempt {}): {}", done, v.task.str(), v.attempt,
                         v.reason);
    }
    std::string operator()(const rec::TaskRetrying& v) const {
      const TaskState* t = view.state_.find(v.task);
      const std::int64_t wait = t ? v.not_before_ms - t->finished_ms : 0;
      return fmt::format("{} retry   {} as attempt {} in {}", done, v.task.str(), v.next_attempt,
                         format_duration(wait));
    }
    std::string operator()(const rec::TaskBlocked& v) const {
      const TaskState* t = view.state_.find(v.task);  // its reason: failed, or was cancelled
      return fmt::format("{} blocked {}: {}", done, v.task.str(), t ? t->reason : "");
    }
    std::string operator()(const rec::TaskCancelled& v) const {
      return fmt::format("{} cancel  {}: {}", done, v.task.str(), v.reason);
    }
    std::string operator()(const rec::WorkerJoined& v) const {
      return fmt::format("worker {} joined with {} slot(s)", v.worker, v.slots);
    }
    std::string operator()(const rec::WorkerLost& v) const {
      return fmt::format("worker {} lost: {}", v.worker, v.reason);
    }
    std::string operator()(const rec::RunStopped& v) const {
      return fmt::format("run stopped: {}", v.reason);
    }
    std::string operator()(const rec::RunResumed&) const { return "run resumed"; }
    std::string operator()(const rec::RunCompleted&) const { return ""; }
  };
  return std::visit(Visitor{*this, done}, r.body);
}

std::uint32_t ProgressView::current_level() const {
  // The lowest level that still has unfinished work.
  std::uint32_t level = 0;
  bool found = false;
  if (!graph_) return 0;
  const auto& level_of = graph_->level_of();
  for (std::size_t i = 0; i < state_.tasks().size() && i < level_of.size(); ++i) {
    if (is_terminal(state_.tasks()[i].status)) continue;
    if (!found || level_of[i] < level) level = level_of[i];
    found = true;
  }
  return level;
}

std::int64_t ProgressView::eta_ms() const {
  if (busy_planned_min_ == 0) return -1;
  std::uint64_t critical = 0, work = 0;  // planned minutes
  const auto& tasks = state_.plan().tasks;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (is_terminal(state_.tasks()[i].status)) continue;
    work += tasks[i].minutes;
    // Everything after an unfinished task is unfinished too, so its remaining path is exact.
    if (graph_ && i < graph_->remaining_minutes().size()) {
      critical = std::max(critical, graph_->remaining_minutes()[i]);
    }
  }
  const std::uint64_t planned = std::max(critical, (work + slots_ - 1) / slots_);
  const double ms_per_minute =
      static_cast<double>(busy_ms_) / static_cast<double>(busy_planned_min_);
  return static_cast<std::int64_t>(static_cast<double>(planned) * ms_per_minute);
}

std::string ProgressView::live_block(std::int64_t now_ms, std::size_t width) const {
  const ProgressCounts c = state_.counts();
  const std::size_t finished = c.succeeded + c.failed + c.blocked + c.cancelled;
  const std::size_t bar_width = std::clamp<std::size_t>(width > 40 ? width - 40 : 10, 10, 50);
  const std::int64_t eta = finished == c.total ? 0 : eta_ms();
  std::string out = fmt::format("[{}] {}/{} done  elapsed {}  eta {}\n",
                                bar(finished, c.total, bar_width), c.succeeded, c.total,
                                format_duration(now_ms - started_ms_),
                                eta < 0 ? std::string("--") : format_duration(eta));
  // One bar per level, from the lowest unfinished one.
  if (graph_) {
    const auto& levels = levels_;
    const std::uint32_t first = current_level();
    for (std::size_t l = first; l < levels.size() && l < first + kLevelsShown; ++l) {
      std::size_t done = 0;
      for (std::uint32_t i : levels[l]) done += is_terminal(state_.tasks()[i].status) ? 1 : 0;
      out += fmt::format("  level {:<3} [{}] {}/{}\n", l + 1,
                         bar(done, levels[l].size(), std::min<std::size_t>(bar_width, 20)), done,
                         levels[l].size());
    }
    if (levels.size() > first + kLevelsShown) {
      out += fmt::format("  … {} more levels\n", levels.size() - first - kLevelsShown);
    }
  }
  out += fmt::format("running {}  queued {}  retrying {}  failed {}  blocked {}",
                     c.running + c.dispatched, c.ready + c.pending, c.retrying, c.failed,
                     c.blocked);
  const auto& plan = state_.plan().tasks;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < plan.size() && shown < 8; ++i) {
    const TaskState& t = state_.tasks()[i];
    if (t.status != TaskStatus::running && t.status != TaskStatus::dispatched) continue;
    const std::int64_t since = t.started_ms > 0 ? t.started_ms : t.dispatched_ms;
    std::string line = fmt::format("\n  {:<10} {}  {}", t.worker, plan[i].id.str(),
                                   format_duration(now_ms - since));
    if (line.size() > width + 1) line.resize(width + 1);
    out += line;
    ++shown;
  }
  for (const Event& event : recent_) {
    // A failure that a later attempt made good is kept, marked, so the screen does not alarm.
    const std::string line =
        fit_keeping_end((event.recovered ? "  ~ recovered: " : "  ! ") + event.text, width);
    out += "\n" + (event.recovered ? paint(line, kGreen, colour_) : paint(line, kRed, colour_));
  }
  return out;
}

std::string ProgressView::summary(std::int64_t now_ms, const std::string& br) const {
  const ProgressCounts c = state_.counts();
  const auto& plan = state_.plan().tasks;
  std::size_t attempts = 0;
  for (const TaskState& t : state_.tasks()) attempts += t.attempt;
  const std::size_t dispatched_tasks = static_cast<std::size_t>(std::count_if(
      state_.tasks().begin(), state_.tasks().end(), [](const TaskState& t) { return t.attempt > 0; }));
  const char* verdict = state_.status() == RunStatus::succeeded ? kGreen
                        : state_.status() == RunStatus::stopped ? kYellow
                                                                 : kRed;
  std::string out = paint(std::string(to_string(state_.status())), verdict, colour_);
  out += fmt::format(
      ": {} of {} tasks succeeded, {} failed, {} blocked, {} cancelled in {} ({} attempt{}, {} "
      "retr{})\n",
      c.succeeded, c.total, c.failed, c.blocked, c.cancelled,
      format_duration(now_ms - started_ms_), attempts, attempts == 1 ? "" : "s",
      attempts - dispatched_tasks, attempts - dispatched_tasks == 1 ? "y" : "ies");
  // Every failure, up to a screenful: a run of 400k tasks can block most of them.
  const auto list = [&](TaskStatus status, std::size_t most, const auto& line) {
    std::size_t shown = 0, more = 0;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      if (state_.tasks()[i].status != status) continue;
      if (shown == most) {
        ++more;
        continue;
      }
      ++shown;
      out += line(i);
    }
    if (more > 0) {
      out += fmt::format("  … and {} more {} ({} task list --status {})\n", more, to_string(status),
                         br, to_string(status));
    }
  };
  list(TaskStatus::failed, 20, [&](std::size_t i) {
    return fmt::format("  {}  {} after {} attempt(s): {}\n", paint("failed", kRed, colour_),
                       plan[i].id.str(), state_.tasks()[i].attempt, state_.tasks()[i].reason);
  });
  out += blocked_summary(br);
  return out;
}

// Blocked tasks are folded by reason (coordinator/state_views.hpp): a few alone, as they are,
// a bigger group as a count and the first names.
std::string ProgressView::blocked_summary(const std::string& br) const {
  constexpr std::size_t kGroupsShown = 10, kListedAlone = 3, kNamesShown = 5;
  const auto groups = group_by_reason(state_, TaskStatus::blocked, kNamesShown);
  const auto name = [&](std::size_t i) { return state_.plan().tasks[i].id.str(); };
  const std::string word = paint("blocked", kRed, colour_);
  std::string out;
  std::size_t blocked = 0;
  bool folded = groups.size() > kGroupsShown;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    const ReasonGroup& g = groups[k];
    blocked += g.count;
    if (k >= kGroupsShown) continue;
    if (g.count <= kListedAlone) {
      for (const std::size_t i : g.tasks) {
        out += fmt::format("  {} {}: {}\n", word, name(i), g.reason);
      }
      continue;
    }
    std::string names;
    for (const std::size_t i : g.tasks) names += (names.empty() ? "" : ", ") + name(i);
    if (g.count > g.tasks.size()) {
      names += fmt::format(" and {} more", g.count - g.tasks.size());
      folded = true;
    }
    out += fmt::format("  {} {} tasks: {} ({})\n", word, g.count, g.reason, names);
  }
  if (groups.size() > kGroupsShown) {
    std::size_t shown = 0;
    for (std::size_t k = 0; k < kGroupsShown; ++k) shown += groups[k].count;
    out += fmt::format("  … and {} more blocked for {} other reasons\n", blocked - shown,
                       groups.size() - kGroupsShown);
  }
  if (folded) out += fmt::format("  all {} blocked: {} task list --status blocked\n", blocked, br);
  return out;
}

bool use_colour(const std::string& flag, bool is_tty, const char* no_color_env,
                const char* term_env) {
  if (flag == "always") return true;
  if (flag == "never") return false;
  if (no_color_env != nullptr && *no_color_env != '\0') return false;
  if (term_env != nullptr && std::string_view(term_env) == "dumb") return false;
  return is_tty;
}

}  // namespace br
