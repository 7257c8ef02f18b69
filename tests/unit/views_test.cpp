// What users see, as pure functions of a run: the progress view's ETA and level bars, the DOT
// and JSON graph, the report's attempts and HTML, and the starter files of `br init`.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "coordinator/graph_view.hpp"
#include "coordinator/progress_view.hpp"
#include "coordinator/report_view.hpp"
#include "coordinator/starter_files.hpp"
#include "coordinator/state_views.hpp"
#include "coordinator/task_view.hpp"
#include "protocol/config.hpp"

using namespace br;

namespace {

// a → b → c (a chain of 60, 90, 120 minutes) and d (60, alone): critical path a, b, c.
Plan chain_plan() {
  Plan p;
  p.title = "Chain <&> \"quotes\"";
  const auto task = [](const char* id, std::uint32_t minutes, std::vector<TaskId> deps) {
    Task t;
    t.id = TaskId(id);
    t.feature = FeatureId("f");
    t.title = id;
    t.minutes = minutes;
    t.depends_on = std::move(deps);
    return t;
  };
  p.tasks = {task("f/a", 60, {}), task("f/b", 90, {TaskId("f/a")}),
             task("f/c", 120, {TaskId("f/b")}), task("f/d", 60, {})};
  p.tasks[0].acceptance = criteria_of({"The list <shows> 400 g flour", "file: a.py"});
  return p;
}

struct Run {
  RunState state;
  std::vector<JournalRecord> records;
  std::uint64_t seq = 0;
  void add(std::int64_t time_ms, RecordBody body) {
    JournalRecord r{++seq, "run-1", time_ms, std::move(body)};
    REQUIRE(state.apply(r).ok());
    records.push_back(std::move(r));
  }
};

// a succeeds on its first attempt (takes 6 s for its 60 planned minutes), d fails once and is
// retried; b is running.
Run sample_run() {
  Run run;
  run.add(0, rec::PlanCreated{chain_plan(), "spec.md", "h"});
  run.add(1, rec::TaskReady{TaskId("f/a")});
  run.add(1, rec::TaskReady{TaskId("f/d")});
  run.add(1000, rec::BatchDispatched{BatchId("b1"), "w0", {TaskId("f/a")}, {1}, 0});
  run.add(1000, rec::BatchDispatched{BatchId("b2"), "w1", {TaskId("f/d")}, {1}, 0});
  run.add(1100, rec::TaskStarted{TaskId("f/a"), 1, "w0"});
  run.add(1100, rec::TaskStarted{TaskId("f/d"), 1, "w1"});
  run.add(4000, rec::TaskFailed{TaskId("f/d"), 1, "exit 1 <oops>"});
  run.add(4000, rec::TaskRetrying{TaskId("f/d"), 2, 4500});
  run.add(7000, rec::TaskSucceeded{TaskId("f/a"), 1, "w0", {"a.py"}});
  run.add(7000, rec::TaskReady{TaskId("f/b")});
  run.add(7100, rec::BatchDispatched{BatchId("b3"), "w0", {TaskId("f/b")}, {1}, 0});
  run.add(7200, rec::TaskStarted{TaskId("f/b"), 1, "w0"});
  return run;
}

std::shared_ptr<const DependencyGraph> graph_of(const Plan& plan) {
  auto g = DependencyGraph::build(plan.tasks);
  REQUIRE(g.ok());
  return std::make_shared<const DependencyGraph>(std::move(g).value());
}

// a fails both its attempts, so b and c are blocked; d fails once and then passes.
Run failed_run() {
  Run run;
  const TaskId a("f/a"), b("f/b"), c("f/c"), d("f/d");
  run.add(0, rec::PlanCreated{chain_plan(), "spec.md", "h"});
  run.add(1, rec::TaskReady{a});
  run.add(1, rec::TaskReady{d});
  run.add(10, rec::BatchDispatched{BatchId("b1"), "w0", {a}, {1}, 0});
  run.add(10, rec::BatchDispatched{BatchId("b2"), "w1", {d}, {1}, 0});
  run.add(20, rec::TaskFailed{d, 1, "exit 1 <oops>"});
  run.add(20, rec::TaskRetrying{d, 2, 0});
  run.add(21, rec::TaskReady{d});
  run.add(22, rec::BatchDispatched{BatchId("b3"), "w1", {d}, {2}, 0});
  run.add(30, rec::TaskSucceeded{d, 2, "w1", {}});
  run.add(40, rec::TaskFailed{a, 1, "exit 2: no a.py"});
  run.add(40, rec::TaskRetrying{a, 2, 0});
  run.add(41, rec::TaskReady{a});
  run.add(42, rec::BatchDispatched{BatchId("b4"), "w0", {a}, {2}, 0});
  run.add(50, rec::TaskFailed{a, 2, "exit 2: still no a.py"});
  run.add(50, rec::TaskBlocked{b, a});
  run.add(50, rec::TaskBlocked{c, a});
  return run;
}

std::string html_of(const Run& run, const std::vector<RunGap>& gaps, std::int64_t now_ms) {
  return report_html(run.state, *graph_of(run.state.plan()), attempts_of(run.records, run.state),
                     gaps, [](const std::string&, std::uint32_t) { return std::string(); },
                     now_ms);
}

// The data the page's script draws from.
nlohmann::json embedded_data(const std::string& html) {
  const auto data_at = html.find("id=\"br-data\">");
  REQUIRE(data_at != std::string::npos);
  const auto data_end = html.find("</script>", data_at);
  return nlohmann::json::parse(html.substr(data_at + 13, data_end - data_at - 13));
}

}  // namespace

