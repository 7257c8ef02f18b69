#include "actors/worker/prompt_builder.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace br;

namespace {

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

Task task(const std::string& id, std::size_t description_words = 20) {
  Task t;
  t.id = TaskId(id);
  t.feature = FeatureId("links");
  t.title = "Build " + id;
  t.description = repeat("word ", description_words);
  t.depends_on = {TaskId("storage/01-database")};
  t.acceptance = criteria_of({"Saving twice updates the record", "`file: linkshelf/links.py`",
                              "contains: linkshelf/links.py ~ def save_link"});
  t.files = {"linkshelf/links.py", "linkshelf/api/links.py"};
  return t;
}

Batch batch(std::size_t overview_words = 30) {
  Batch b;
  b.id = BatchId("b-7");
  b.domain = Domain::backend;
  b.tasks = {BatchTask{task("links/02-backend"), 1}, BatchTask{task("links/03-api"), 2}};
  b.project = "Link Shelf: " + repeat("overview ", overview_words);
  b.completed = {CompletedWork{
      TaskId("storage/01-database"), "Schema", {"migrations/001_init.sql", "linkshelf/store.py"}}};
  return b;
}

std::vector<CompletedWork> history(std::size_t n) {
  std::vector<CompletedWork> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(CompletedWork{TaskId("old/" + std::to_string(i)),
                                "Old task " + std::to_string(i),
                                {"src/old_" + std::to_string(i) + ".py", "src/other.py"}});
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool cut_starts_with(const PromptResult& p, const std::string& prefix) {
  for (const auto& c : p.cut) {
    if (c.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Everything that may never be cut.
void check_mandatory(const std::string& text) {
  CHECK(contains(text, "### 1. links/02-backend: Build links/02-backend (attempt 1)"));
  CHECK(contains(text, "### 2. links/03-api: Build links/03-api (attempt 2)"));
  CHECK(contains(text, "- Saving twice updates the record"));
  CHECK(contains(text, "Expected files:\n- linkshelf/links.py\n- linkshelf/api/links.py\n"));
  CHECK(contains(text, "Depends on: storage/01-database"));
  CHECK(contains(text,
                 "## STOP POINT\nStop when these files exist and the criteria hold; do not "
                 "start other work."));
  CHECK(contains(text, "BR-BATCH: b-7\n"));
  CHECK(contains(text,
                 "BR-TASK: links/02-backend\nBR-ATTEMPT: 1\nBR-EXPECT-FILE: linkshelf/links.py\n"
                 "BR-EXPECT-FILE: linkshelf/api/links.py\nBR-CRITERION: file: linkshelf/links.py\n"
                 "BR-CRITERION: contains: linkshelf/links.py ~ def save_link\n"));
  CHECK(contains(text, "BR-TASK: links/03-api\nBR-ATTEMPT: 2\n"));
  CHECK(contains(text, "BR-END\n"));
}

}  // namespace

TEST_CASE("a prompt within budget has every section and nothing cut") {
  auto p = build_prompt(batch(), refs_to(history(2)));
  REQUIRE(p.ok());
  CHECK(p->cut.empty());
  CHECK(p->tokens == estimate_tokens(p->text));
  CHECK(p->tokens <= kDefaultTokenBudget);
  const std::string& t = p->text;
  check_mandatory(t);
  CHECK(contains(t, "## Project\nLink Shelf: overview"));
  CHECK(contains(t,
                 "## Finished dependencies\n- storage/01-database: Schema\n  files: "
                 "migrations/001_init.sql, linkshelf/store.py\n"));
  CHECK(contains(t, "## Other completed work\n- old/0: Old task 0\n"));
  // Sections in the documented order.
  CHECK(t.find("## Project") < t.find("## Tasks"));
  CHECK(t.find("## Tasks") < t.find("## Finished dependencies"));
  CHECK(t.find("## Finished dependencies") < t.find("## Other completed work"));
  CHECK(t.find("## Other completed work") < t.find("## STOP POINT"));
  CHECK(t.find("## STOP POINT") < t.find("BR-BATCH:"));
}

TEST_CASE("the prompt never exceeds its budget, and never loses the task list or criteria") {
  const Batch b = batch(400);
  const auto hist = history(300);
  std::size_t ok_count = 0;
  for (std::size_t budget = 100; budget <= 8000; budget += 37) {
    PromptOptions opt;
    opt.token_budget = budget;
    auto p = build_prompt(b, refs_to(hist), opt);
    INFO("budget " << budget);
    if (!p.ok()) {
      CHECK(contains(p.error().str(), "over the budget"));
      continue;
    }
    ++ok_count;
    CHECK(p->tokens <= budget);
    CHECK(estimate_tokens(p->text) <= budget);
    check_mandatory(p->text);
  }
  CHECK(ok_count > 150);
}

TEST_CASE(
    "over budget, completed work is cut before the overview, and the overview before "
    "descriptions") {
  Batch b = batch(100);
  b.tasks[0].task.description = repeat("alpha ", 100);
  b.tasks[1].task.description = repeat("beta ", 100);
  const auto hist = history(40);
  auto full = build_prompt(b, refs_to(hist), PromptOptions{100000, 100000});
  REQUIRE(full.ok());
  REQUIRE(full->cut.empty());

  // A little less than everything: only old context goes.
  auto p1 = build_prompt(b, refs_to(hist), PromptOptions{full->tokens - 50, 100000});
  REQUIRE(p1.ok());
  CHECK(cut_starts_with(*p1, "context old/0:"));
  CHECK_FALSE(cut_starts_with(*p1, "overview"));
  CHECK_FALSE(cut_starts_with(*p1, "description"));
  CHECK(contains(p1->text, "old/39"));  // the newest survives

  // Without room for context, the overview is shortened while descriptions stay whole.
  auto bare = b;
  bare.project.clear();
  bare.completed.clear();
  auto no_overview = build_prompt(bare, {}, PromptOptions{100000, 100000});
  REQUIRE(no_overview.ok());
  auto p2 = build_prompt(b, refs_to(hist), PromptOptions{no_overview->tokens + 60, 100000});
  REQUIRE(p2.ok());
  CHECK(cut_starts_with(*p2, "context: all 40 entries dropped"));
  CHECK(cut_starts_with(*p2, "dependency: all 1 entries dropped"));
  CHECK(cut_starts_with(*p2, "overview: shortened"));
  CHECK_FALSE(cut_starts_with(*p2, "description"));
  CHECK(contains(p2->text, repeat("alpha ", 99)));

  // Tighter still: the overview is gone and descriptions are shortened.
  auto p3 = build_prompt(b, refs_to(hist), PromptOptions{no_overview->tokens - 60, 100000});
  REQUIRE(p3.ok());
  CHECK(cut_starts_with(*p3, "overview: dropped"));
  CHECK(cut_starts_with(*p3, "description links/02-backend: shortened"));
  CHECK_FALSE(contains(p3->text, "## Project"));
  CHECK(p3->tokens <= no_overview->tokens - 60);
  check_mandatory(p3->text);
}

TEST_CASE("the overview is bounded even when the budget is large") {
  auto p = build_prompt(batch(2000), {}, PromptOptions{100000, 500});
  REQUIRE(p.ok());
  CHECK(cut_starts_with(*p, "overview: shortened to 500"));
  const auto start = p->text.find("## Project\n");
  const auto end = p->text.find("## Tasks");
  CHECK(end - start < 600);
}

TEST_CASE("a batch whose mandatory parts exceed the budget is an error") {
  auto p = build_prompt(batch(), {}, PromptOptions{50, 2000});
  REQUIRE_FALSE(p.ok());
  CHECK(contains(p.error().str(), "b-7"));
  CHECK(contains(p.error().str(), "over the budget of 50"));
}

TEST_CASE("an empty batch is an error") {
  Batch b;
  b.id = BatchId("b-empty");
  auto p = build_prompt(b, {});
  REQUIRE_FALSE(p.ok());
  CHECK(contains(p.error().str(), "no tasks"));
}

TEST_CASE("descriptions are cut on UTF-8 boundaries") {
  Batch b = batch(0);
  b.tasks[0].task.description = repeat("ü", 3000);
  b.tasks[1].task.description = repeat("é", 3000);
  auto p = build_prompt(b, {}, PromptOptions{2000, 100});
  REQUIRE(p.ok());
  CHECK(cut_starts_with(*p, "description links/02-backend: shortened"));
  // Every multi-byte sequence is complete: no lead byte followed by a non-continuation.
  const std::string& t = p->text;
  for (std::size_t i = 0; i + 1 < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c == 0xC3) CHECK((static_cast<unsigned char>(t[i + 1]) & 0xC0) == 0x80);
  }
}
