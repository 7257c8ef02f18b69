// `br task list`: filters by status, feature and a limit, and its JSON, written as a stream,
// is byte for byte the document the nlohmann DOM gave (reference_json below is that code).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "coordinator/state_views.hpp"

using namespace br;

namespace {

Task task(const std::string& feature, const std::string& id, std::uint32_t minutes,
          std::vector<TaskId> deps = {}) {
  Task t;
  t.id = TaskId(feature + "/" + id);
  t.feature = FeatureId(feature);
  t.title = "Do \"" + id + "\" — ünïcödé";
  t.domain = Domain::api;
  t.minutes = minutes;
  t.depends_on = std::move(deps);
  return t;
}

// a/1 succeeded, a/2 running, b/1 failed once and retrying, b/2 and c/1 pending, c/2 ready.
RunState sample_state() {
  Plan plan;
  plan.title = "Sample";
  plan.tasks = {task("a", "1", 60), task("a", "2", 90, {TaskId("a/1")}), task("b", "1", 60),
                task("b", "2", 120, {TaskId("b/1")}), task("c", "1", 60, {TaskId("a/2")}),
                task("c", "2", 90)};
  RunState state;
  std::uint64_t seq = 0;
  const auto add = [&](std::int64_t ms, RecordBody body) {
    JournalRecord r{++seq, "run-1", ms, std::move(body)};
    REQUIRE(state.apply(r).ok());
  };
  add(0, rec::PlanCreated{plan, "spec.md", "h"});
  add(1, rec::TaskReady{TaskId("a/1")});
  add(1, rec::TaskReady{TaskId("b/1")});
  add(1, rec::TaskReady{TaskId("c/2")});
  add(10, rec::BatchDispatched{BatchId("b1"), "w0", {TaskId("a/1")}, {1}, 0});
  add(10, rec::BatchDispatched{BatchId("b2"), "w1", {TaskId("b/1")}, {1}, 0});
  add(11, rec::TaskStarted{TaskId("a/1"), 1, "w0"});
  add(11, rec::TaskStarted{TaskId("b/1"), 1, "w1"});
  add(20, rec::TaskFailed{TaskId("b/1"), 1, "exit 1: \"quoted\" \\ \x01 <oops>"});
  add(20, rec::TaskRetrying{TaskId("b/1"), 2, 4500});
  add(30, rec::TaskSucceeded{TaskId("a/1"), 1, "w0", {"src/a.py", "docs/ä.md"}});
  add(30, rec::TaskReady{TaskId("a/2")});
  add(31, rec::BatchDispatched{BatchId("b3"), "w0", {TaskId("a/2")}, {1}, 0});
  add(32, rec::TaskStarted{TaskId("a/2"), 1, "w0"});
  return state;
}

bool kept(const RunState& state, std::size_t i, std::optional<TaskStatus> only) {
  return !only || state.tasks()[i].status == *only;
}

// task_list_json as it was before it was streamed (status filter only).
nlohmann::json reference_json(const RunState& state, std::optional<TaskStatus> only) {
  nlohmann::json tasks = nlohmann::json::array();
  const auto& plan = state.plan().tasks;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const TaskState& t = state.tasks()[i];
    if (!kept(state, i, only)) continue;
    tasks.push_back({{"id", plan[i].id.str()},
                     {"feature", plan[i].feature.str()},
                     {"title", plan[i].title},
                     {"domain", std::string(to_string(plan[i].domain))},
                     {"minutes", plan[i].minutes},
                     {"status", std::string(to_string(t.status))},
                     {"attempt", t.attempt},
                     {"commit", t.commit},
                     {"worker", t.worker},
                     {"reason", t.reason},
                     {"files", t.files},
                     {"dispatched_ms", t.dispatched_ms},
                     {"started_ms", t.started_ms},
                     {"finished_ms", t.finished_ms}});
  }
  return {{"version", kJsonVersion}, {"run_id", state.run_id()}, {"tasks", tasks}};
}

// task_list_text as it was (status filter only).
std::string reference_text(const RunState& state, std::optional<TaskStatus> only) {
  std::size_t width = 4;
  for (const auto& t : state.plan().tasks) width = std::max(width, t.id.str().size());
  std::string out = fmt::format("{:<{}}  {:<10}  {:>7}  {}\n", "TASK", width, "STATUS",
                                "ATTEMPT", "TITLE");
  const auto& plan = state.plan().tasks;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const TaskState& t = state.tasks()[i];
    if (!kept(state, i, only)) continue;
    out += fmt::format("{:<{}}  {:<10}  {:>7}  {}", plan[i].id.str(), width, to_string(t.status),
                       t.attempt, plan[i].title);
    if (!t.reason.empty()) out += fmt::format("  ({})", t.reason);
    out += '\n';
  }
  return out;
}