TEST_CASE("the ETA follows the remaining critical path at the pace seen so far") {
  Run run = sample_run();
  ProgressView view(RunState{}, graph_of(run.state.plan()), 2, 0);
  CHECK(view.eta_ms() < 0);  // nothing finished yet: no pace
  view.apply(run.records);
  // Finished: a (6000 ms for 60 min) and d's failed attempt (3000 ms for 60 min): 75 ms per
  // planned minute. Left: b, c (210 min on the critical path), d (60): max(210, 270 / 2).
  CHECK(view.eta_ms() == std::int64_t{210} * 75);
}

TEST_CASE("colour: keywords painted only when asked, and a recovered failure marked so") {
  Run run = sample_run();
  ProgressView plain(RunState{}, graph_of(run.state.plan()), 2, 0);
  for (const auto& line : plain.apply(run.records)) CHECK(line.find('\x1b') == std::string::npos);
  CHECK(plain.summary(9000).find('\x1b') == std::string::npos);

  ProgressView coloured(RunState{}, graph_of(run.state.plan()), 2, 0);
  coloured.set_colour(true);
  std::string all;
  for (const auto& line : coloured.apply(run.records)) all += line + "\n";
  CHECK_THAT(all, Catch::Contains("] \x1b[31mFAILED\x1b[0m  f/d (attempt 1)"));
  CHECK_THAT(all, Catch::Contains("] \x1b[32mdone\x1b[0m    f/a"));
  CHECK_THAT(all, Catch::Contains("] \x1b[33mretry\x1b[0m   f/d"));
  CHECK_THAT(coloured.live_block(9000, 100), Catch::Contains("\x1b[31m  ! FAILED  f/d"));

  // d's second attempt passes: its failure stays on screen, as recovered.
  Run later = sample_run();
  later.add(8000, rec::TaskReady{TaskId("f/d")});
  later.add(8000, rec::BatchDispatched{BatchId("b9"), "w1", {TaskId("f/d")}, {2}, 0});
  later.add(9000, rec::TaskSucceeded{TaskId("f/d"), 2, "w1", {}});
  ProgressView view(RunState{}, graph_of(later.state.plan()), 2, 0);
  view.apply(later.records);
  const std::string block = view.live_block(9500, 100);
  INFO(block);
  CHECK_THAT(block, Catch::Contains("~ recovered: FAILED  f/d (attempt 1)"));
  CHECK_THAT(block, !Catch::Contains("! FAILED"));
}

TEST_CASE("the live view keeps the end of a long failure reason: the agent's last words") {
  Run run = sample_run();
  const std::string reason = "agent exited with code 1 (log: .br/logs/b1796f0e2a-a1.log) — "
                             "agent's last line: model API returned 529 overloaded";
  run.add(8500, rec::TaskFailed{TaskId("f/b"), 1, reason});
  ProgressView view(RunState{}, graph_of(run.state.plan()), 2, 0);
  view.apply(run.records);
  const std::string block = view.live_block(9000, 60);
  INFO(block);
  const std::string last = block.substr(block.rfind('\n') + 1);
  CHECK_THAT(last, Catch::StartsWith("  ! FAILED  f/b"));
  CHECK_THAT(last, Catch::Contains("…"));
  CHECK_THAT(last, Catch::EndsWith(": model API returned 529 overloaded"));
  std::size_t shown = 0;  // columns: each UTF-8 sequence one
  for (unsigned char c : last) shown += (c & 0xC0) != 0x80;
  CHECK(shown == 60);
}

