#include "coordinator/state_views.hpp"

#include <fmt/format.h>

#include <unordered_map>

#include "coordinator/usage_view.hpp"

namespace br {
namespace {

nlohmann::json counts_json(const ProgressCounts& c) {
  return {{"total", c.total},         {"pending", c.pending},     {"ready", c.ready},
          {"dispatched", c.dispatched}, {"running", c.running},   {"succeeded", c.succeeded},
          {"failed", c.failed},       {"retrying", c.retrying},   {"blocked", c.blocked},
          {"cancelled", c.cancelled}};
}

}  // namespace

nlohmann::json status_json(const RunState& state) {
  nlohmann::json workers = nlohmann::json::array();
  for (const auto& [name, w] : state.workers()) {
    workers.push_back({{"name", name}, {"slots", w.slots}, {"address", w.address},
                       {"alive", w.alive}});
  }
  return {{"version", kJsonVersion},
          {"run_id", state.run_id()},
          {"status", std::string(to_string(state.status()))},
          {"title", state.plan().title},
          {"spec", state.spec_path()},
          {"last_seq", state.last_seq()},
          // Isolated runs: where the result is ("" for isolation = "none").
          {"branch", state.branch()},
          {"head", state.head()},
          {"counts", counts_json(state.counts())},
          {"usage", usage_total_json(state.usage())},
          {"workers", workers}};
}

std::string status_text(const RunState& state) { return status_text(status_json(state)); }

std::string status_text(const nlohmann::json& doc) {
  const auto& c = doc.at("counts");
  const auto n = [&](const char* key) { return c.value(key, std::size_t{0}); };
  std::string status = doc.value("status", "");
  if (status == "running" && !doc.value("live", true)) {
    status = "not running (its coordinator is gone without a word; `br resume` carries on)";
  }
  std::string out = fmt::format("run {} ({}): {}\n", doc.value("run_id", ""),
                                doc.value("title", ""), status);
  out += fmt::format("spec: {}\n", doc.value("spec", ""));
  if (!doc.value("branch", "").empty()) {
    out += fmt::format("branch: {} at {} (git merge {})\n", doc.value("branch", ""),
                       doc.value("head", "").substr(0, 12), doc.value("branch", ""));
  }
  // Nothing holds the journal: what it calls running or dispatched was cut short (a kill -9,
  // a crash), and no worker is connected to anything.
  const bool live = doc.value("live", true);
  const std::string in_flight =
      live ? fmt::format("{} running, {} dispatched", n("running"), n("dispatched"))
           : fmt::format("{} interrupted", n("running") + n("dispatched"));
  out += fmt::format(
      "tasks: {} total, {} succeeded, {}, {} ready, {} pending, {} retrying, {} failed, "
      "{} blocked, {} cancelled\n",
      n("total"), n("succeeded"), in_flight, n("ready"), n("pending"), n("retrying"), n("failed"),
      n("blocked"), n("cancelled"));
  if (doc.contains("usage") && doc["usage"].value("attempts", 0ULL) > 0) {
    out += "usage: " + usage_total_text(doc["usage"]) + "\n";
  }
  std::size_t alive = 0;
  for (const auto& w : doc.at("workers")) alive += live && w.value("alive", false) ? 1 : 0;
  out += fmt::format("workers: {} known, {} connected\n", doc.at("workers").size(), alive);
  if (doc.contains("journal_bytes")) {
    out += fmt::format("journal: {} records, {:.1f} MiB\n", doc.value("last_seq", 0ULL),
                       static_cast<double>(doc.value("journal_bytes", 0ULL)) / (1 << 20));
  }
  return out;
}

namespace {

// Calls `each(i)` for the indices of the tasks `filter` keeps, in plan order; returns how many
// more it kept out for the limit.
template <class Each>
std::size_t for_each_task(const RunState& state, const TaskFilter& filter, Each each) {
  const auto& plan = state.plan().tasks;
  std::size_t shown = 0, more = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (filter.status && state.tasks()[i].status != *filter.status) continue;
    if (!filter.feature.empty() && plan[i].feature.str() != filter.feature) continue;
    if (filter.limit && shown == *filter.limit) {
      ++more;
      continue;
    }
    ++shown;
    each(i);
  }
  return more;
}

}  // namespace

// Keys in alphabetical order: the order nlohmann::json gave them when this was a DOM.
void write_task_list_json(const RunState& state, const TaskFilter& filter, JsonWriter& out) {
  const auto& plan = state.plan().tasks;
  out.begin_object();
  out.key("run_id").value(state.run_id());
  out.key("tasks").begin_array();
  for_each_task(state, filter, [&](std::size_t i) {
    const Task& task = plan[i];
    const TaskState& t = state.tasks()[i];
    out.begin_object();
    out.key("attempt").value(t.attempt);
    out.key("commit").value(t.commit);
    out.key("dispatched_ms").value(t.dispatched_ms);
    out.key("domain").value(to_string(task.domain));
    out.key("feature").value(task.feature.str());
    out.key("files").strings(t.files);
    out.key("finished_ms").value(t.finished_ms);
    out.key("id").value(task.id.str());
    out.key("minutes").value(task.minutes);
    out.key("reason").value(t.reason);
    out.key("started_ms").value(t.started_ms);
    out.key("status").value(to_string(t.status));
    out.key("title").value(task.title);
    out.key("worker").value(t.worker);
    out.end_object();
  });
  out.end_array();
  out.key("version").value(kJsonVersion);
  out.end_object();
}

void write_task_list_text(const RunState& state, const TaskFilter& filter, OutputBuffer& out) {
  const auto& plan = state.plan().tasks;
  std::size_t width = 4;
  for (const auto& t : plan) width = std::max(width, t.id.str().size());
  // An isolated run shows each task's commit (`br task diff ID` shows what it changed).
  const bool commits = state.isolated();
  out.format("{:<{}}  {:<10}  {:>7}  {}{}\n", "TASK", width, "STATUS", "ATTEMPT",
             commits ? "COMMIT        " : "", "TITLE");
  const std::size_t more = for_each_task(state, filter, [&](std::size_t i) {
    const TaskState& t = state.tasks()[i];
    const std::string commit = t.commit.empty() ? "-" : t.commit.substr(0, 12);
    out.format("{:<{}}  {:<10}  {:>7}  {}{}", plan[i].id.str(), width, to_string(t.status),
               t.attempt, commits ? fmt::format("{:<12}  ", commit) : "", plan[i].title);
    if (!t.reason.empty()) out.format("  ({})", t.reason);
    out.push('\n');
  });
  if (more > 0) out.format("… and {} more (--limit {})\n", more, *filter.limit);
}

std::vector<ReasonGroup> group_by_reason(const RunState& state, TaskStatus status,
                                         std::size_t keep) {
  std::vector<ReasonGroup> groups;
  std::unordered_map<std::string_view, std::size_t> group_of;
  const auto& tasks = state.tasks();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].status != status) continue;
    const auto [at, added] = group_of.try_emplace(tasks[i].reason, groups.size());
    if (added) groups.push_back(ReasonGroup{tasks[i].reason, {}, 0});
    ReasonGroup& g = groups[at->second];
    if (g.tasks.size() < keep) g.tasks.push_back(i);
    ++g.count;
  }
  return groups;
}

}  // namespace br
