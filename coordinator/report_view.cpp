#include "coordinator/report_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
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

// The timeline's label column is fixed and wide: task ids are long ("feature/02-backend"), so
// they are cut with an ellipsis (the full id is the row's tooltip) instead of overlapping bars.
constexpr const char* kStyle = R"(
body { font: 14px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #111827; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 4px; } h4 { font-size: 13px; margin: 10px 0 2px; }
.muted { color: #6b7280; }
.totals { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
.total { border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 12px; min-width: 90px; }
.total b { display: block; font-size: 20px; }
.failure { border-left: 4px solid #dc2626; padding-left: 10px; margin: 10px 0; }
.blocked { border-left: 4px solid #9ca3af; padding-left: 10px; margin: 6px 0; }
details.recovered { border-left: 4px solid #f59e0b; padding-left: 10px; margin: 6px 0; }
details.recovered summary, details.blocked summary { cursor: pointer; }
#timeline { border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px; }
.row { display: flex; align-items: center; height: 24px; }
.row .who { width: 240px; flex: none; padding-right: 8px; box-sizing: border-box;
            font-family: monospace; font-size: 12px;
            overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .track { position: relative; flex: 1; height: 20px; background: #f9fafb; }
.row.gap-labels .track { background: none; }
.bar { position: absolute; top: 2px; height: 16px; border-radius: 3px; min-width: 2px;
       border: 1px solid rgba(0,0,0,.25); box-sizing: border-box; font-size: 10px;
       overflow: hidden; white-space: nowrap; padding-left: 2px; z-index: 1; }
.gap { position: absolute; top: 0; bottom: 0; min-width: 2px; background: repeating-linear-gradient(
         45deg, #c7d2fe, #c7d2fe 4px, #eef2ff 4px, #eef2ff 8px);
       border-left: 2px solid #6366f1; border-right: 2px solid #6366f1; box-sizing: border-box; }
.gap-label { position: absolute; top: 2px; font-size: 11px; white-space: nowrap; color: #312e81;
             background: #fff; border: 1px solid #6366f1; border-radius: 3px; padding: 0 4px; }
.axis { position: relative; margin-left: 248px; margin-right: 8px; height: 18px; font-size: 11px;
        color: #374151; }
.tick { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.tick::before { content: ""; position: absolute; left: 50%; top: -4px; height: 4px;
                border-left: 1px solid #9ca3af; }
table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; }
pre { background: #f3f4f6; padding: 8px; overflow-x: auto; max-height: 260px; font-size: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 4px; border: 1px solid rgba(0,0,0,.25); }
)";

// Draws one row per task with a .bar per attempt, a .gap band per stop across every row with
// its .gap-label on top, and an axis whose unit (s, min, h) and step follow the span.
constexpr const char* kScript = R"(
(function () {
  var data = JSON.parse(document.getElementById('br-data').textContent);
  var box = document.getElementById('timeline');
  var start = data.start_ms, span = Math.max(1, data.end_ms - data.start_ms);
  var at = function (ms) { return (100 * (ms - start) / span) + '%'; };
  var width = function (from, to) { return (100 * Math.max(0, to - from) / span) + '%'; };
  var clock = function (ms) {
    return new Date(ms).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit',
                                                second: '2-digit'});
  };
  var row = function (label, title) {
    var r = document.createElement('div'); r.className = 'row';
    var who = document.createElement('div'); who.className = 'who';
    who.textContent = label; who.title = title;
    var track = document.createElement('div'); track.className = 'track';
    r.appendChild(who); r.appendChild(track); box.appendChild(r);
    data.gaps.forEach(function (g) {
      var band = document.createElement('div'); band.className = 'gap';
      band.style.left = at(g.stopped_ms); band.style.width = width(g.stopped_ms, g.resumed_ms);
      band.title = 'stopped ' + clock(g.stopped_ms) + '\u2013' + clock(g.resumed_ms) +
                   (g.reason ? ': ' + g.reason : '');
      track.appendChild(band);
    });
    return {row: r, track: track};
  };
  if (data.gaps.length > 0) {
    var head = row('', 'times the run was stopped');
    head.row.className = 'row gap-labels';
    data.gaps.forEach(function (g) {
      var label = document.createElement('div'); label.className = 'gap-label';
      // Late stops are labelled leftwards from their end, so the label stays on the page.
      if (g.stopped_ms - start > span / 2) {
        label.style.right = (100 * (data.end_ms - g.resumed_ms) / span) + '%';
      } else {
        label.style.left = at(g.stopped_ms);
      }
      label.textContent = 'stopped ' + clock(g.stopped_ms) + '\u2013' + clock(g.resumed_ms);
      head.track.appendChild(label);
    });
  }
  var tasks = [];
  data.attempts.forEach(function (a) { if (tasks.indexOf(a.task) < 0) tasks.push(a.task); });
  tasks.sort(function (x, y) { return data.order[x] - data.order[y]; });
  tasks.forEach(function (t) {
    var track = row(t, t).track;
    data.attempts.forEach(function (a) {
      if (a.task !== t) return;
      var from = (a.started_ms || a.dispatched_ms), to = a.finished_ms || data.end_ms;
      var kind = a.interrupted ? 'interrupted' : a.outcome;
      var bar = document.createElement('div'); bar.className = 'bar';
      bar.dataset.task = a.task; bar.dataset.attempt = a.attempt; bar.dataset.outcome = a.outcome;
      bar.style.left = at(from);
      bar.style.width = width(from, to);
      bar.style.background = data.colors[kind];
      bar.title = a.task + ' attempt ' + a.attempt + ' on ' + a.worker + ': ' + kind +
                  (a.reason ? ' (' + a.reason + ')' : '') +
                  (a.commit ? '\ncommit ' + a.commit.substring(0, 12) + ' (br task diff ' +
                              a.task + '), ' + a.files.length + ' file(s): ' +
                              a.files.join(', ') : '');
      track.appendChild(bar);
      // Text only where it fits: a clipped word in a thin bar reads as noise.
      if (bar.offsetWidth >= 70) bar.textContent = '#' + a.attempt + ' ' + a.worker;
    });
  });
  var units = span < 120e3 ? [1e3, 's'] : span < 2 * 3600e3 ? [60e3, 'min'] : [3600e3, 'h'];
  var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400];
  var step = 86400e3 * Math.ceil(span / 8 / 86400e3);
  for (var i = 0; i < steps.length; i++) {
    if (span / (steps[i] * 1e3) <= 8) { step = steps[i] * 1e3; break; }
  }
  var axis = document.getElementById('axis');
  for (var t = 0; t <= span; t += step) {
    var tick = document.createElement('span'); tick.className = 'tick';
    tick.style.left = at(start + t);
    tick.textContent = t === 0 ? '0' : (+(t / units[0]).toFixed(1)) + ' ' + units[1];
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
    } else if (const auto* retry = std::get_if<rec::TaskRetrying>(&r.body)) {
      // An uncharged retry follows an attempt the task itself did not fail.
      if (retry->uncharged && retry->next_attempt > 0) {
        if (auto* span = find(retry->task, retry->next_attempt - 1)) span->interrupted = true;
      }
    }
  }
  return out;
}

std::vector<RunGap> run_gaps(const std::vector<JournalRecord>& records) {
  std::vector<RunGap> out;
  std::optional<RunGap> open;
  for (const JournalRecord& r : records) {
    if (const auto* stopped = std::get_if<rec::RunStopped>(&r.body)) {
      if (!open) open = RunGap{r.time_ms, 0, stopped->reason};
    } else if (std::holds_alternative<rec::RunResumed>(r.body) && open) {
      open->resumed_ms = r.time_ms;
      out.push_back(std::move(*open));
      open.reset();
    }
  }
  return out;
}

nlohmann::json attempt_json(const AttemptSpan& a) {
  return {{"attempt", a.attempt},         {"worker", a.worker},
          {"batch", a.batch},             {"dispatched_ms", a.dispatched_ms},
          {"started_ms", a.started_ms},   {"finished_ms", a.finished_ms},
          {"outcome", a.outcome},         {"reason", a.reason},
          {"interrupted", a.interrupted},
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

namespace {

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "2 failed attempts and 1 interrupted attempt": an interrupted attempt is no failure of the
// task's own, so it is counted apart.
std::string failed_attempts_said(const std::vector<const AttemptSpan*>& failed) {
  const auto interrupted = static_cast<std::size_t>(std::count_if(
      failed.begin(), failed.end(), [](const AttemptSpan* a) { return a->interrupted; }));
  const std::size_t own = failed.size() - interrupted;
  std::string said = own > 0 || interrupted == 0 ? plural(own, "failed attempt") : "";
  if (interrupted > 0) {
    said += (said.empty() ? "" : " and ") + plural(interrupted, "interrupted attempt");
  }
  return said;
}

using LogExcerpt = std::function<std::string(const std::string&, std::uint32_t)>;

// One failed attempt: who ran it, why it failed, and the tail of its log when it is here.
void failed_attempt_html(std::string& html, const AttemptSpan& a, const LogExcerpt& log_excerpt) {
  html += fmt::format("<h4>attempt {} · {}{}</h4>\n<p>{}</p>\n", a.attempt,
                      html_escape(a.worker), a.interrupted ? " · interrupted" : "",
                      html_escape(a.reason));
  const std::string excerpt = log_excerpt(a.batch, a.attempt);
  if (!excerpt.empty()) html += "<pre>" + html_escape(excerpt) + "</pre>\n";
}

// What the reader came for when a run went wrong, so it comes first: the tasks whose final
// status is failed, then those blocked or cancelled and why. Tasks that failed attempts but
// passed (or are still going) are folded, closed: they need no action.
void failures_html(std::string& html, const RunState& state,
                   const std::vector<AttemptSpan>& attempts, const LogExcerpt& log_excerpt) {
  const Plan& plan = state.plan();
  std::vector<std::vector<const AttemptSpan*>> failed(plan.tasks.size());
  for (const auto& a : attempts) {
    if (a.outcome == "failed" && a.task < failed.size()) failed[a.task].push_back(&a);
  }
  std::vector<std::size_t> final_failed, folded;
  std::size_t blocked = 0, cancelled = 0;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    switch (state.tasks()[i].status) {
      case TaskStatus::failed: final_failed.push_back(i); break;
      case TaskStatus::blocked: ++blocked; break;
      case TaskStatus::cancelled: ++cancelled; break;
      default:
        if (!failed[i].empty()) folded.push_back(i);
    }
  }

  const std::size_t total = final_failed.size() + blocked + cancelled;
  std::string heading = plural(final_failed.size(), "task");
  if (blocked > 0) heading += fmt::format(", {} blocked", blocked);
  if (cancelled > 0) heading += fmt::format(", {} cancelled", cancelled);
  html += "<h2 id=\"failed\">Failed: " + heading + "</h2>\n";
  if (total == 0) html += "<p class=\"muted\">no task failed, was blocked or cancelled</p>\n";
  for (std::size_t i : final_failed) {
    html += fmt::format("<div class=\"failure\" data-task=\"{}\">\n<h3>{} · failed ({})</h3>\n",
                        html_escape(plan.tasks[i].id.str()), html_escape(plan.tasks[i].id.str()),
                        failed_attempts_said(failed[i]));
    if (failed[i].empty()) html += "<p>" + html_escape(state.tasks()[i].reason) + "</p>\n";
    for (const AttemptSpan* a : failed[i]) failed_attempt_html(html, *a, log_excerpt);
    html += "</div>\n";
  }
  // Blocked and cancelled tasks by reason (one failure blocks all its dependents): a few listed
  // alone, a bigger group folded, closed, with the names of its first tasks.
  constexpr std::size_t kListedAlone = 3, kNamesShown = 1000;
  const std::pair<TaskStatus, const char*> others[] = {{TaskStatus::blocked, "blocked"},
                                                       {TaskStatus::cancelled, "cancelled"}};
  for (const auto& [status, word] : others) {
    for (const ReasonGroup& g : group_by_reason(state, status, kNamesShown)) {
      if (g.count <= kListedAlone) {
        for (std::size_t i : g.tasks) {
          html += fmt::format("<p class=\"blocked\" data-task=\"{}\">{} <b>{}</b>: {}</p>\n",
                              html_escape(plan.tasks[i].id.str()), word,
                              html_escape(plan.tasks[i].id.str()), html_escape(g.reason));
        }
        continue;
      }
      std::string names;
      for (std::size_t i : g.tasks) {
        names += (names.empty() ? "" : ", ") + html_escape(plan.tasks[i].id.str());
      }
      if (g.count > g.tasks.size()) {
        names += fmt::format(" and {} more", g.count - g.tasks.size());
      }
      html += fmt::format("<details class=\"blocked\"><summary>{} <b>{} tasks</b>: {}</summary>\n"
                          "<p>{}</p></details>\n",
                          word, g.count, html_escape(g.reason), names);
    }
  }

  if (folded.empty()) return;
  html += fmt::format("<h2 id=\"recovered\">Recovered or still going: {}</h2>\n",
                      plural(folded.size(), "task"));
  for (std::size_t i : folded) {
    const bool own_failures = std::any_of(failed[i].begin(), failed[i].end(),
                                          [](const AttemptSpan* a) { return !a->interrupted; });
    const TaskStatus status = state.tasks()[i].status;
    const std::string how = failed_attempts_said(failed[i]);
    const std::string summary =
        status == TaskStatus::succeeded
            ? (own_failures ? "recovered after " : "succeeded after ") + how
            : how + ", now " + std::string(to_string(status));
    html += fmt::format("<details class=\"recovered\" data-task=\"{}\"><summary><b>{}</b> {}"
                        "</summary>\n",
                        html_escape(plan.tasks[i].id.str()), html_escape(plan.tasks[i].id.str()),
                        summary);
    for (const AttemptSpan* a : failed[i]) failed_attempt_html(html, *a, log_excerpt);
    html += "</details>\n";
  }
}

}  // namespace

std::string report_html(const RunState& state, const DependencyGraph& graph,
                        const std::vector<AttemptSpan>& attempts, const std::vector<RunGap>& gaps,
                        const LogExcerpt& log_excerpt, std::int64_t now_ms) {
  const Plan& plan = state.plan();
  std::int64_t start = now_ms, end = 0;
  for (const auto& a : attempts) {
    start = std::min(start, a.started_ms > 0 ? a.started_ms : a.dispatched_ms);
    end = std::max(end, a.finished_ms > 0 ? a.finished_ms : now_ms);
  }
  if (attempts.empty()) start = end = now_ms;
  for (const auto& g : gaps) {
    start = std::min(start, g.stopped_ms);
    end = std::max(end, g.resumed_ms);
  }

  nlohmann::json data;
  data["start_ms"] = start;
  data["end_ms"] = end;
  data["colors"] = {{"succeeded", status_color(TaskStatus::succeeded)},
                    {"failed", status_color(TaskStatus::failed)},
                    {"interrupted", status_color(TaskStatus::retrying)},
                    {"unfinished", status_color(TaskStatus::running)}};
  data["attempts"] = attempts_json(state, attempts)["attempts"];
  nlohmann::json order = nlohmann::json::object();  // timeline rows in plan order
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) order[plan.tasks[i].id.str()] = i;
  data["order"] = std::move(order);
  nlohmann::json gap_list = nlohmann::json::array();
  for (const auto& g : gaps) {
    gap_list.push_back(
        {{"stopped_ms", g.stopped_ms}, {"resumed_ms", g.resumed_ms}, {"reason", g.reason}});
  }
  data["gaps"] = std::move(gap_list);

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

  failures_html(html, state, attempts, log_excerpt);

  html += "<h2>Timeline: every attempt, per task</h2>\n";
  html += "<div class=\"muted\">";
  for (const char* outcome : {"succeeded", "failed", "interrupted", "unfinished"}) {
    html += fmt::format("<span class=\"swatch\" style=\"background:{}\"></span>{} &nbsp; ",
                        data["colors"][outcome].get<std::string>(), outcome);
  }
  if (!gaps.empty()) html += "<span class=\"swatch gap\" style=\"position:static\"></span>stopped";
  html += "</div>\n<div id=\"timeline\"></div>\n<div id=\"axis\" class=\"axis\"></div>\n";
  // The same stops in words, for a reader without script and for the record.
  for (const auto& g : gaps) {
    html += fmt::format("<p class=\"stopped\">stopped {} after the timeline's start, for {}{}"
                        ", then resumed</p>\n",
                        format_duration(g.stopped_ms - start),
                        format_duration(g.resumed_ms - g.stopped_ms),
                        g.reason.empty() ? "" : " (" + html_escape(g.reason) + ")");
  }

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