TEST_CASE("--color and NO_COLOR decide as no-color.org says") {
  CHECK(use_colour("auto", true, nullptr, "xterm"));
  CHECK_FALSE(use_colour("auto", false, nullptr, "xterm"));
  CHECK_FALSE(use_colour("auto", true, "1", "xterm"));
  CHECK(use_colour("auto", true, "", "xterm"));  // set but empty: not a request
  CHECK_FALSE(use_colour("auto", true, nullptr, "dumb"));
  CHECK(use_colour("always", false, "1", "dumb"));
  CHECK_FALSE(use_colour("never", true, nullptr, "xterm"));
}

TEST_CASE("the live view has a bar per level, running tasks and recent failures") {
  Run run = sample_run();
  ProgressView view(RunState{}, graph_of(run.state.plan()), 2, 0);
  const auto lines = view.apply(run.records);
  const std::string block = view.live_block(9000, 100);
  INFO(block);
  CHECK_THAT(block, Catch::Contains("level 1   [##########..........] 1/2"));
  CHECK_THAT(block, Catch::Contains("level 2   [....................] 0/1"));
  CHECK_THAT(block, Catch::Contains("level 3   [....................] 0/1"));
  CHECK_THAT(block, Catch::Contains("w0         f/b  1.8s"));
  CHECK_THAT(block, Catch::Contains("! FAILED  f/d (attempt 1): exit 1 <oops>"));
  CHECK_THAT(block, Catch::Contains("eta 15.7s"));
  bool ready_shown = false;
  for (const auto& line : lines) ready_shown = ready_shown || line.find("ready") != std::string::npos;
  CHECK_FALSE(ready_shown);

  ProgressView verbose(RunState{}, graph_of(run.state.plan()), 2, 0, true);
  const auto all = verbose.apply(run.records);
  CHECK(std::count_if(all.begin(), all.end(), [](const std::string& l) {
          return l.find("] ready   f/") != std::string::npos;
        }) == 3);
}

TEST_CASE("the DOT graph ranks levels, marks the critical path and colors status") {
  Run run = sample_run();
  const auto graph = graph_of(run.state.plan());
  const std::string dot = graph_dot(run.state.plan(), *graph, &run.state);
  INFO(dot);
  CHECK(dot.rfind("digraph br {", 0) == 0);
  CHECK_THAT(dot, Catch::Contains("label=\"Chain <&> \\\"quotes\\\" — critical path 270 min"));
  std::size_t ranks = 0;
  for (auto at = dot.find("rank=same"); at != std::string::npos; at = dot.find("rank=same", at + 1)) {
    ++ranks;
  }
  CHECK(ranks == 3);
  CHECK_THAT(dot, Catch::Contains("\"f/a\" -> \"f/b\" [color=\"#dc2626\", penwidth=3];"));
  CHECK_THAT(dot, Catch::Contains(std::string("fillcolor=\"") +
                                  status_color(TaskStatus::succeeded) + "\""));
  CHECK_THAT(dot, Catch::Contains("\"f/d\" [label=\"f/d\\nbackend, 60 min\\nretrying\""));

  const auto json = graph_json(run.state.plan(), *graph, &run.state);
  CHECK(json["version"] == 1);
  CHECK(json["tasks"].size() == 4);
  CHECK(json["edges"].size() == 2);
  CHECK(json["levels"] == 3);
  CHECK(json["critical_path"]["minutes"] == 270);
  CHECK(json["tasks"][3]["critical"] == false);
  CHECK(json["tasks"][0]["status"] == "succeeded");
}

