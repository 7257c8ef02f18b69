// What users see, as pure functions of a run: the progress view's ETA and level bars, the DOT
// and JSON graph, the report's attempts and HTML, and the starter files of `br init`.
#include <catch2/catch.hpp>
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
      run.state, *graph_of(run.state.plan()), attempts,
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
      run.state, *graph_of(run.state.plan()), attempts,
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
      report_html(run.state, *graph_of(run.state.plan()), attempts,
                  [](const std::string&, std::uint32_t) { return std::string(); }, 100);
  CHECK_THAT(html, Catch::Contains("<b>$0.29</b>cost"));
  CHECK_THAT(html, Catch::Contains("<h2>Most expensive tasks</h2>"));
  CHECK_THAT(html, Catch::Contains("<tr><td>f/d</td><td>2</td><td>1010</td><td>$0.250000</td>"));
  CHECK_THAT(html, Catch::Contains("1 of 3 finished attempts reported no usage"));
  CHECK(run.state.find(d)->usage.cost_micro_usd == 250000);
}