std::string json_of(const RunState& state, const TaskFilter& filter) {
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter writer(out);
    write_task_list_json(state, filter, writer);
  }
  return text;
}

std::string text_of(const RunState& state, const TaskFilter& filter) {
  std::string text;
  {
    OutputBuffer out(text);
    write_task_list_text(state, filter, out);
  }
  return text;
}

std::vector<std::string> ids_in(const std::string& json) {
  const auto doc = nlohmann::json::parse(json);
  std::vector<std::string> out;
  for (const auto& t : doc.at("tasks")) out.push_back(t.at("id").get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("task list JSON and text are what they were, for every status filter") {
  const RunState state = sample_state();
  std::vector<std::optional<TaskStatus>> filters = {std::nullopt};
  for (const char* s : {"pending", "ready", "dispatched", "running", "succeeded", "failed",
                        "retrying", "blocked", "cancelled"}) {
    filters.push_back(parse_task_status(s));
  }
  for (const auto& only : filters) {
    INFO((only ? std::string(to_string(*only)) : std::string("all")));
    TaskFilter filter;
    filter.status = only;
    CHECK(json_of(state, filter) == reference_json(state, only).dump(2));
    CHECK(text_of(state, filter) == reference_text(state, only));
  }
}

TEST_CASE("the task list JSON parses back with every field of a task") {
  const RunState state = sample_state();
  const auto doc = nlohmann::json::parse(json_of(state, {}));
  CHECK(doc.at("version") == kJsonVersion);
  CHECK(doc.at("run_id") == "run-1");
  REQUIRE(doc.at("tasks").size() == 6);
  const auto& a1 = doc.at("tasks").at(0);
  CHECK(a1.at("id") == "a/1");
  CHECK(a1.at("feature") == "a");
  CHECK(a1.at("title") == "Do \"1\" — ünïcödé");
  CHECK(a1.at("domain") == "api");
  CHECK(a1.at("minutes") == 60);
  CHECK(a1.at("status") == "succeeded");
  CHECK(a1.at("attempt") == 1);
  CHECK(a1.at("worker") == "w0");
  CHECK(a1.at("files") == std::vector<std::string>{"src/a.py", "docs/ä.md"});
  CHECK(a1.at("dispatched_ms") == 10);
  CHECK(a1.at("started_ms") == 11);
  CHECK(a1.at("finished_ms") == 30);
  const auto& b1 = doc.at("tasks").at(2);
  CHECK(b1.at("status") == "retrying");
  CHECK(b1.at("reason") == "exit 1: \"quoted\" \\ \x01 <oops>");
}

TEST_CASE("task list filters by feature and status together, in plan order") {
  const RunState state = sample_state();
  TaskFilter filter;
  filter.feature = "a";
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"a/1", "a/2"});
  filter.status = TaskStatus::running;
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"a/2"});
  filter.feature = "b";
  CHECK(ids_in(json_of(state, filter)).empty());
  filter.feature = "no-such-feature";
  filter.status.reset();
  CHECK(ids_in(json_of(state, filter)).empty());
  filter.feature = "c";
  filter.status = TaskStatus::pending;
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"c/1"});
  const std::string text = text_of(state, filter);
  CHECK(text.find("c/1") != std::string::npos);
  CHECK(text.find("c/2") == std::string::npos);
}

TEST_CASE("task list --limit keeps the first N in plan order and says how many it left out") {
  const RunState state = sample_state();
  TaskFilter filter;
  filter.limit = 2;
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"a/1", "a/2"});
  const std::string text = text_of(state, filter);
  CHECK(text.find("b/1") == std::string::npos);
  CHECK(text.find("… and 4 more (--limit 2)\n") != std::string::npos);

  filter.status = TaskStatus::pending;
  filter.limit = 1;
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"b/2"});
  filter.limit = 0;
  CHECK(ids_in(json_of(state, filter)).empty());
  filter.limit = 100;
  CHECK(ids_in(json_of(state, filter)) == std::vector<std::string>{"b/2", "c/1"});
  CHECK(text_of(state, filter).find("more") == std::string::npos);
}