TEST_CASE("the report has every attempt, the failures with their logs, escaped") {
  Run run = sample_run();
  const auto attempts = attempts_of(run.records, run.state);
  REQUIRE(attempts.size() == 3);
  CHECK(attempts[0].outcome == "succeeded");
  CHECK(attempts[0].started_ms == 1100);
  CHECK(attempts[0].finished_ms == 7000);
  CHECK(attempts[1].outcome == "failed");
  CHECK(attempts[1].reason == "exit 1 <oops>");
  CHECK(attempts[2].outcome == "unfinished");
  CHECK(attempts[2].finished_ms == 0);

  const std::string html = report_html(
      run.state, *graph_of(run.state.plan()), attempts, {},
      [](const std::string& batch, std::uint32_t attempt) {
        return batch == "b2" && attempt == 1 ? std::string("Traceback </script> boom") : "";
      },
      9000);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK_THAT(html, Catch::Contains("<h1>Chain &lt;&amp;&gt; &quot;quotes&quot;</h1>"));
  CHECK_THAT(html, Catch::Contains("<pre>Traceback &lt;/script&gt; boom</pre>"));
  CHECK_THAT(html, Catch::Contains("<p>exit 1 &lt;oops&gt;</p>"));
  // The embedded data cannot close its script early.
  const auto data_at = html.find("id=\"br-data\">");
  REQUIRE(data_at != std::string::npos);
  const auto data_end = html.find("</script>", data_at);
  const auto data = nlohmann::json::parse(html.substr(data_at + 13, data_end - data_at - 13));
  CHECK(data["attempts"].size() == 3);
  CHECK(data["end_ms"] == 9000);  // the unfinished attempt runs to now
  CHECK(html.find("http://") == std::string::npos);  // self-contained
  CHECK(html.find("https://") == std::string::npos);
}

TEST_CASE("prose criteria are reported as unchecked, also for a task that passed") {
  Run run = sample_run();
  const auto attempts = attempts_of(run.records, run.state);
  const std::string html = report_html(
      run.state, *graph_of(run.state.plan()), attempts, {},
      [](const std::string&, std::uint32_t) { return std::string(); }, 9000);
  CHECK_THAT(html, Catch::Contains("<h2>Unchecked criteria"));
  CHECK_THAT(html, Catch::Contains("<h3>f/a · succeeded</h3>\n<ul>\n"
                                   "<li>The list &lt;shows&gt; 400 g flour</li>\n</ul>"));
  CHECK(html.find("<li>file: a.py</li>") == std::string::npos);  // checked by br
  const auto report = attempts_json(run.state, attempts);
  REQUIRE(report["unchecked"].size() == 1);
  CHECK(report["unchecked"][0]["task"] == "f/a");
  CHECK(report["unchecked"][0]["criteria"] ==
        std::vector<std::string>{"The list <shows> 400 g flour"});

  const auto doc = task_json(run.state, 0, attempts, StateDir{"/nonexistent-state-dir"});
  CHECK(doc["unchecked"] == std::vector<std::string>{"The list <shows> 400 g flour"});
  const std::string text = task_text(doc);
  CHECK_THAT(text, Catch::Contains("  criterion:   The list <shows> 400 g flour  (unchecked: prose)\n"));
  CHECK_THAT(text, Catch::Contains("  criterion:   file: a.py\n"));
}

TEST_CASE("the starter br.toml loads and shows the defaults it says it shows") {
  auto config = parse_config(kStarterConfig, "br.toml", "/project");
  REQUIRE(config.ok());
  Config defaults;
  CHECK(config->run.workers == defaults.run.workers);
  CHECK(config->run.strategy == defaults.run.strategy);
  CHECK(config->run.max_attempts == defaults.run.max_attempts);
  CHECK(config->run.backoff_base_ms == defaults.run.backoff_base_ms);
  CHECK(config->run.backoff_max_ms == defaults.run.backoff_max_ms);
  CHECK(config->agent.timeout_ms == defaults.agent.timeout_ms);
  CHECK(config->verify.timeout_ms == defaults.verify.timeout_ms);
  CHECK(config->verify.file_wait_ms == defaults.verify.file_wait_ms);
  CHECK(config->verify.require_checks == defaults.verify.require_checks);
  CHECK(config->verify.allow_run_criteria == defaults.verify.allow_run_criteria);
  CHECK(config->context.token_budget == defaults.context.token_budget);
  CHECK(config->journal.snapshot_every == defaults.journal.snapshot_every);
  CHECK(config->agent.command == std::vector<std::string>{"claude", "-p", "--permission-mode",
                                                          "acceptEdits"});
}

