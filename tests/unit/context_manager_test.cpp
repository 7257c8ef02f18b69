#include "actors/worker/context_manager.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <fstream>
#include <string>

#include "../support/temp_dir.hpp"

using namespace br;

namespace {

CompletedWork work(const std::string& id, std::size_t files) {
  CompletedWork w{TaskId(id), "Title of " + id, {}};
  for (std::size_t i = 0; i < files; ++i) {
    w.files.push_back("src/" + id + "/module_" + std::to_string(i) + ".py");
  }
  return w;
}

bool has_cut(const FittedContext& f, const std::string& line) {
  for (const auto& c : f.cut) {
    if (c == line) return true;
  }
  return false;
}

std::vector<CompletedWork> entries_of(const ContextManager& cm) {
  return {cm.entries().begin(), cm.entries().end()};
}

// The fitting rules done the plain way, over every entry (as before fit_context learned to
// skip the entries that could never fit): full → summary oldest first, then dropped oldest
// first, with one "omitted" line.
std::string reference_fit(const std::vector<CompletedWork>& all, std::size_t max_bytes) {
  const std::string head = "## Completed work\n";
  const auto full = [](const CompletedWork& w) {
    std::string out = "- " + w.task.str() + ": " + w.title + "\n";
    if (w.files.empty()) return out;
    out += "  files: ";
    for (std::size_t i = 0; i < w.files.size() && i < 20; ++i) out += (i ? ", " : "") + w.files[i];
    if (w.files.size() > 20) out += " (+" + std::to_string(w.files.size() - 20) + " more)";
    return out + "\n";
  };
  const auto summary = [](const CompletedWork& w) {
    return "- " + w.task.str() + ": " + w.title + " (" + std::to_string(w.files.size()) +
           (w.files.size() == 1 ? " file)\n" : " files)\n");
  };
  const auto omitted = [](std::size_t n) {
    return n == 0 ? std::string()
                  : "- (" + std::to_string(n) + (n == 1 ? " older entry omitted)\n"
                                                        : " older entries omitted)\n");
  };
  std::vector<std::string> text;
  for (const auto& w : all) text.push_back(full(w));
  std::size_t dropped = 0;
  const auto total = [&] {
    std::size_t n = head.size() + omitted(dropped).size();
    for (std::size_t i = dropped; i < text.size(); ++i) n += text[i].size();
    return n;
  };
  for (std::size_t i = 0; i < all.size() && total() > max_bytes; ++i) {
    if (summary(all[i]).size() < text[i].size()) text[i] = summary(all[i]);
  }
  while (dropped < all.size() && total() > max_bytes) ++dropped;
  if (dropped == all.size()) return "";
  std::string out = head + omitted(dropped);
  for (std::size_t i = dropped; i < text.size(); ++i) out += text[i];
  return out;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("tokens are estimated as ceil(bytes / 4)") {
  CHECK(estimate_tokens(std::string_view("")) == 0);
  CHECK(estimate_tokens(std::string_view("a")) == 1);
  CHECK(estimate_tokens(std::string_view("abcd")) == 1);
  CHECK(estimate_tokens(std::string_view("abcde")) == 2);
  CHECK(bytes_for_tokens(kDefaultTokenBudget) == 16000);
}

TEST_CASE("context within budget is rendered in full with nothing cut") {
  ContextManager cm;
  cm.record(work("a/01", 2));
  cm.record(work("a/02", 1));
  const auto f = cm.render(1000);
  CHECK(f.cut.empty());
  CHECK(f.text.find("## Completed work") == 0);
  CHECK(
      f.text.find("- a/01: Title of a/01\n  files: src/a/01/module_0.py, src/a/01/module_1.py\n") !=
      std::string::npos);
  CHECK(f.text.find("- a/02: Title of a/02\n") != std::string::npos);
}

TEST_CASE("the budget is never exceeded and every cut is reported") {
  ContextManager cm;
  for (int i = 0; i < 200; ++i) cm.record(work("t/" + std::to_string(i), 5));
  for (std::size_t budget : {0, 1, 5, 10, 20, 50, 100, 400, 1000, 4000, 20000}) {
    const auto f = cm.render(budget);
    INFO("budget " << budget);
    CHECK(estimate_tokens(f.text) <= budget);
    if (budget < 20000) CHECK_FALSE(f.cut.empty());
  }
  CHECK(cm.render(100000).cut.empty());
}

TEST_CASE(
    "over budget, the oldest entries are compressed first: full, then summary, then dropped") {
  ContextManager cm;
  cm.record(work("a/01", 10));
  cm.record(work("a/02", 10));
  cm.record(work("a/03", 10));
  const auto all = cm.render(100000);
  REQUIRE(all.cut.empty());

  // Enough for two summaries and one full entry: the newest stays full.
  const std::size_t full_bytes = all.text.size();
  const auto partial = fit_context(entries_of(cm), "## Completed work", full_bytes - 20);
  CHECK(has_cut(partial, "context a/01: shortened to a summary"));
  CHECK(partial.text.find("- a/01: Title of a/01 (10 files)\n") != std::string::npos);
  CHECK(partial.text.find("- a/03: Title of a/03\n  files: ") != std::string::npos);

  // Only room for about two one-line summaries: the oldest is dropped.
  const auto tight = fit_context(entries_of(cm), "## Completed work", 100);
  CHECK(tight.text.size() <= 100);
  CHECK(has_cut(tight, "context a/01: dropped"));
  CHECK(tight.text.find("a/01") == std::string::npos);
  CHECK(tight.text.find(" omitted)\n") != std::string::npos);
  CHECK(tight.text.find("a/03") != std::string::npos);

  // No room at all: everything dropped, and said so.
  const auto none = fit_context(entries_of(cm), "## Completed work", 10);
  CHECK(none.text.empty());
  REQUIRE(none.cut.size() == 1);
  CHECK(none.cut[0] == "context: all 3 entries dropped to fit the budget");
}

TEST_CASE("recording a task again replaces its entry and makes it the newest") {
  ContextManager cm(2);
  cm.record(work("a/01", 1));
  cm.record(work("a/02", 1));
  cm.record(work("a/01", 3));
  REQUIRE(cm.entries().size() == 2);
  CHECK(cm.entries()[0].task == TaskId("a/02"));
  CHECK(cm.entries()[1].files.size() == 3);
  cm.record(work("a/03", 1));  // over the limit: the oldest goes
  REQUIRE(cm.entries().size() == 2);
  CHECK(cm.entries()[0].task == TaskId("a/01"));
}

TEST_CASE("relevant context leaves out the batch's own tasks and listed dependencies") {
  ContextManager cm;
  cm.record(work("a/01", 1));
  cm.record(work("a/02", 1));
  cm.record(work("b/01", 1));
  Batch b;
  b.tasks = {BatchTask{Task{}, 1}};
  b.tasks[0].task.id = TaskId("a/02");
  b.completed = {work("a/01", 1)};
  const auto rel = cm.relevant_to(b);
  REQUIRE(rel.entries.size() == 1);
  CHECK(rel.entries[0]->task == TaskId("b/01"));
  CHECK(rel.older == 0);
}

TEST_CASE("context survives a save and load round trip, escapes included") {
  test::TempDir dir("br-ctx");
  ContextManager cm;
  cm.record(
      CompletedWork{TaskId("a/01"), "Tabs\tand\nnewlines \\ and ünïcödé", {"a b.py", "c\td"}});
  cm.record(CompletedWork{TaskId("a/02"), "", {}});
  cm.record(work("a/03", 3));
  REQUIRE(cm.save(dir.path() / "state").ok());
  CHECK_FALSE(std::filesystem::exists(dir.path() / "state" /
                                      ("context.txt.tmp-" + std::to_string(::getpid()))));

  auto loaded = ContextManager::load(dir.path() / "state");
  REQUIRE(loaded.ok());
  REQUIRE(loaded->entries().size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(loaded->entries()[i] == cm.entries()[i]);
}

TEST_CASE("a missing context file loads as empty context") {
  test::TempDir dir("br-ctx");
  auto loaded = ContextManager::load(dir.path());
  REQUIRE(loaded.ok());
  CHECK(loaded->entries().empty());
}

TEST_CASE("a corrupt context file is an error naming the line") {
  test::TempDir dir("br-ctx");
  const std::string file = dir / "context.txt";
  struct Case {
    std::string text;
    std::uint32_t line;
  };
  const Case cases[] = {
      {"not a header\n", 1},
      {"br-context 1\ntask\ta/01\tTitle\nbogus\tx\n", 3},
      {"br-context 1\nfile\tx.py\n", 2},
      {"br-context 1\ntask\ta/01\tbad \\q escape\n", 2},
      {"br-context 1\ntask\ta/01\n", 2},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    write(file, c.text);
    auto loaded = ContextManager::load(dir.path());
    REQUIRE_FALSE(loaded.ok());
    REQUIRE(loaded.error().diagnostics.size() == 1);
    CHECK(loaded.error().diagnostics[0].line == c.line);
    CHECK(loaded.error().str().find("corrupt") != std::string::npos);
  }
}

TEST_CASE("a long memory costs a batch what a short one does, and fits the same text") {
  ContextManager cm;
  for (int i = 0; i < 3000; ++i) cm.record(work("t/" + std::to_string(i), i % 4));
  const std::vector<CompletedWork> all = entries_of(cm);
  for (std::size_t budget : {std::size_t{5}, std::size_t{100}, std::size_t{1000}}) {
    INFO("budget " << budget);
    const std::size_t bytes = bytes_for_tokens(budget);
    // Only the newest entries that could fit are even looked at...
    Batch batch;
    const RelevantContext rel = cm.relevant_to(batch, budget);
    // (the newest whose shortest forms fill the budget: all but the oldest taken fit in it,
    // and with it they overflow, unless nothing is older)
    std::size_t shortest = 0;
    for (const CompletedWork* e : rel.entries) shortest += ContextManager::min_entry_bytes(*e);
    REQUIRE_FALSE(rel.entries.empty());
    CHECK(shortest - ContextManager::min_entry_bytes(*rel.entries.front()) <= bytes);
    CHECK((shortest > bytes || rel.older == 0));
    CHECK(rel.entries.size() < all.size());
    CHECK(rel.entries.size() + rel.older == all.size());
    CHECK(rel.entries.back()->task == TaskId("t/2999"));
    // ...and the text is what fitting every entry gives.
    const FittedContext fitted = fit_context(rel.entries, "## Completed work", bytes, "context",
                                             rel.older);
    CHECK(fitted.text == reference_fit(all, bytes));
    CHECK(fit_context(all, "## Completed work", bytes).text == reference_fit(all, bytes));
    // The entries left out unseen are cut as one line, not one line each.
    const auto older_line = std::count_if(fitted.cut.begin(), fitted.cut.end(), [](auto& c) {
      return c.rfind("context: ", 0) == 0 && c.find(" older entries dropped") != std::string::npos;
    });
    CHECK(older_line == (fitted.text.empty() ? 0 : 1));
    CHECK(fitted.cut.size() < 200);
  }
  // Left out of the count: the batch's own tasks and listed dependencies, wherever they are.
  Batch batch;
  batch.tasks = {BatchTask{Task{}, 1}};
  batch.tasks[0].task.id = TaskId("t/5");
  batch.completed = {work("t/2998", 0)};
  const RelevantContext rel = cm.relevant_to(batch, 100);
  CHECK(rel.entries.size() + rel.older == all.size() - 2);
}
