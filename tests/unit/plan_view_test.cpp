// `br plan`'s output written as a stream: the JSON document is byte for byte the one the
// nlohmann DOM gave (reference_plan_json below is that code), strings are escaped as JSON
// requires, and the JSON writer lays out documents as dump(2) does.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "actors/planner/decomposer.hpp"
#include "coordinator/json_writer.hpp"
#include "coordinator/plan_view.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/state_views.hpp"
#include "protocol/agent_route.hpp"
#include "protocol/config.hpp"

using namespace br;

namespace {

// The document as plan_json built it before it was streamed.
nlohmann::json reference_plan_json(const CheckedPlan& checked) {
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
                        {"done", f.done},
                        {"parent", f.parent.empty() ? nlohmann::json() : nlohmann::json(f.parent.str())},
                        {"line", f.line}});
  }
  nlohmann::json tasks = nlohmann::json::array();
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    const bool unchecked = std::find(checked.unchecked.begin(), checked.unchecked.end(), i) !=
                           checked.unchecked.end();
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
                     {"acceptance", criterion_texts(t.acceptance)},
                     {"checked", !unchecked},
                     {"files", t.files}});
  }
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& level : checked.graph->levels()) levels.push_back(ids(level));
  const CriticalPath path = checked.graph->critical_path();
  nlohmann::json batches = nlohmann::json::array();
  nlohmann::json batch_agents = nlohmann::json::array();
  for (const auto& b : plan_batches(checked)) {
    batches.push_back(ids(b));
    Complexity most = Complexity::simple;
    for (auto i : b) most = std::max(most, plan.tasks[i].complexity);
    batch_agents.push_back(route_for(checked.settings.agent, most, plan.tasks[b[0]].domain).name);
  }
  nlohmann::json agents = nlohmann::json::array();
  for (const auto& route : all_routes(checked.settings.agent)) {
    agents.push_back(
        {{"route", route.name}, {"table", route_table(route)}, {"command", route.command}});
  }
  return {{"version", kJsonVersion},
          {"agents", agents},
          {"batch_agents", batch_agents},
          {"title", plan.title},
          {"spec", checked.spec_path},
          {"strategy", std::string(to_string(checked.settings.strategy))},
          {"features", features},
          {"tasks", tasks},
          {"levels", levels},
          {"critical_path", {{"tasks", ids(path.tasks)}, {"minutes", path.minutes}}},
          {"batches", batches},
          {"unchecked_tasks", checked.unchecked.size()}};
}

std::string streamed_json(const CheckedPlan& checked) {
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter writer(out);
    write_plan_json(checked, writer);
  }
  return text;
}

CheckedPlan checked_of(const std::string& spec_text, Strategy strategy = Strategy::critical_path) {
  PlanSettings settings;
  settings.strategy = strategy;
  SpecFile file{spec_text, sha256_hex(spec_text)};
  auto checked = plan_spec(file, "spec.md", settings);
  INFO((checked.ok() ? std::string() : checked.error().str()));
  REQUIRE(checked.ok());
  return std::move(checked).value();
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A wide and deep spec: chains and fan-in across 60 features of every domain.
std::string wide_spec() {
  static const char* kWork[] = {"Store rows in a SQL table", "Business logic validates input",
                                "A REST endpoint returns JSON", "A dashboard page with a form",
                                "Deploy with docker"};
  std::string out = "# Wide\n\n## Features\n\n";
  for (int i = 0; i < 60; ++i) {
    out += "### Feature " + std::to_string(i) + " {#f" + std::to_string(i) + "}\n";
    out += "**Priority:** " + std::string(i % 3 == 0 ? "High" : "Low") + "\n";
    if (i > 0) out += "**Depends on:** #f" + std::to_string(i / 2) + "\n";
    out += "**Requirements:**\n- " + std::string(kWork[i % 5]) + "\n- " + kWork[(i * 7) % 5] + "\n";
    out += "**Acceptance Criteria:**\n- It works for " + std::to_string(i) + "\n\n";
  }
  return out;
}

}  // namespace

