// What `br graph` draws: the task DAG in Graphviz DOT, one rank per execution level, each
// feature's tasks in a labelled box, the critical path in bold red, (for a run) each task
// filled with its status color, and a legend saying what the colours and edges mean.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "actors/graph/dependency_graph.hpp"
#include "protocol/model.hpp"
#include "protocol/run_state.hpp"

namespace br {

// `state` is null for a plan that has not run: every task is drawn as pending.
std::string graph_dot(const Plan& plan, const DependencyGraph& graph, const RunState* state);

// The same graph as data (docs/cli.md): tasks with feature, level, status and whether they
// are on the critical path; edges; levels; the critical path with its minutes.
nlohmann::json graph_json(const Plan& plan, const DependencyGraph& graph, const RunState* state);

// The fill color of a status, shared by the DOT graph and the HTML report.
const char* status_color(TaskStatus status);

}  // namespace br
