#include "coordinator/graph_view.hpp"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coordinator/state_views.hpp"

namespace br {
namespace {

// A DOT string literal: quotes and backslashes escaped, newlines as \n.
std::string dot_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

const char* status_color(TaskStatus status) {
  switch (status) {
    case TaskStatus::pending: return "#ffffff";
    case TaskStatus::ready: return "#dbeafe";
    case TaskStatus::dispatched: return "#fef3c7";
    case TaskStatus::running: return "#fde68a";
    case TaskStatus::succeeded: return "#bbf7d0";
    case TaskStatus::failed: return "#fca5a5";
    case TaskStatus::retrying: return "#fdba74";
    case TaskStatus::blocked: return "#d1d5db";
    case TaskStatus::cancelled: return "#e5e7eb";
  }
  return "#ffffff";
}

namespace {

// The features in the order their tasks first appear, each with its tasks and its label (the
// spec's title, else its id: a plan built in code may have tasks but no Feature entries).
struct FeatureGroup {
  std::string label;
  std::vector<std::uint32_t> tasks;
};
std::vector<FeatureGroup> feature_groups(const Plan& plan) {
  std::vector<FeatureGroup> out;
  std::unordered_map<std::string, std::size_t> index;
  for (std::uint32_t i = 0; i < plan.tasks.size(); ++i) {
    const std::string& id = plan.tasks[i].feature.str();
    auto [it, added] = index.emplace(id, out.size());
    if (added) {
      std::string label = id;
      for (const Feature& f : plan.features) {
        if (f.id.str() == id && !f.title.empty()) label = f.title;
      }
      out.push_back({std::move(label), {}});
    }
    out[it->second].tasks.push_back(i);
  }
  return out;
}

// A Graphviz HTML-like table: each status colour as the nodes are filled, and what an edge and
// the red ones mean. Statuses only mean something for a run, so a plan's legend shows edges.
std::string legend_dot(bool with_status) {
  std::string rows;
  if (with_status) {
    for (TaskStatus status : {TaskStatus::pending, TaskStatus::ready, TaskStatus::dispatched,
                              TaskStatus::running, TaskStatus::retrying, TaskStatus::succeeded,
                              TaskStatus::failed, TaskStatus::blocked, TaskStatus::cancelled}) {
      rows += fmt::format("<tr><td bgcolor=\"{}\" width=\"24\"> </td><td align=\"left\">{}</td>"
                          "</tr>",
                          status_color(status), to_string(status));
    }
  }
  rows += "<tr><td>A → B</td><td align=\"left\">B depends on A: A runs first</td></tr>"
          "<tr><td><font color=\"#dc2626\"><b>━━</b></font></td>"
          "<td align=\"left\">critical path (red border: a task on it)</td></tr>"
          "<tr><td>box</td><td align=\"left\">a feature and its tasks</td></tr>";
  return "  subgraph cluster_legend {\n    label=\"Legend\";\n    style=\"rounded\";\n"
         "    color=\"#6b7280\";\n"
         "    legend [shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"1\" "
         "cellspacing=\"0\" cellpadding=\"4\">" +
         rows + "</table>>];\n  }\n";
}

}  // namespace

std::string graph_dot(const Plan& plan, const DependencyGraph& graph, const RunState* state) {
  const CriticalPath critical = graph.critical_path();
  const std::unordered_set<std::uint32_t> on_path(critical.tasks.begin(), critical.tasks.end());
  std::unordered_set<std::uint64_t> path_edges;  // (from << 32) | to
  for (std::size_t i = 1; i < critical.tasks.size(); ++i) {
    path_edges.insert((std::uint64_t{critical.tasks[i - 1]} << 32) | critical.tasks[i]);
  }

  std::string out = "digraph br {\n";
  out += fmt::format("  label={};\n  labelloc=t;\n", dot_string(plan.title + " — critical path " +
                                                           std::to_string(critical.minutes) +
                                                           " min in bold red"));
  // newrank: the level ranks below hold across the feature clusters; without it dot ranks
  // each cluster on its own and a rank=same spanning two clusters is ignored.
  out += "  rankdir=LR;\n  newrank=true;\n  fontname=\"Helvetica\";\n";
  out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n";
  const auto groups = feature_groups(plan);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    out += fmt::format("  subgraph cluster_{} {{\n    label={};\n    style=\"rounded\";\n"
                       "    color=\"#9ca3af\";\n    fontname=\"Helvetica\";\n",
                       g, dot_string(groups[g].label));
    for (std::uint32_t i : groups[g].tasks) {
      const Task& t = plan.tasks[i];
      const TaskStatus status = state ? state->tasks()[i].status : TaskStatus::pending;
      std::string label = t.id.str() + "\n" + std::string(to_string(t.domain)) + ", " +
                          std::to_string(t.minutes) + " min";
      if (state) label += "\n" + std::string(to_string(status));
      out += fmt::format("    {} [label={}, fillcolor=\"{}\"{}];\n", dot_string(t.id.str()),
                         dot_string(label), status_color(status),
                         on_path.count(i) ? ", color=\"#dc2626\", penwidth=3" : "");
    }
    out += "  }\n";
  }
  const auto levels = graph.levels();
  for (std::size_t level = 0; level < levels.size(); ++level) {
    out += fmt::format("  subgraph level_{} {{\n    rank=same;\n   ", level);
    for (std::uint32_t i : levels[level]) out += " " + dot_string(plan.tasks[i].id.str()) + ";";
    out += "\n  }\n";
  }
  for (std::size_t to = 0; to < graph.size(); ++to) {
    for (std::uint32_t from : graph.dependencies(to)) {
      const bool critical_edge = path_edges.count((std::uint64_t{from} << 32) | to) > 0;
      out += fmt::format("  {} -> {}{};\n", dot_string(plan.tasks[from].id.str()),
                         dot_string(plan.tasks[to].id.str()),
                         critical_edge ? " [color=\"#dc2626\", penwidth=3]" : "");
    }
  }
  out += legend_dot(state != nullptr);
  return out + "}\n";
}

nlohmann::json graph_json(const Plan& plan, const DependencyGraph& graph, const RunState* state) {
  const CriticalPath critical = graph.critical_path();
  const std::unordered_set<std::uint32_t> on_path(critical.tasks.begin(), critical.tasks.end());
  nlohmann::json tasks = nlohmann::json::array();
  nlohmann::json edges = nlohmann::json::array();
  for (std::size_t i = 0; i < graph.size(); ++i) {
    const Task& t = plan.tasks[i];
    const TaskStatus status = state ? state->tasks()[i].status : TaskStatus::pending;
    tasks.push_back({{"id", t.id.str()},
                     {"feature", t.feature.str()},
                     {"level", graph.level_of()[i]},
                     {"domain", std::string(to_string(t.domain))},
                     {"minutes", t.minutes},
                     {"status", std::string(to_string(status))},
                     {"critical", on_path.count(static_cast<std::uint32_t>(i)) > 0}});
    for (std::uint32_t from : graph.dependencies(i)) {
      edges.push_back({{"from", plan.tasks[from].id.str()}, {"to", t.id.str()}});
    }
  }
  nlohmann::json path = nlohmann::json::array();
  for (std::uint32_t i : critical.tasks) path.push_back(plan.tasks[i].id.str());
  return {{"version", kJsonVersion},
          {"title", plan.title},
          {"tasks", tasks},
          {"edges", edges},
          {"levels", graph.levels().size()},
          {"critical_path", {{"tasks", path}, {"minutes", critical.minutes}}}};
}

}  // namespace br
