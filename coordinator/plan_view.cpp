#include "coordinator/plan_view.hpp"

#include <algorithm>
#include <functional>
#include <future>
#include <system_error>
#include <thread>

#include "coordinator/state_views.hpp"
#include "protocol/agent_route.hpp"

namespace br {
namespace {

using Levels = std::vector<std::vector<std::uint32_t>>;
using Batches = std::vector<std::vector<std::size_t>>;

Batches batches_of_levels(const CheckedPlan& plan, const Levels& levels, std::size_t from,
                          std::size_t to) {
  Batches out;
  for (std::size_t l = from; l < to; ++l) {
    const std::vector<std::size_t> ready(levels[l].begin(), levels[l].end());
    const auto ordered = order_ready(ready, plan.settings.strategy, *plan.graph, plan.plan.tasks);
    for (auto& batch : form_batches(ordered, plan.plan.tasks, plan.settings.batch)) {
      out.push_back(std::move(batch));
    }
  }
  return out;
}

// Levels are batched independently: for a big plan on two cores, the levels that hold the
// second half of the tasks are batched on another thread (a quarter of `br plan` of 100k
// features went to batching), and the batches come out in the same order.
Batches batches_by_level(const CheckedPlan& plan, const Levels& levels) {
  constexpr std::size_t kWorthAThread = 20000;  // tasks
  std::size_t split = levels.size();
  if (plan.plan.tasks.size() >= kWorthAThread && std::thread::hardware_concurrency() > 1) {
    std::size_t tasks = 0;
    for (split = 0; split < levels.size() && tasks < plan.plan.tasks.size() / 2; ++split) {
      tasks += levels[split].size();
    }
  }
  if (split == levels.size()) return batches_of_levels(plan, levels, 0, levels.size());
  std::future<Batches> second;
  try {
    second = std::async(std::launch::async, batches_of_levels, std::cref(plan),
                        std::cref(levels), split, levels.size());
  } catch (const std::system_error&) {
    return batches_of_levels(plan, levels, 0, levels.size());  // no thread to be had
  }
  Batches out = batches_of_levels(plan, levels, 0, split);
  Batches rest = second.get();
  out.reserve(out.size() + rest.size());
  for (auto& batch : rest) out.push_back(std::move(batch));
  return out;
}

template <class Indices>
void write_ids(JsonWriter& out, const Plan& plan, const Indices& indices) {
  out.begin_array();
  for (auto i : indices) out.value(plan.tasks[i].id.str());
  out.end_array();
}

template <class Ids>
void write_id_list(JsonWriter& out, const Ids& ids) {
  out.begin_array();
  for (const auto& id : ids) out.value(id.str());
  out.end_array();
}

// Each criterion's one-line form.
void write_criteria(JsonWriter& out, const std::vector<Criterion>& criteria) {
  out.begin_array();
  for (const auto& c : criteria) {
    if (c.kind == CriterionKind::prose) {
      out.value(c.text);  // most criteria: written without a copy
    } else {
      out.value(to_string(c));
    }
  }
  out.end_array();
}

// By task: does nothing machine-check it?
std::vector<bool> unchecked_flags(const CheckedPlan& checked) {
  std::vector<bool> flags(checked.plan.tasks.size(), false);
  for (auto i : checked.unchecked) flags[i] = true;
  return flags;
}

// The route a batch of these tasks takes when run here: its most complex task's (a batch is
// one domain), as the worker decides it (route_for(AgentConfig, Batch)).
std::string batch_route(const CheckedPlan& checked, const std::vector<std::size_t>& batch) {
  const auto& tasks = checked.plan.tasks;
  Complexity most = Complexity::simple;
  for (auto i : batch) most = std::max(most, tasks[i].complexity);
  return route_for(checked.settings.agent, most, tasks[batch.front()].domain).name;
}

bool has_routes(const AgentConfig& agent) {
  return !agent.by_complexity.empty() || !agent.by_domain.empty();
}

}  // namespace

std::vector<std::vector<std::size_t>> plan_batches(const CheckedPlan& plan) {
  return batches_by_level(plan, plan.graph->levels());
}

// Keys in alphabetical order at every level: the order nlohmann::json (a std::map) gave
// them when this document was built as a DOM.
void write_plan_json(const CheckedPlan& checked, JsonWriter& out) {
  const Plan& plan = checked.plan;
  const Levels levels = checked.graph->levels();
  const Batches batches = batches_by_level(checked, levels);
  out.begin_object();
  out.key("agents").begin_array();
  for (const auto& route : all_routes(checked.settings.agent)) {
    out.begin_object();
    out.key("command").strings(route.command);
    out.key("route").value(route.name);
    out.key("table").value(route_table(route));
    out.end_object();
  }
  out.end_array();
  out.key("batch_agents").begin_array();
  for (const auto& b : batches) out.value(batch_route(checked, b));
  out.end_array();
  out.key("batches").begin_array();
  for (const auto& b : batches) write_ids(out, plan, b);
  out.end_array();
  const CriticalPath path = checked.graph->critical_path();
  out.key("critical_path").begin_object();
  out.key("minutes").value(path.minutes);
  out.key("tasks");
  write_ids(out, plan, path.tasks);
  out.end_object();
  out.key("features").begin_array();
  for (const auto& f : plan.features) {
    out.begin_object();
    out.key("depends_on");
    write_id_list(out, f.depends_on);
    out.key("done").value(f.done);
    out.key("id").value(f.id.str());
    out.key("line").value(f.line);
    out.key("parent");
    if (f.parent.empty()) out.null();
    else out.value(f.parent.str());
    out.key("priority").value(to_string(f.priority));
    out.key("title").value(f.title);
    out.end_object();
  }
  out.end_array();
  out.key("levels").begin_array();
  for (const auto& level : levels) write_ids(out, plan, level);
  out.end_array();
  out.key("spec").value(checked.spec_path);
  out.key("strategy").value(to_string(checked.settings.strategy));
  out.key("tasks").begin_array();
  const std::vector<bool> unchecked = unchecked_flags(checked);
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    out.begin_object();
    out.key("acceptance");
    write_criteria(out, t.acceptance);
    out.key("checked").value(!unchecked[i]);
    out.key("complexity").value(to_string(t.complexity));
    out.key("depends_on");
    write_id_list(out, t.depends_on);
    out.key("domain").value(to_string(t.domain));
    out.key("feature").value(t.feature.str());
    out.key("files").strings(t.files);
    out.key("id").value(t.id.str());
    out.key("minutes").value(t.minutes);
    out.key("priority").value(to_string(t.priority));
    out.key("title").value(t.title);
    out.end_object();
  }
  out.end_array();
  out.key("title").value(plan.title);
  out.key("unchecked_tasks").value(checked.unchecked.size());
  out.key("version").value(kJsonVersion);
  out.end_object();
}

