#include "coordinator/state_views.hpp"

#include <fmt/format.h>

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
          {"counts", counts_json(state.counts())},
          {"workers", workers}};
}

std::string status_text(const RunState& state) {
  const ProgressCounts c = state.counts();
  std::string out = fmt::format("run {} ({}): {}\n", state.run_id(), state.plan().title,
                                to_string(state.status()));
  out += fmt::format("spec: {}\n", state.spec_path());
  out += fmt::format(
      "tasks: {} total, {} succeeded, {} running, {} dispatched, {} ready, {} pending, "
      "{} retrying, {} failed, {} blocked, {} cancelled\n",
      c.total, c.succeeded, c.running, c.dispatched, c.ready, c.pending, c.retrying, c.failed,
      c.blocked, c.cancelled);
  std::size_t alive = 0;
  for (const auto& [name, w] : state.workers()) alive += w.alive ? 1 : 0;
  out += fmt::format("workers: {} known, {} connected\n", state.workers().size(), alive);
  return out;
}

nlohmann::json task_list_json(const RunState& state, std::optional<TaskStatus> only) {
  nlohmann::json tasks = nlohmann::json::array();
  const auto& plan = state.plan().tasks;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const TaskState& t = state.tasks()[i];
    if (only && t.status != *only) continue;
    tasks.push_back({{"id", plan[i].id.str()},
                     {"feature", plan[i].feature.str()},
                     {"title", plan[i].title},
                     {"domain", std::string(to_string(plan[i].domain))},
                     {"minutes", plan[i].minutes},
                     {"status", std::string(to_string(t.status))},
                     {"attempt", t.attempt},
                     {"worker", t.worker},
                     {"reason", t.reason},
                     {"files", t.files},
                     {"dispatched_ms", t.dispatched_ms},
                     {"started_ms", t.started_ms},
                     {"finished_ms", t.finished_ms}});
  }
  return {{"version", kJsonVersion}, {"run_id", state.run_id()}, {"tasks", tasks}};
}

std::string task_list_text(const RunState& state, std::optional<TaskStatus> only) {
  std::size_t width = 4;
  for (const auto& t : state.plan().tasks) width = std::max(width, t.id.str().size());
  std::string out = fmt::format("{:<{}}  {:<10}  {:>7}  {}\n", "TASK", width, "STATUS",
                                "ATTEMPT", "TITLE");
  const auto& plan = state.plan().tasks;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const TaskState& t = state.tasks()[i];
    if (only && t.status != *only) continue;
    out += fmt::format("{:<{}}  {:<10}  {:>7}  {}", plan[i].id.str(), width, to_string(t.status),
                       t.attempt, plan[i].title);
    if (!t.reason.empty()) out += fmt::format("  ({})", t.reason);
    out += '\n';
  }
  return out;
}

}  // namespace br
