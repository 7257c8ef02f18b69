#include "coordinator/report_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "coordinator/graph_view.hpp"
#include "coordinator/progress_view.hpp"
#include "coordinator/state_views.hpp"
#include "coordinator/usage_view.hpp"
#include "protocol/acceptance_criterion.hpp"

namespace br {
namespace {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON inside <script>: "</" would end the script early.
std::string script_json(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

constexpr const char* kStyle = R"(
body { font: 14px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #111827; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.muted { color: #6b7280; }
.totals { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
.total { border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 12px; min-width: 90px; }
.total b { display: block; font-size: 20px; }
#timeline { border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px; }
.row { display: flex; align-items: center; height: 26px; }
.row .who { width: 160px; flex: none; font-family: monospace; font-size: 12px;
            overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .track { position: relative; flex: 1; height: 20px; background: #f9fafb; }
.bar { position: absolute; top: 2px; height: 16px; border-radius: 3px; min-width: 2px;
       border: 1px solid rgba(0,0,0,.25); box-sizing: border-box; font-size: 10px;
       overflow: hidden; white-space: nowrap; padding-left: 2px; }
.axis { margin-left: 160px; display: flex; justify-content: space-between; font-size: 11px; }
table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; }
pre { background: #f3f4f6; padding: 8px; overflow-x: auto; max-height: 260px; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 4px; border: 1px solid rgba(0,0,0,.25); }
)";

// Draws one row per worker and one .bar per attempt from the embedded data.
constexpr const char* kScript = R"(
(function () {
  var data = JSON.parse(document.getElementById('br-data').textContent);
  var box = document.getElementById('timeline');
  var start = data.start_ms, span = Math.max(1, data.end_ms - data.start_ms);
  var workers = [];
  data.attempts.forEach(function (a) { if (workers.indexOf(a.worker) < 0) workers.push(a.worker); });
  workers.sort();
  workers.forEach(function (w) {
    var row = document.createElement('div'); row.className = 'row';
    var who = document.createElement('div'); who.className = 'who'; who.textContent = w;
    var track = document.createElement('div'); track.className = 'track';
    row.appendChild(who); row.appendChild(track); box.appendChild(row);
    data.attempts.forEach(function (a) {
      if (a.worker !== w) return;
      var from = (a.started_ms || a.dispatched_ms), to = a.finished_ms || data.end_ms;
      var bar = document.createElement('div'); bar.className = 'bar';
      bar.dataset.task = a.task; bar.dataset.attempt = a.attempt; bar.dataset.outcome = a.outcome;
      bar.style.left = (100 * (from - start) / span) + '%';
      bar.style.width = (100 * Math.max(0, to - from) / span) + '%';
      bar.style.background = data.colors[a.outcome];
      bar.title = a.task + ' attempt ' + a.attempt + ': ' + a.outcome +
                  (a.reason ? ' (' + a.reason + ')' : '') +
                  (a.commit ? '\ncommit ' + a.commit.substring(0, 12) + ' (br task diff ' +
                              a.task + '), ' + a.files.length + ' file(s): ' +
                              a.files.join(', ') : '');
      bar.textContent = a.task;
      track.appendChild(bar);
    });
  });
  var axis = document.getElementById('axis');
  for (var i = 0; i <= 4; i++) {
    var tick = document.createElement('span');
    tick.textContent = (span * i / 4 / 1000).toFixed(span < 10000 ? 1 : 0) + ' s';
    axis.appendChild(tick);
  }
})();
)";

}  // namespace

CostSummary cost_summary(const RunState& state, const std::vector<AttemptSpan>& attempts,
                         std::size_t top) {
  CostSummary out;
  std::map<std::string, UsageTotal> features;
  std::vector<UsageTotal> tasks(state.plan().tasks.size());
  for (const auto& a : attempts) {
    if (a.outcome == "unfinished" || a.task >= tasks.size()) continue;
    out.run.add(a.usage);
    tasks[a.task].add(a.usage);
    features[state.plan().tasks[a.task].feature.str()].add(a.usage);
  }
  out.features.assign(features.begin(), features.end());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].cost_micro_usd > 0) out.top_tasks.emplace_back(i, tasks[i]);
  }
  // Costliest first; ties in plan order, so the report is the same on every run.
  std::stable_sort(out.top_tasks.begin(), out.top_tasks.end(), [](const auto& x, const auto& y) {
    return x.second.cost_micro_usd > y.second.cost_micro_usd;
  });
  if (out.top_tasks.size() > top) out.top_tasks.resize(top);
  return out;
}

std::vector<AttemptSpan> attempts_of(const std::vector<JournalRecord>& records,
                                     const RunState& state) {
  std::vector<AttemptSpan> out;
  std::map<std::pair<std::string, std::uint32_t>, std::size_t> index;  // (task, attempt) → out
  const auto find = [&](const TaskId& task, std::uint32_t attempt) -> AttemptSpan* {
    auto it = index.find({task.str(), attempt});
    return it == index.end() ? nullptr : &out[it->second];
  };
  for (const JournalRecord& r : records) {
    if (const auto* d = std::get_if<rec::BatchDispatched>(&r.body)) {
      for (std::size_t i = 0; i < d->tasks.size() && i < d->attempts.size(); ++i) {
        const auto task = state.index_of(d->tasks[i]);
        if (!task) continue;
        index[{d->tasks[i].str(), d->attempts[i]}] = out.size();
        AttemptSpan span;
        span.task = *task;
        span.attempt = d->attempts[i];
        span.worker = d->worker;
        span.batch = d->batch.str();
        span.dispatched_ms = r.time_ms;
        span.outcome = "unfinished";
        out.push_back(std::move(span));
      }
    } else if (const auto* s = std::get_if<rec::TaskStarted>(&r.body)) {
      if (auto* span = find(s->task, s->attempt)) span->started_ms = r.time_ms;
    } else if (const auto* ok = std::get_if<rec::TaskSucceeded>(&r.body)) {
      if (auto* span = find(ok->task, ok->attempt)) {
        span->finished_ms = r.time_ms;
        span->outcome = "succeeded";
        span->commit = ok->commit;
        span->files = ok->files;
        span->usage = ok->usage;
        span->agent = ok->agent;
      }
    } else if (const auto* failed = std::get_if<rec::TaskFailed>(&r.body)) {
      if (auto* span = find(failed->task, failed->attempt)) {
        span->finished_ms = r.time_ms;
        span->outcome = "failed";
        span->reason = failed->reason;
        span->usage = failed->usage;
        span->agent = failed->agent;
      }
    }
  }
  return out;
}

nlohmann::json attempt_json(const AttemptSpan& a) {
  return {{"attempt", a.attempt},         {"worker", a.worker},
          {"batch", a.batch},             {"dispatched_ms", a.dispatched_ms},
          {"started_ms", a.started_ms},   {"finished_ms", a.finished_ms},
          {"outcome", a.outcome},         {"reason", a.reason},
          {"commit", a.commit},           {"usage", usage_json(a.usage)},
          {"agent", {{"route", a.agent.route}, {"command", a.agent.command}}}};
}

namespace {

// Every task's prose criteria: what the agent was asked and br could not check.
nlohmann::json unchecked_json(const Plan& plan) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : plan.tasks) {
    auto prose = prose_criteria(t.acceptance);
    if (!prose.empty()) list.push_back({{"task", t.id.str()}, {"criteria", std::move(prose)}});
  }
  return list;
}

}  // namespace