TEST_CASE("br status of a run whose coordinator is gone shows nothing running or connected") {
  Run run = sample_run();
  run.add(7300, rec::WorkerJoined{"w0", 1, "10.0.0.2:7000"});
  nlohmann::json doc = status_json(run.state);
  doc["live"] = true;
  const std::string live = status_text(doc);
  CHECK_THAT(live, Catch::Contains("1 running, 0 dispatched"));
  CHECK_THAT(live, Catch::Contains("workers: 1 known, 1 connected"));
  doc["live"] = false;  // killed with SIGKILL: the journal still says running
  const std::string gone = status_text(doc);
  INFO(gone);
  CHECK_THAT(gone, Catch::Contains("not running"));
  CHECK_THAT(gone, Catch::Contains("1 interrupted"));
  CHECK_THAT(gone, !Catch::Contains("1 running"));
  CHECK_THAT(gone, Catch::Contains("workers: 1 known, 0 connected"));
}

TEST_CASE("tokens and cost per attempt, per task (failed attempts included) and per run") {
  Run run;
  Plan plan = chain_plan();
  plan.tasks[3].feature = FeatureId("g");
  run.add(0, rec::PlanCreated{plan, "spec.md", "h"});
  const auto usage = [](std::uint64_t micro, std::uint64_t tokens_in) {
    Usage u;
    u.known = true;
    u.tokens_in = tokens_in;
    u.tokens_out = 10;
    u.cost_known = true;
    u.cost_micro_usd = micro;
    u.turns = 2;
    return u;
  };
  const TaskId a("f/a"), d("f/d");
  run.add(1, rec::TaskReady{a});
  run.add(1, rec::TaskReady{d});
  run.add(10, rec::BatchDispatched{BatchId("b1"), "w0", {a}, {1}, 0});
  run.add(10, rec::BatchDispatched{BatchId("b2"), "w1", {d}, {1}, 0});
  run.add(20, rec::TaskFailed{d, 1, "exit 1", usage(250000, 1000)});
  run.add(20, rec::TaskRetrying{d, 2, 0});
  run.add(21, rec::TaskReady{d});
  run.add(22, rec::BatchDispatched{BatchId("b3"), "w1", {d}, {2}, 0});
  run.add(30, rec::TaskFailed{d, 2, "exit 1"});  // reported nothing
  rec::TaskSucceeded ok{a, 1, "w0", {"a.py"}};
  ok.usage = usage(42184, 90);
  run.add(40, ok);

  const nlohmann::json status = status_json(run.state);
  CHECK(status["usage"]["attempts"] == 3);
  CHECK(status["usage"]["unknown_attempts"] == 1);
  CHECK(status["usage"]["tokens"] == 1000 + 10 + 90 + 10);
  CHECK(status["usage"]["cost_usd"].get<double>() == Approx(0.292184));
  CHECK_THAT(status_text(run.state),
             Catch::Contains("usage: $0.29, 1,110 tokens (1 attempt of 3 reported no usage)"));

  const auto attempts = attempts_of(run.records, run.state);
  REQUIRE(attempts.size() == 3);
  const nlohmann::json report = attempts_json(run.state, attempts);
  CHECK(report["attempts"][1]["usage"]["cost_usd"].get<double>() == Approx(0.25));
  CHECK(report["attempts"][2]["usage"]["known"] == false);
  CHECK(report["attempts"][2]["usage"]["cost_usd"].is_null());
  CHECK(report["usage"]["cost_usd"].get<double>() == Approx(0.292184));
  REQUIRE(report["usage_by_feature"].size() == 2);
  CHECK(report["usage_by_feature"][0]["feature"] == "f");
  CHECK(report["usage_by_feature"][1]["cost_usd"].get<double>() == Approx(0.25));
  REQUIRE(report["most_expensive_tasks"].size() == 2);
  CHECK(report["most_expensive_tasks"][0]["task"] == "f/d");  // the failed attempts cost most
  CHECK(report["most_expensive_tasks"][0]["attempts"] == 2);

  const std::string html =
      report_html(run.state, *graph_of(run.state.plan()), attempts, {},
                  [](const std::string&, std::uint32_t) { return std::string(); }, 100);
  CHECK_THAT(html, Catch::Contains("<b>$0.29</b>cost"));
  CHECK_THAT(html, Catch::Contains("<h2>Most expensive tasks</h2>"));
  CHECK_THAT(html, Catch::Contains("<tr><td>f/d</td><td>2</td><td>1010</td><td>$0.250000</td>"));
  CHECK_THAT(html, Catch::Contains("1 of 3 finished attempts reported no usage"));
  CHECK(run.state.find(d)->usage.cost_micro_usd == 250000);
}

