#include "coordinator/plan_view.hpp"

#include <fmt/format.h>

#include "actors/scheduler/batch_optimizer.hpp"
#include "coordinator/state_views.hpp"

namespace br {

std::vector<std::vector<std::size_t>> plan_batches(const CheckedPlan& plan, Strategy strategy) {
  std::vector<std::vector<std::size_t>> out;
  for (const auto& level : plan.graph->levels()) {
    const std::vector<std::size_t> ready(level.begin(), level.end());
    const auto ordered = order_ready(ready, strategy, *plan.graph, plan.plan.tasks);
    for (auto& batch : form_batches(ordered, plan.plan.tasks)) out.push_back(std::move(batch));
  }
  return out;
}

nlohmann::json plan_json(const CheckedPlan& checked, Strategy strategy) {
  const Plan& plan = checked.plan;
  const auto ids = [&](const auto& indices) {
    nlohmann::json out = nlohmann::json::array();
    for (auto i : indices) out.push_back(plan.tasks[i].id.str());
    return out;
  };
  nlohmann::json features = nlohmann::json::array();
  for (const auto& f : plan.features) {
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& d : f.depends_on) deps.push_back(d.str());
    features.push_back({{"id", f.id.str()},
                        {"title", f.title},
                        {"priority", std::string(to_string(f.priority))},
                        {"depends_on", deps},
                        {"parent", f.parent.empty() ? nlohmann::json() : nlohmann::json(f.parent.str())},
                        {"line", f.line}});
  }
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : plan.tasks) {
    nlohmann::json deps = nlohmann::json::array();
    for (const auto& d : t.depends_on) deps.push_back(d.str());
    tasks.push_back({{"id", t.id.str()},
                     {"feature", t.feature.str()},
                     {"title", t.title},
                     {"domain", std::string(to_string(t.domain))},
                     {"complexity", std::string(to_string(t.complexity))},
                     {"minutes", t.minutes},
                     {"priority", std::string(to_string(t.priority))},
                     {"depends_on", deps},
                     {"acceptance", t.acceptance},
                     {"files", t.files}});
  }
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& level : checked.graph->levels()) levels.push_back(ids(level));
  const CriticalPath path = checked.graph->critical_path();
  nlohmann::json batches = nlohmann::json::array();
  for (const auto& b : plan_batches(checked, strategy)) batches.push_back(ids(b));
  return {{"version", kJsonVersion},
          {"title", plan.title},
          {"spec", checked.spec_path},
          {"strategy", std::string(to_string(strategy))},
          {"features", features},
          {"tasks", tasks},
          {"levels", levels},
          {"critical_path", {{"tasks", ids(path.tasks)}, {"minutes", path.minutes}}},
          {"batches", batches}};
}

std::string plan_text(const CheckedPlan& checked, Strategy strategy) {
  const Plan& plan = checked.plan;
  std::uint64_t total_minutes = 0;
  for (const auto& t : plan.tasks) total_minutes += t.minutes;
  std::string out = fmt::format("{}\n{} features, {} tasks, {} h of agent work\n\nFeatures\n",
                                plan.title, plan.features.size(), plan.tasks.size(),
                                (total_minutes + 30) / 60);
  for (const auto& f : plan.features) {
    std::string deps;
    for (const auto& d : f.depends_on) deps += (deps.empty() ? "" : ", ") + d.str();
    out += fmt::format("  {:<8} {}{}\n", to_string(f.priority), f.id.str(),
                       deps.empty() ? "" : "  (after " + deps + ")");
  }
  const auto levels = checked.graph->levels();
  out += fmt::format("\nLevels (tasks in a level can run in parallel)\n");
  for (std::size_t l = 0; l < levels.size(); ++l) {
    out += fmt::format("  {:>3}:", l + 1);
    for (auto i : levels[l]) {
      out += fmt::format(" {} [{} {}m]", plan.tasks[i].id.str(), to_string(plan.tasks[i].domain),
                         plan.tasks[i].minutes);
    }
    out += '\n';
  }
  const CriticalPath path = checked.graph->critical_path();
  out += fmt::format("\nCritical path: {} min ({:.1f} h) over {} tasks\n", path.minutes,
                     static_cast<double>(path.minutes) / 60.0, path.tasks.size());
  for (auto i : path.tasks) {
    out += fmt::format("  {} ({}m)\n", plan.tasks[i].id.str(), plan.tasks[i].minutes);
  }
  const auto batches = plan_batches(checked, strategy);
  out += fmt::format("\nBatches ({} strategy, {} batches)\n", to_string(strategy), batches.size());
  for (std::size_t b = 0; b < batches.size(); ++b) {
    std::uint32_t minutes = 0;
    std::string names;
    for (auto i : batches[b]) {
      minutes += plan.tasks[i].minutes;
      names += (names.empty() ? "" : ", ") + plan.tasks[i].id.str();
    }
    out += fmt::format("  {:>3}. [{} {}m] {}\n", b + 1, to_string(plan.tasks[batches[b][0]].domain),
                       minutes, names);
  }
  return out;
}

}  // namespace br