nlohmann::json attempts_json(const RunState& state, const std::vector<AttemptSpan>& attempts) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& a : attempts) {
    nlohmann::json item = attempt_json(a);
    item["task"] = state.plan().tasks[a.task].id.str();
    item["files"] = a.files;
    list.push_back(std::move(item));
  }
  const CostSummary costs = cost_summary(state, attempts);
  nlohmann::json features = nlohmann::json::array();
  for (const auto& [feature, total] : costs.features) {
    nlohmann::json f = usage_total_json(total);
    f["feature"] = feature;
    features.push_back(std::move(f));
  }
  nlohmann::json top = nlohmann::json::array();
  for (const auto& [task, total] : costs.top_tasks) {
    nlohmann::json t = usage_total_json(total);
    t["task"] = state.plan().tasks[task].id.str();
    top.push_back(std::move(t));
  }
  return {{"version", kJsonVersion},
          {"run_id", state.run_id()},
          {"attempts", list},
          {"usage", usage_total_json(costs.run)},
          {"usage_by_feature", features},
          {"most_expensive_tasks", top},
          {"unchecked", unchecked_json(state.plan())}};
}

std::string report_html(const RunState& state, const DependencyGraph& graph,
                        const std::vector<AttemptSpan>& attempts,
                        const std::function<std::string(const std::string&, std::uint32_t)>&
                            log_excerpt,
                        std::int64_t now_ms) {
  const Plan& plan = state.plan();
  std::int64_t start = now_ms, end = 0;
  for (const auto& a : attempts) {
    start = std::min(start, a.started_ms > 0 ? a.started_ms : a.dispatched_ms);
    end = std::max(end, a.finished_ms > 0 ? a.finished_ms : now_ms);
  }
  if (attempts.empty()) start = end = now_ms;

  nlohmann::json data;
  data["start_ms"] = start;
  data["end_ms"] = end;
  data["colors"] = {{"succeeded", status_color(TaskStatus::succeeded)},
                    {"failed", status_color(TaskStatus::failed)},
                    {"unfinished", status_color(TaskStatus::running)}};
  data["attempts"] = attempts_json(state, attempts)["attempts"];

  const ProgressCounts& c = state.counts();
  std::set<std::string> workers;
  for (const auto& a : attempts) workers.insert(a.worker);
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<title>br report: " + html_escape(plan.title) + "</title>\n<style>" + kStyle +
          "</style>\n</head>\n<body>\n";
  html += "<h1>" + html_escape(plan.title) + "</h1>\n";
  html += fmt::format("<div class=\"muted\">run {} · {} · spec {}</div>\n",
                      html_escape(state.run_id()), to_string(state.status()),
                      html_escape(state.spec_path()));
  const auto total = [&](const std::string& label, const std::string& value) {
    html += "<div class=\"total\"><b>" + value + "</b>" + label + "</div>";
  };
  html += "<div class=\"totals\">";
  total("tasks", std::to_string(c.total));
  total("succeeded", std::to_string(c.succeeded));
  total("failed", std::to_string(c.failed));
  total("blocked", std::to_string(c.blocked));
  total("attempts", std::to_string(attempts.size()));
  total("workers", std::to_string(workers.size()));
  total("timeline", format_duration(end - start));
  const CostSummary costs = cost_summary(state, attempts);
  total("cost", "$" + format_usd(costs.run.cost_micro_usd, 2));
  total("tokens", std::to_string(costs.run.tokens_total()));
  html += "</div>\n";
  if (costs.run.unknown_attempts > 0) {
    html += fmt::format("<div class=\"muted\">{} of {} finished attempts reported no usage: "
                        "the cost leaves them out ([agent] output)</div>\n",
                        costs.run.unknown_attempts, costs.run.attempts);
  }

  html += "<h2>Timeline: every attempt, per worker</h2>\n";
  html += "<div class=\"muted\">";
  for (const char* outcome : {"succeeded", "failed", "unfinished"}) {
    html += fmt::format("<span class=\"swatch\" style=\"background:{}\"></span>{} &nbsp; ",
                        data["colors"][outcome].get<std::string>(), outcome);
  }
  html += "</div>\n<div id=\"timeline\"></div>\n<div id=\"axis\" class=\"axis\"></div>\n";

  const CriticalPath critical = graph.critical_path();
  html += fmt::format("<h2>Critical path: {} tasks, {} planned</h2>\n<table>\n",
                      critical.tasks.size(), format_duration(std::int64_t{60000} * critical.minutes));
  html += "<tr><th>task</th><th>domain</th><th>planned</th><th>status</th><th>attempts</th>"
          "<th>cost</th></tr>\n";
  for (std::uint32_t i : critical.tasks) {
    const Task& t = plan.tasks[i];
    const TaskState& s = state.tasks()[i];
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{} min</td><td><span class=\"swatch\" "
        "style=\"background:{}\"></span>{}</td><td>{}</td><td>${}</td></tr>\n",
        html_escape(t.id.str()), to_string(t.domain), t.minutes, status_color(s.status),
        to_string(s.status), s.attempt, format_usd(s.usage.cost_micro_usd, 2));
  }
  html += "</table>\n";

  html += "<h2>Cost per feature</h2>\n<table>\n<tr><th>feature</th><th>attempts</th>"
          "<th>tokens</th><th>cost</th></tr>\n";
  for (const auto& [feature, total] : costs.features) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>${}</td></tr>\n",
                        html_escape(feature), total.attempts, total.tokens_total(),
                        format_usd(total.cost_micro_usd, 2));
  }
  html += "</table>\n";
  html += "<h2>Most expensive tasks</h2>\n";
  if (costs.top_tasks.empty()) {
    html += "<p class=\"muted\">no attempt reported a cost</p>\n";
  } else {
    html += "<table>\n<tr><th>task</th><th>attempts</th><th>tokens</th><th>cost</th></tr>\n";
    for (const auto& [task, total] : costs.top_tasks) {
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>${}</td></tr>\n",
                          html_escape(plan.tasks[task].id.str()), total.attempts,
                          total.tokens_total(), format_usd(total.cost_micro_usd, 6));
    }
    html += "</table>\n";
  }

  html += "<h2>Failures</h2>\n";
  std::size_t failures = 0;
  for (const auto& a : attempts) {
    if (a.outcome != "failed") continue;
    ++failures;
    html += fmt::format("<h3>{} · attempt {} · {}</h3>\n<p>{}</p>\n",
                        html_escape(plan.tasks[a.task].id.str()), a.attempt,
                        html_escape(a.worker), html_escape(a.reason));
    const std::string excerpt = log_excerpt(a.batch, a.attempt);
    if (!excerpt.empty()) html += "<pre>" + html_escape(excerpt) + "</pre>\n";
  }
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const TaskState& s = state.tasks()[i];
    if (s.status != TaskStatus::blocked) continue;
    ++failures;
    html += fmt::format("<p>blocked <b>{}</b>: {}</p>\n", html_escape(plan.tasks[i].id.str()),
                        html_escape(s.reason));
  }
  if (failures == 0) html += "<p class=\"muted\">none</p>\n";

  // A passed task passed only what br can check: its prose criteria are listed as unchecked.
  html += "<h2>Unchecked criteria (prose: the agent was asked, br did not check)</h2>\n";
  std::size_t unchecked = 0;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const auto prose = prose_criteria(plan.tasks[i].acceptance);
    if (prose.empty()) continue;
    ++unchecked;
    html += fmt::format("<h3>{} · {}</h3>\n<ul>\n", html_escape(plan.tasks[i].id.str()),
                        to_string(state.tasks()[i].status));
    for (const auto& c : prose) html += "<li>" + html_escape(c) + "</li>\n";
    html += "</ul>\n";
  }
  if (unchecked == 0) html += "<p class=\"muted\">none</p>\n";

  html += "<script type=\"application/json\" id=\"br-data\">" + script_json(data) +
          "</script>\n<script>" + kScript + "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace br