TEST_CASE("the report lists final failures first, with what blocked the rest") {
  const std::string html = html_of(failed_run(), {}, 100);
  INFO(html);
  const auto failed_at = html.find("<h2 id=\"failed\">Failed: 1 task, 2 blocked</h2>");
  REQUIRE(failed_at != std::string::npos);
  // Before everything else the report says about the run.
  CHECK(failed_at < html.find("<h2>Timeline"));
  CHECK(failed_at < html.find("<h2>Critical path"));
  CHECK(failed_at < html.find("<h2>Cost per feature"));
  const auto a_at = html.find("<div class=\"failure\" data-task=\"f/a\">\n<h3>f/a · failed (2 "
                              "failed attempts)</h3>");
  REQUIRE(a_at != std::string::npos);
  CHECK(failed_at < a_at);
  CHECK(a_at < html.find("<p>exit 2: no a.py</p>"));
  CHECK(a_at < html.find("<p>exit 2: still no a.py</p>"));
  const auto b_at = html.find("blocked <b>f/b</b>: dependency 'f/a' failed</p>");
  const auto c_at = html.find("blocked <b>f/c</b>: dependency 'f/a' failed</p>");
  REQUIRE(b_at != std::string::npos);
  REQUIRE(c_at != std::string::npos);
  CHECK(a_at < b_at);  // the failure before what it blocked
  CHECK(b_at < html.find("<h2>Timeline"));

  const std::string fine = html_of(sample_run(), {}, 9000);
  CHECK_THAT(fine, Catch::Contains("<h2 id=\"failed\">Failed: 0 tasks</h2>\n"
                                   "<p class=\"muted\">no task failed, was blocked or cancelled"));
  CHECK_THAT(fine, !Catch::Contains("class=\"failure\""));
}

TEST_CASE("a task that failed an attempt and then passed is folded as recovered, closed") {
  const std::string html = html_of(failed_run(), {}, 100);
  INFO(html);
  CHECK_THAT(html, !Catch::Contains("class=\"failure\" data-task=\"f/d\""));
  const auto d_at = html.find("<details class=\"recovered\" data-task=\"f/d\"><summary><b>f/d</b> "
                              "recovered after 1 failed attempt</summary>");
  REQUIRE(d_at != std::string::npos);
  CHECK(html.find("<details class=\"recovered\" data-task=\"f/d\" open") == std::string::npos);
  CHECK(html.find("<h2 id=\"failed\">") < d_at);  // after the final failures
  CHECK(d_at < html.find("<p>exit 1 &lt;oops&gt;</p>"));  // its reason stays, folded
  CHECK(html.find("<p>exit 1 &lt;oops&gt;</p>") < html.find("</details>"));

  // Still retrying: folded too, and it says so.
  const std::string going = html_of(sample_run(), {}, 9000);
  CHECK_THAT(going,
             Catch::Contains("<summary><b>f/d</b> 1 failed attempt, now retrying</summary>"));
}

TEST_CASE("a stop and resume is a marked gap on the timeline; idle time is not") {
  Run run = sample_run();
  CHECK(run_gaps(run.records).empty());
  const std::string no_gap = html_of(run, run_gaps(run.records), 9000);
  CHECK(embedded_data(no_gap)["gaps"].empty());
  CHECK_THAT(no_gap, !Catch::Contains("<p class=\"stopped\">"));

  // Stopped at 8 s (b was running: interrupted, retried uncharged), resumed at 20 s, b passes.
  const TaskId b("f/b");
  run.add(8000, rec::TaskFailed{b, 1, "interrupted: the run was stopped"});
  run.add(8000, rec::TaskRetrying{b, 2, 8000, /*uncharged=*/true});
  run.add(8000, rec::RunStopped{"interrupted (SIGINT)"});
  run.add(20000, rec::RunResumed{});
  run.add(20000, rec::TaskReady{b});
  run.add(20100, rec::BatchDispatched{BatchId("b5"), "w0", {b}, {2}, 0});
  run.add(21000, rec::TaskSucceeded{b, 2, "w0", {}});
  // A minute of nothing: idle, not stopped.
  run.add(81000, rec::TaskReady{TaskId("f/c")});
  const auto gaps = run_gaps(run.records);
  REQUIRE(gaps.size() == 1);
  CHECK(gaps[0].stopped_ms == 8000);
  CHECK(gaps[0].resumed_ms == 20000);
  CHECK(gaps[0].reason == "interrupted (SIGINT)");

  const std::string html = html_of(run, gaps, 90000);
  INFO(html);
  const auto data = embedded_data(html);
  REQUIRE(data["gaps"].size() == 1);
  CHECK(data["gaps"][0]["stopped_ms"] == 8000);
  CHECK(data["gaps"][0]["resumed_ms"] == 20000);
  CHECK_THAT(html, Catch::Contains("<p class=\"stopped\">stopped 6.9s after the timeline's "
                                   "start, for 12.0s (interrupted (SIGINT)), then resumed</p>"));
  // The stop's interrupted attempt is not a failure of b's own.
  CHECK_THAT(html, Catch::Contains("<summary><b>f/b</b> succeeded after 1 interrupted attempt"
                                   "</summary>"));
  const auto attempts = attempts_of(run.records, run.state);
  const auto interrupted = std::count_if(attempts.begin(), attempts.end(),
                                         [](const AttemptSpan& a) { return a.interrupted; });
  CHECK(interrupted == 1);

  // Stopped and not resumed: no gap yet (the run is still stopped, nothing after it).
  Run still = sample_run();
  still.add(8000, rec::TaskFailed{b, 1, "interrupted: the run was stopped"});
  still.add(8000, rec::TaskRetrying{b, 2, 8000, /*uncharged=*/true});
  still.add(8000, rec::RunStopped{"interrupted (SIGINT)"});
  CHECK(run_gaps(still.records).empty());
}