TEST_CASE("the streamed plan JSON is byte for byte the DOM's dump(2), for every fixture") {
  for (const char* name : {"trip-planner.md", "prd-driven-build.md", "build-3a-orchestration.md",
                           "build-4a-migration.md", "build-4e-routing.md", "build-monitor.md",
                           "completion-subfeatures.md"}) {
    for (Strategy strategy : {Strategy::critical_path, Strategy::priority, Strategy::shortest}) {
      INFO(name << " " << to_string(strategy));
      const CheckedPlan checked =
          checked_of(read(std::string(BR_FIXTURES_DIR) + "/specs/" + name), strategy);
      CHECK(streamed_json(checked) == reference_plan_json(checked).dump(2));
    }
  }
}

TEST_CASE("the streamed plan JSON of a wide spec equals the DOM's under tight batch limits") {
  PlanSettings settings;
  settings.strategy = Strategy::priority;
  settings.batch.max_tasks = 2;
  settings.batch.max_minutes = 120;
  const std::string text = wide_spec();
  auto checked = plan_spec(SpecFile{text, sha256_hex(text)}, "wide.md", settings);
  REQUIRE(checked.ok());
  CHECK(streamed_json(*checked) == reference_plan_json(*checked).dump(2));
  for (const auto& batch : plan_batches(*checked)) CHECK(batch.size() <= 2);
}

TEST_CASE("plan strings are escaped: quotes, backslashes, control characters, UTF-8 kept") {
  const std::string title = "Q \"quoted\" \\ back\\slash \x01\x1f\b\f\n\r\t \x7f é 🔴 漢字";
  CheckedPlan checked = checked_of("# P\n## Features\n### A\nBackend logic.\n");
  checked.plan.title = title;
  checked.plan.tasks[0].acceptance.push_back(prose_criterion("tab\there \"and\" C:\\path"));
  checked.plan.features[0].title = "ünïcödé — «ok»";
  const std::string text = streamed_json(checked);
  CHECK(text == reference_plan_json(checked).dump(2));
  CHECK(text.find("\\u0001\\u001f\\b\\f\\n\\r\\t") != std::string::npos);
  const auto doc = nlohmann::json::parse(text);
  CHECK(doc.at("title") == title);
  CHECK(doc.at("tasks").at(0).at("acceptance").back() == "tab\there \"and\" C:\\path");
  CHECK(doc.at("features").at(0).at("title") == "ünïcödé — «ok»");
  CHECK(doc.at("version") == kJsonVersion);
  CHECK(doc.at("spec") == "spec.md");
  CHECK(doc.at("features").at(0).at("parent").is_null());
}

TEST_CASE("bytes that are not UTF-8 are written as U+FFFD, so the document still parses") {
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter writer(out);
    writer.begin_array();
    writer.value(std::string("a\xff" "b\xc3(\xe2\x82"));  // bad byte, bad continuation, cut short
    writer.value(std::string("\xed\xa0\x80"));           // a UTF-16 surrogate
    writer.end_array();
  }
  const auto doc = nlohmann::json::parse(text);
  CHECK(doc.at(0) == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(doc.at(1) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("the JSON writer lays documents out as nlohmann's dump(2)") {
  nlohmann::json expected = {
      {"a", nlohmann::json::array()},
      {"b", nlohmann::json::object()},
      {"c", {1, -2, nullptr, true, false}},
      {"d", {{"x", std::int64_t{-9223372036854775807} - 1}, {"y", 18446744073709551615ull}}},
      {"e", {nlohmann::json::array(), {nlohmann::json::array()}, {{"k", "v"}}}},
      {"f", ""}};
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter w(out);
    w.begin_object();
    w.key("a").begin_array();
    w.end_array();
    w.key("b").begin_object();
    w.end_object();
    w.key("c").begin_array();
    w.value(1);
    w.value(-2);
    w.null();
    w.value(true);
    w.value(false);
    w.end_array();
    w.key("d").begin_object();
    w.key("x").value(std::int64_t{-9223372036854775807} - 1);
    w.key("y").value(18446744073709551615ull);
    w.end_object();
    w.key("e").begin_array();
    w.begin_array();
    w.end_array();
    w.begin_array();
    w.begin_array();
    w.end_array();
    w.end_array();
    w.begin_object();
    w.key("k").value("v");
    w.end_object();
    w.end_array();
    w.key("f").value("");
    w.end_object();
  }
  CHECK(text == expected.dump(2));
}

TEST_CASE("every control character is escaped as dump() escapes it") {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all += static_cast<char>(c);
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter writer(out);
    writer.value(all);
  }
  CHECK(text == nlohmann::json(all).dump(2));
  CHECK(nlohmann::json::parse(text) == all);
}