void write_plan_text(const CheckedPlan& checked, OutputBuffer& out) {
  const Plan& plan = checked.plan;
  std::uint64_t total_minutes = 0;
  for (const auto& t : plan.tasks) total_minutes += t.minutes;
  const auto done = static_cast<std::size_t>(std::count_if(
      plan.features.begin(), plan.features.end(), [](const Feature& f) { return f.done; }));
  out.format("{}\n{} features{}, {} tasks, {} h of agent work\n", plan.title,
             plan.features.size(),
             done > 0 ? fmt::format(" ({} done already, not planned again)", done) : "",
             plan.tasks.size(), (total_minutes + 30) / 60);
  if (!checked.unchecked.empty()) {
    out.format("{} tasks with nothing machine-checkable (marked unchecked: an agent that does "
               "nothing passes them; see [verify] require_checks)\n",
               checked.unchecked.size());
  }
  out.append("\nFeatures\n");
  for (const auto& f : plan.features) {
    out.format("  {:<8} {}", f.done ? "done" : to_string(f.priority), f.id.str());
    for (std::size_t d = 0; d < f.depends_on.size(); ++d) {
      out.append(d == 0 ? "  (after " : ", ");
      out.append(f.depends_on[d].str());
    }
    out.append(f.depends_on.empty() ? "\n" : ")\n");
  }
  const Levels levels = checked.graph->levels();
  out.append("\nLevels (tasks in a level can run in parallel)\n");
  const std::vector<bool> unchecked = unchecked_flags(checked);
  for (std::size_t l = 0; l < levels.size(); ++l) {
    out.format("  {:>3}:", l + 1);
    for (auto i : levels[l]) {
      out.format(" {} [{} {}m{}]", plan.tasks[i].id.str(), to_string(plan.tasks[i].domain),
                 plan.tasks[i].minutes, unchecked[i] ? " unchecked" : "");
    }
    out.push('\n');
  }
  const CriticalPath path = checked.graph->critical_path();
  out.format("\nCritical path: {} min ({:.1f} h) over {} tasks\n", path.minutes,
             static_cast<double>(path.minutes) / 60.0, path.tasks.size());
  for (auto i : path.tasks) {
    out.format("  {} ({}m)\n", plan.tasks[i].id.str(), plan.tasks[i].minutes);
  }
  const auto batches = batches_by_level(checked, levels);
  out.format("\nBatches ({} strategy, {} batches)\n", to_string(checked.settings.strategy),
             batches.size());
  const bool routed = has_routes(checked.settings.agent);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    std::uint32_t minutes = 0;
    for (auto i : batches[b]) minutes += plan.tasks[i].minutes;
    out.format("  {:>3}. [{} {}m] ", b + 1, to_string(plan.tasks[batches[b][0]].domain), minutes);
    for (std::size_t k = 0; k < batches[b].size(); ++k) {
      if (k > 0) out.append(", ");
      out.append(plan.tasks[batches[b][k]].id.str());
    }
    if (routed) out.format("  → {}", batch_route(checked, batches[b]));
    out.push('\n');
  }
  // Without route tables every batch runs [agent] command: the line above would say nothing.
  if (routed) {
    out.append("\nAgents (a batch takes the route of its domain, else of its most complex task)\n");
    for (const auto& route : all_routes(checked.settings.agent)) {
      out.format("  {:<14} {}\n", route.name,
                 route.command.empty() ? "(no command)" : command_text(route.command));
    }
  }
}

}  // namespace br