TEST_CASE("the DOT graph boxes each feature's tasks, escaped, and has a legend") {
  Plan plan = chain_plan();
  Feature f;
  f.id = FeatureId("f");
  f.title = "Say \"hi\" \\ <now>";
  plan.features = {f};
  plan.tasks[3].feature = FeatureId("g");  // no Feature entry: labelled with its id
  const auto graph = graph_of(plan);
  const std::string dot = graph_dot(plan, *graph, nullptr);
  INFO(dot);
  CHECK_THAT(dot, Catch::Contains("newrank=true;"));
  const auto f_at = dot.find("  subgraph cluster_0 {\n    label=\"Say \\\"hi\\\" \\\\ <now>\";");
  const auto g_at = dot.find("  subgraph cluster_1 {\n    label=\"g\";");
  REQUIRE(f_at != std::string::npos);
  REQUIRE(g_at != std::string::npos);
  // Each task inside its feature's box: between the cluster's start and its end.
  const auto inside = [&](const std::string& task, std::size_t cluster_at) {
    const auto at = dot.find("    \"" + task + "\" [label=");
    return at != std::string::npos && at > cluster_at && at < dot.find("\n  }\n", cluster_at);
  };
  CHECK(inside("f/a", f_at));
  CHECK(inside("f/c", f_at));
  CHECK(inside("f/d", g_at));
  CHECK_FALSE(inside("f/d", f_at));
  std::size_t clusters = 0;
  for (auto at = dot.find("subgraph cluster_"); at != std::string::npos;
       at = dot.find("subgraph cluster_", at + 1)) {
    ++clusters;
  }
  CHECK(clusters == 3);  // two features and the legend

  const auto legend_at = dot.find("  subgraph cluster_legend {\n    label=\"Legend\";");
  REQUIRE(legend_at != std::string::npos);
  const std::string legend = dot.substr(legend_at);
  CHECK_THAT(legend, Catch::Contains("B depends on A"));
  CHECK_THAT(legend, Catch::Contains("critical path"));
  CHECK_THAT(legend, !Catch::Contains("bgcolor"));  // a plan has no statuses to explain

  Run run = sample_run();
  const std::string with_status = graph_dot(run.state.plan(), *graph_of(run.state.plan()),
                                            &run.state);
  for (TaskStatus s : {TaskStatus::succeeded, TaskStatus::failed, TaskStatus::blocked}) {
    CHECK_THAT(with_status, Catch::Contains(fmt::format("<td bgcolor=\"{}\" width=\"24\"> </td>"
                                                        "<td align=\"left\">{}</td>",
                                                        status_color(s), to_string(s))));
  }

  const auto json = graph_json(plan, *graph, nullptr);
  CHECK(json["tasks"][0]["feature"] == "f");
  CHECK(json["tasks"][3]["feature"] == "g");
}