TEST_CASE("a document bigger than the buffer arrives whole, in order") {
  std::string text;
  {
    OutputBuffer out(text);
    JsonWriter writer(out);
    writer.begin_array();
    for (int i = 0; i < 50000; ++i) writer.value("item " + std::to_string(i));
    writer.end_array();
  }
  const auto doc = nlohmann::json::parse(text);
  REQUIRE(doc.size() == 50000);
  CHECK(doc.at(49999) == "item 49999");
}

TEST_CASE("the plan text lists features, levels, the critical path and batches") {
  const CheckedPlan checked = checked_of(wide_spec(), Strategy::shortest);
  std::string text;
  {
    OutputBuffer out(text);
    write_plan_text(checked, out);
  }
  CHECK(text.rfind("Wide\n60 features, ", 0) == 0);
  CHECK(text.find("\nLevels (tasks in a level can run in parallel)\n    1: f0/01-schema") !=
        std::string::npos);
  CHECK(text.find("  high     f3  (after f1)\n") != std::string::npos);
  CHECK(text.find("\nCritical path: ") != std::string::npos);
  CHECK(text.find("\nBatches (shortest strategy, " + std::to_string(plan_batches(checked).size()) +
                  " batches)\n    1. [") != std::string::npos);
}

TEST_CASE("the plan text counts and marks the tasks nothing machine-checks") {
  const CheckedPlan checked =
      checked_of("# P\n## Features\n### A\n**Acceptance Criteria:**\n- file: a.py\n"
                 "### B\n**Description:** Does stuff.\n");
  std::string text;
  {
    OutputBuffer out(text);
    write_plan_text(checked, out);
  }
  // a/01-backend has its file: criterion; every other task has only prose.
  CHECK(text.find("\n5 tasks with nothing machine-checkable (marked unchecked") !=
        std::string::npos);
  CHECK(text.find(" a/01-backend [backend 60m] ") != std::string::npos);
  CHECK(text.find(" b/01-backend [backend 60m unchecked]") != std::string::npos);
  const auto doc = nlohmann::json::parse(streamed_json(checked));
  CHECK(doc["unchecked_tasks"] == 5);
  CHECK(doc["tasks"][0]["checked"] == true);
  CHECK(doc["tasks"][3]["checked"] == false);
}

TEST_CASE("a character to escape is found at any offset of a long string") {
  for (const std::string special : {"\x01", "\"", "\\", "\x1f", "\x7f", " ", "é", "🔴", "\xff"}) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string s(20, 'a');
      s.replace(at, 1, special);
      INFO(at << " " << special);
      std::string text;
      {
        OutputBuffer out(text);
        JsonWriter writer(out);
        writer.value(s);
      }
      if (special == "\xff") {
        CHECK(nlohmann::json::parse(text).get<std::string>().find("\xEF\xBF\xBD") == at);
      } else {
        CHECK(text == nlohmann::json(s).dump(2));
      }
    }
  }
}

TEST_CASE("br plan shows the agent route and command of every batch, text and JSON") {
  auto config = parse_config(
      "[run]\nbatch_max_tasks = 3\n"
      "[agent]\ncommand = [\"claude\", \"-p\"]\n"
      "[agent.simple]\ncommand = [\"cheap-agent\"]\n"
      "[agent.complex]\ncommand = [\"strong-agent\", \"--think\"]\n"
      "[agent.domains.docs]\ncommand = [\"docs-agent\"]\n",
      "br.toml", "");
  REQUIRE(config.ok());
  auto settings = plan_settings(*config);
  REQUIRE(settings.ok());
  const std::string spec =
      "# P\n## Features\n### Easy {#easy}\n**Complexity:** Simple\nBusiness logic.\n"
      "### Hard {#hard}\n**Complexity:** Complex\nBusiness logic.\n"
      "### Plain {#plain}\nBusiness logic.\n";
  auto checked = plan_spec(SpecFile{spec, sha256_hex(spec)}, "spec.md", *settings);
  REQUIRE(checked.ok());
  const auto doc = nlohmann::json::parse(streamed_json(*checked));
  CHECK(streamed_json(*checked) == reference_plan_json(*checked).dump(2));
  REQUIRE(doc["batch_agents"].size() == doc["batches"].size());
  std::map<std::string, std::string> complexity_of;
  std::map<std::string, std::string> domain_of;
  for (const auto& t : doc["tasks"]) {
    complexity_of[t["id"]] = t["complexity"];
    domain_of[t["id"]] = t["domain"];
  }
  std::set<std::string> seen;
  for (std::size_t b = 0; b < doc["batches"].size(); ++b) {
    const auto& batch = doc["batches"][b];
    std::set<std::string> complexities;
    for (const auto& id : batch) complexities.insert(complexity_of[id]);
    const std::string route = doc["batch_agents"][b];
    seen.insert(route);
    INFO(batch.dump() << " → " << route);
    if (domain_of[batch[0]] == "docs") {
      CHECK(route == "domain:docs");
    } else if (complexities.count("complex") != 0) {
      CHECK(route == "complex");  // a mixed batch takes its most complex task's route
    } else if (complexities.count("medium") != 0) {
      CHECK(route == "default");
    } else {
      CHECK(route == "simple");
    }
  }
  CHECK(seen.count("domain:docs") == 1);
  CHECK(seen.count("complex") == 1);
  REQUIRE(doc["agents"].size() == 4);
  CHECK(doc["agents"][0] == nlohmann::json{{"route", "default"},
                                           {"table", "[agent]"},
                                           {"command", {"claude", "-p"}}});
  CHECK(doc["agents"][2]["command"] == nlohmann::json{"strong-agent", "--think"});

  std::string text;
  {
    OutputBuffer out(text);
    write_plan_text(*checked, out);
  }
  INFO(text);
  CHECK(text.find("  → domain:docs\n") != std::string::npos);
  CHECK(text.find("  → complex\n") != std::string::npos);
  CHECK(text.find("\nAgents (a batch takes the route of its domain, else of its most complex "
                  "task)\n  default        claude -p\n  simple         cheap-agent\n"
                  "  complex        strong-agent --think\n  domain:docs    docs-agent\n") !=
        std::string::npos);
}

TEST_CASE("without route tables the plan text has no agent column") {
  const CheckedPlan checked = checked_of("# P\n## Features\n### A\nBusiness logic.\n");
  std::string text;
  {
    OutputBuffer out(text);
    write_plan_text(checked, out);
  }
  CHECK(text.find("→") == std::string::npos);
  CHECK(text.find("\nAgents") == std::string::npos);
  const auto doc = nlohmann::json::parse(streamed_json(checked));
  for (const auto& route : doc["batch_agents"]) CHECK(route == "default");
}