namespace {

// Twelve roots fail: the first blocks `first_blocks` tasks, each other one blocks one.
Run fanned_out_failure(int first_blocks = 8) {
  Plan p;
  p.title = "Fan";
  const auto task = [](std::string id, std::vector<TaskId> deps) {
    Task t;
    t.id = TaskId(id);
    t.feature = FeatureId("g");
    t.title = id;
    t.minutes = 60;
    t.depends_on = std::move(deps);
    return t;
  };
  for (int r = 0; r < 12; ++r) p.tasks.push_back(task(fmt::format("g/r{}", r), {}));
  for (int x = 0; x < first_blocks; ++x) {
    p.tasks.push_back(task(fmt::format("g/x{}", x), {TaskId("g/r0")}));
  }
  for (int r = 1; r < 12; ++r) {
    p.tasks.push_back(task(fmt::format("g/y{}", r), {TaskId(fmt::format("g/r{}", r))}));
  }
  Run run;
  run.add(0, rec::PlanCreated{p, "spec.md", "h"});
  for (int r = 0; r < 12; ++r) {
    const TaskId root(fmt::format("g/r{}", r));
    run.add(1, rec::TaskReady{root});
    run.add(2, rec::BatchDispatched{BatchId(fmt::format("b{}", r)), "w0", {root}, {1}, 0});
    run.add(3, rec::TaskFailed{root, 1, "exit 1"});
    if (r == 0) {
      for (int x = 0; x < first_blocks; ++x) {
        run.add(3, rec::TaskBlocked{TaskId(fmt::format("g/x{}", x)), root});
      }
    } else {
      run.add(3, rec::TaskBlocked{TaskId(fmt::format("g/y{}", r)), root});
    }
  }
  return run;
}

}  // namespace

TEST_CASE("blocked tasks are folded by reason in the summary and the report") {
  Run run = fanned_out_failure();
  ProgressView view(RunState{}, graph_of(run.state.plan()), 2, 0);
  view.apply(run.records);
  const std::string summary = view.summary(100, "br --state-dir 'my dir'");
  INFO(summary);
  CHECK_THAT(summary, Catch::Contains("  blocked 8 tasks: dependency 'g/r0' failed (g/x0, g/x1, "
                                      "g/x2, g/x3, g/x4 and 3 more)\n"));
  CHECK_THAT(summary, Catch::Contains("  blocked g/y1: dependency 'g/r1' failed\n"));
  CHECK_THAT(summary, Catch::Contains("  blocked g/y9: dependency 'g/r9' failed\n"));
  CHECK_THAT(summary, !Catch::Contains("g/y10"));  // the eleventh reason and on are counted
  CHECK_THAT(summary, Catch::Contains("  … and 2 more blocked for 2 other reasons\n"));
  CHECK_THAT(summary, Catch::EndsWith("  all 19 blocked: br --state-dir 'my dir' task list "
                                      "--status blocked\n"));
  CHECK_THAT(summary, Catch::Contains("failed  g/r11 after 1 attempt(s): exit 1\n"));

  // A few blocked by one failure are listed as they are, with nothing to point at.
  Run few = failed_run();
  ProgressView small(RunState{}, graph_of(few.state.plan()), 2, 0);
  small.apply(few.records);
  const std::string listed = small.summary(100);
  CHECK_THAT(listed, Catch::Contains("  blocked f/b: dependency 'f/a' failed\n"
                                     "  blocked f/c: dependency 'f/a' failed\n"));
  CHECK_THAT(listed, !Catch::Contains("all 2 blocked"));

  // Five blocked by one failure: one line names them all.
  Run five = fanned_out_failure(5);
  ProgressView fewer(RunState{}, graph_of(five.state.plan()), 2, 0);
  fewer.apply(five.records);
  CHECK_THAT(fewer.summary(100), Catch::Contains("  blocked 5 tasks: dependency 'g/r0' failed "
                                                 "(g/x0, g/x1, g/x2, g/x3, g/x4)\n"));

  const std::string html = html_of(run, {}, 100);
  INFO(html);
  CHECK_THAT(html, Catch::Contains("<h2 id=\"failed\">Failed: 12 tasks, 19 blocked</h2>"));
  CHECK_THAT(html, Catch::Contains("<details class=\"blocked\"><summary>blocked <b>8 tasks</b>: "
                                   "dependency 'g/r0' failed</summary>\n<p>g/x0, g/x1, g/x2, g/x3, "
                                   "g/x4, g/x5, g/x6, g/x7</p></details>"));
  CHECK_THAT(html, Catch::Contains("blocked <b>g/y11</b>: dependency 'g/r11' failed</p>"));
}
