#include <catch2/catch.hpp>
#include <random>

#include "actors/planner/spec_parser.hpp"

using namespace br;

namespace {

Spec must_parse(const std::string& text) {
  auto spec = parse_spec(text, "spec.md");
  INFO((spec.ok() ? std::string() : spec.error().str()));
  REQUIRE(spec.ok());
  return spec.value();
}

Spec fixture(const std::string& name) {
  auto spec = parse_spec_file(std::string(BR_FIXTURES_DIR) + "/specs/" + name);
  INFO((spec.ok() ? std::string() : spec.error().str()));
  REQUIRE(spec.ok());
  return spec.value();
}

std::vector<std::string> ids(const Spec& spec) {
  std::vector<std::string> out;
  for (const auto& f : spec.features) out.push_back(f.id.str());
  return out;
}

std::string parse_error(const std::string& text) {
  auto spec = parse_spec(text, "spec.md");
  REQUIRE_FALSE(spec.ok());
  return spec.error().str();
}

}  // namespace

TEST_CASE("trip-planner: emoji headings under Features, bold fields, to-be-defined criteria") {
  const Spec spec = fixture("trip-planner.md");
  CHECK(spec.title == "New Project - Product Requirements Document");
  CHECK(ids(spec) == std::vector<std::string>{
                         "trail-run-management", "meal-planning-assignment",
                         "dynamic-checklist-system", "park-information-hub", "task-job-assignment",
                         "daily-agenda-view", "user-profile-invitation-system"});
  const std::vector<Priority> priorities = {Priority::high,   Priority::high, Priority::high,
                                            Priority::medium, Priority::medium, Priority::high,
                                            Priority::medium};
  for (std::size_t i = 0; i < priorities.size(); ++i) {
    CHECK(spec.features[i].priority == priorities[i]);
    CHECK(spec.features[i].depends_on.empty());
    CHECK(spec.features[i].acceptance.empty());  // every one is "To be defined"
  }
  CHECK(spec.features[0].line == 8);
  CHECK_THAT(spec.features[0].description, Catch::StartsWith("Create and manage trail runs"));
}

TEST_CASE("prd-driven-build: '## Feature N:' with sub-heading fields") {
  const Spec spec = fixture("prd-driven-build.md");
  CHECK(ids(spec) == std::vector<std::string>{"prd-controller", "adaptive-planner", "sync-layer",
                                              "broadcast-test-feature"});
  CHECK(spec.features[0].priority == Priority::critical);
  CHECK(spec.features[3].priority == Priority::medium);
  CHECK_FALSE(spec.features[0].description.empty());
  CHECK_FALSE(spec.features[0].requirements.empty());
  CHECK_FALSE(spec.features[0].acceptance.empty());
  for (const auto& f : spec.features) CHECK(f.depends_on.empty());
}

TEST_CASE("build-3a: '### Feature:' with complexity and files") {
  const Spec spec = fixture("build-3a-orchestration.md");
  CHECK(ids(spec) == std::vector<std::string>{
                         "build-orchestrator-enhancement", "gap-analyzer-and-completion-assurance",
                         "code-quality-system", "architecture-drift-prevention"});
  CHECK(spec.features[0].complexity == Complexity::complex);
  CHECK(spec.features[2].complexity == Complexity::medium);
  CHECK(spec.features[3].files == std::vector<std::string>{
                                      "core/architecture_guard.py", "core/spec_validator.py",
                                      "core/diff_analyzer.py", "tests/test_architecture_guard.py"});
  // "**Dependencies:** Requires Gap Analyzer" is prose, not "Depends on": kept as context.
  CHECK(spec.features[3].depends_on.empty());
  CHECK_THAT(spec.features[3].context, Catch::Contains("Requires Gap Analyzer"));
  for (const auto& f : spec.features) CHECK(f.priority == Priority::medium);
}

TEST_CASE("build-4a: numbered feature headings, files to create, code blocks in features") {
  const Spec spec = fixture("build-4a-migration.md");
  CHECK(ids(spec) == std::vector<std::string>{
                         "migration-command-interface", "legacy-structure-parser",
                         "format-converter", "git-history-preservation", "edge-case-handling",
                         "comprehensive-testing", "documentation"});
  CHECK(spec.features[0].files == std::vector<std::string>{"cli/migrate.py"});
  CHECK(spec.features[0].acceptance.size() == 5);
  CHECK(spec.features[0].acceptance[0] == "Command executes successfully on BR 2.0 projects");
}

TEST_CASE("build-4e: '#' lines inside code blocks are not headings") {
  const Spec spec = fixture("build-4e-routing.md");
  CHECK(spec.features.size() == 8);
  CHECK(spec.features.front().id.str() == "multi-model-router");
  CHECK(spec.features.back().id.str() == "testing-documentation");
  CHECK(spec.features[5].id.str() == "core-security-quality-safeguards-tier-1-only");
}

TEST_CASE("build-monitor: complexity with minutes, many features") {
  const Spec spec = fixture("build-monitor.md");
  REQUIRE(spec.features.size() == 16);
  CHECK(spec.features[0].id.str() == "build-state-store-zustand");
  CHECK(spec.features[0].priority == Priority::high);
  CHECK(spec.features[0].complexity == Complexity::medium);
  CHECK(spec.features[0].minutes == 90);
  CHECK(spec.features[3].minutes == 120);
  CHECK(spec.features[7].priority == Priority::medium);  // Progress Sidebar
  CHECK(spec.features[15].id.str() == "prd-builder-start-build-button");
}

TEST_CASE("completion-subfeatures: '#### N.M' sub-features inherit their parent") {
  const Spec spec = fixture("completion-subfeatures.md");
  REQUIRE(spec.features.size() == 23);  // 5 features, 18 sub-features
  CHECK(spec.features[0].id.str() == "design-system-implementation");
  CHECK(spec.features[1].id.str() == "design-system-implementation.1-1");
  CHECK(spec.features[1].parent.str() == "design-system-implementation");
  CHECK(spec.features[1].title == "Industry Profiles (8 total)");
  CHECK(spec.features[1].priority == spec.features[0].priority);
  std::size_t subs = 0;
  for (const auto& f : spec.features) subs += f.parent.empty() ? 0 : 1;
  CHECK(subs == 18);
}

TEST_CASE("ids: explicit, kebab-case, accents folded, emoji and punctuation dropped") {
  CHECK(slugify("Meal Planning & Assignment") == "meal-planning-assignment");
  CHECK(slugify("Café Résumé Überblick") == "cafe-resume-uberblick");
  CHECK(slugify("🔴 User's Profile!!") == "users-profile");
  const Spec spec = must_parse("# P\n## Features\n### Trails {#trails}\n### Login [AUTH-1]\n"
                               "### 🟢 Plain Title\n");
  CHECK(ids(spec) == std::vector<std::string>{"trails", "AUTH-1", "plain-title"});
  CHECK(spec.features[2].priority == Priority::low);
}

TEST_CASE("fields: bold, plain, sub-heading, lists, aliases, dependencies by id and title") {
  const Spec spec = must_parse(R"(# Shop
## Overview
A small shop.
**Version:** 2

## Features

### Catalog {#catalog}
Priority: Critical
**Domain:** database
**Requirements:**
- Products have prices
- Products have stock
**Success Criteria:**
- `file: db/schema.sql`
- contains: db/schema.sql ~ CREATE TABLE
**Files to Modify:**
- `db/schema.sql` (new)
  - a note, not a file
**Implementation Details:**
- Use SQLite
**Owner:** team-a

### Cart
**Depends on:** #catalog, Catalog
**Complexity:** Medium (90 min)
#### Description
Customers fill a cart.
)");
  REQUIRE(spec.features.size() == 2);
  const Feature& catalog = spec.features[0];
  CHECK(catalog.priority == Priority::critical);
  CHECK(catalog.domain == Domain::database);
  CHECK(catalog.requirements == std::vector<std::string>{"Products have prices", "Products have stock"});
  CHECK(catalog.acceptance ==
        std::vector<std::string>{"`file: db/schema.sql`", "contains: db/schema.sql ~ CREATE TABLE"});
  CHECK(catalog.files == std::vector<std::string>{"db/schema.sql"});
  CHECK(catalog.technical == std::vector<std::string>{"Use SQLite"});
  CHECK_THAT(catalog.context, Catch::Contains("**Owner:** team-a"));
  const Feature& cart = spec.features[1];
  CHECK(cart.depends_on == std::vector<FeatureId>{FeatureId("catalog")});
  CHECK(cart.complexity == Complexity::medium);
  CHECK(cart.minutes == 90);
  CHECK(cart.description == "Customers fill a cart.");
  CHECK_THAT(spec.overview, Catch::Contains("A small shop."));
}

TEST_CASE("spec errors are all reported in one pass, in line order") {
  const std::string text = "# P\n## Features\n### A\n**Priority:** urgent\n"
                           "**Depends on:** Bee\n### B\n### A\n";
  CHECK(parse_error(text) ==
        "spec.md:4: invalid priority 'urgent'; use critical, high, medium or low\n"
        "spec.md:5: feature 'a' depends on unknown feature 'Bee'; did you mean 'b'?\n"
        "spec.md:7: duplicate feature id 'a' (first defined on line 3); give one of them an "
        "explicit id such as {#a-2}");
}

TEST_CASE("each kind of spec error has its message") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"# P\n## Overview\nNothing here.\n",
       "spec.md:1: no features found; write each feature as a level-3 heading under "
       "'## Features' (### Title) or as '## Feature 1: Title'"},
      {"# P\n## Features\n### A\n**Depends on:** C\n### B\n**Depends on:** A\n### C\n"
       "**Depends on:** B\n",
       "spec.md:3: dependency cycle: a -> c -> b -> a (each feature depends on the next)"},
      {"# P\n## Features\n### A\n**Depends on:** A\n",
       "spec.md:4: feature 'a' depends on itself"},
      {"# P\n## Features\n### A\n**Depends on:** zzzzzzzzzz\n",
       "spec.md:4: feature 'a' depends on unknown feature 'zzzzzzzzzz'; known ids are listed by "
       "`br plan`"},
      {"# P\n## Features\n### A\n**Domain:** mobile\n",
       "spec.md:4: invalid domain 'mobile'; use database, backend, api, frontend, ui, infra, docs "
       "or test"},
      {"# P\n## Features\n### A {#}\n", "spec.md:3: empty feature id in '{#}'; write {#some-id} "
                                         "or leave it out"},
      {std::string("# P\n## Features\n### A\nbad \xff byte\n"),
       "spec.md:4: not UTF-8 text (invalid byte 0xff); save the spec as UTF-8"},
      {std::string("# P\n## Features\n### A\nBusiness \0logic.\n", 39),
       "spec.md:4: a NUL byte (0x00); a spec is UTF-8 text, is this the right file?"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(parse_error(c.text) == c.error);
  }
}

TEST_CASE("a spec over the size limit is refused before parsing") {
  ParseLimits limits;
  limits.max_bytes = 100;
  auto spec = parse_spec(std::string(101, 'x'), "big.md", limits);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.error().str() == "big.md: spec is 101 bytes, larger than the limit of 100 bytes; "
                              "raise limits.spec_max_bytes in br.toml or split the spec");
}

TEST_CASE("a missing spec file is an error naming it") {
  CHECK(parse_spec_file("/nonexistent/spec.md").error().str() ==
        "/nonexistent/spec.md: cannot read the spec (does the file exist?)");
}

TEST_CASE("any bytes: no crash, no hang") {
  std::mt19937_64 rng(42);
  const std::string base = "# P\n## Features\n### A {#a}\n**Depends on:** b\n```\n# x\n"
                           "### B {#b}\n- item\n#### 1.2 Sub\n**Priority:** low\n";
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    for (int k = 0; k < 6; ++k) {
      const std::size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(at, 1, static_cast<char>(rng())); break;
        case 1: if (!text.empty()) text.erase(at == text.size() ? at - 1 : at, 1); break;
        default: text.insert(at, "\n#### ", 6); break;
      }
    }
    auto spec = parse_spec(text, "fuzz.md");
    if (spec.ok()) CHECK_FALSE(spec->features.empty());
  }
  // Pathological shapes.
  CHECK_FALSE(parse_spec("", "e.md").ok());
  CHECK_FALSE(parse_spec(std::string(1 << 20, '#'), "h.md").ok());
  CHECK_FALSE(parse_spec("```\n### Not a feature\n", "f.md").ok());
  std::string deep = "# P\n## Features\n";
  for (int i = 0; i < 20000; ++i) {
    deep += "### F" + std::to_string(i) + "\n";
    if (i > 0) deep += "**Depends on:** f" + std::to_string(i - 1) + "\n";
  }
  auto chain = parse_spec(deep, "deep.md");
  REQUIRE(chain.ok());
  CHECK(chain->features.size() == 20000);
}

TEST_CASE("repeated dependencies are kept once, in the order first named") {
  std::string text = "# P\n## Features\n### A\n### B\n### C\n### D\n**Depends on:** ";
  for (int i = 0; i < 2000; ++i) text += i % 3 == 0 ? "#c, " : i % 3 == 1 ? "A, " : "`b`, ";
  text += "#a\n";
  auto spec = parse_spec(text, "spec.md");
  REQUIRE(spec.ok());
  std::vector<std::string> deps;
  for (const auto& d : spec->features[3].depends_on) deps.push_back(d.str());
  CHECK(deps == std::vector<std::string>{"c", "a", "b"});
}

TEST_CASE("field names match in any case, with trailing colons and spaces, and nothing more") {
  auto spec = parse_spec("# P\n## Features\n### A\n**PRIORITY::** high\n**Depends On :** B\n"
                         "Files To Create: \n- `src/a.py`\n**Prioritys:** low\n### B\n",
                         "spec.md");
  REQUIRE(spec.ok());
  const Feature& a = spec->features[0];
  CHECK(a.priority == Priority::high);
  REQUIRE(a.depends_on.size() == 1);
  CHECK(a.depends_on[0].str() == "b");
  CHECK(a.files == std::vector<std::string>{"src/a.py"});
  CHECK(a.context.find("Prioritys") != std::string::npos);  // unknown field: kept as context
}

TEST_CASE("a byte that is not UTF-8 is found at any offset, after any ASCII and UTF-8") {
  for (std::size_t at = 0; at < 40; ++at) {
    for (const char* bad : {"\xff", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf"}) {
      std::string text = "# P\n## Features\n### A é\n" + std::string(at, 'x') + "\n";
      text += std::string("y") + bad + "\n";
      auto spec = parse_spec(text, "spec.md");
      INFO(at << " " << bad);
      REQUIRE_FALSE(spec.ok());
      CHECK(spec.error().str().rfind("spec.md:5: not UTF-8 text (invalid byte 0x", 0) == 0);
    }
  }
}

TEST_CASE("phase-plan: phases are features, done phases are done, Blocked by and the table") {
  // Expected before it ran: five phases; 1 and 2 done; 3 after 1 and 2, 4 after 1, 5 after 3
  // and 4 (fields and the parallelization table agree); phase 3's checked deliverable is
  // context, its three open ones requirements, its Success line a criterion; inline Files
  // keep every path without (NEW)/(MODIFY).
  const Spec spec = fixture("phase-plan.md");
  CHECK(ids(spec) == std::vector<std::string>{"blob-store", "digest-pinning",
                                              "pull-through-proxy", "eviction", "operator-docs"});
  CHECK(spec.features[0].done);
  CHECK(spec.features[1].done);
  CHECK_FALSE(spec.features[2].done);
  CHECK_FALSE(spec.features[4].done);
  const auto deps = [&](std::size_t i) {
    std::vector<std::string> out;
    for (const auto& d : spec.features[i].depends_on) out.push_back(d.str());
    return out;
  };
  CHECK(deps(0).empty());
  CHECK(deps(2) == std::vector<std::string>{"blob-store", "digest-pinning"});
  CHECK(deps(3) == std::vector<std::string>{"blob-store"});
  CHECK(deps(4) == std::vector<std::string>{"pull-through-proxy", "eviction"});
  const Feature& proxy = spec.features[2];
  CHECK(proxy.files == std::vector<std::string>{"harbor/proxy.py", "harbor/config.py",
                                                "tests/test_proxy.py"});
  CHECK(proxy.requirements.size() == 3);
  CHECK_THAT(proxy.requirements[0], Catch::StartsWith("On a miss, stream from the upstream"));
  CHECK_THAT(proxy.context, Catch::Contains("Done already: HTTP handler for"));
  REQUIRE(proxy.acceptance.size() == 1);
  CHECK_THAT(proxy.acceptance[0], Catch::StartsWith("a second pull of the same image"));
  CHECK(spec.features[0].files.size() == 3);
}

TEST_CASE("plain-fields: a blank line ends a field, bare labels start theirs, inline files") {
  // Expected: Entries depends on Accounts only (the paragraph is its description); Accounts
  // keeps its file: criterion and technical details after a plain Requirements list; Entries
  // has all three files.
  const Spec spec = fixture("plain-fields.md");
  CHECK(ids(spec) == std::vector<std::string>{"accounts", "entries", "monthly-statement"});
  const Feature& accounts = spec.features[0];
  CHECK(accounts.requirements.size() == 2);
  CHECK(accounts.acceptance ==
        std::vector<std::string>{"file: ledger/accounts.py",
                                 "Archiving an account with a non-zero balance is refused"});
  CHECK(accounts.technical.size() == 1);
  const Feature& entries = spec.features[1];
  REQUIRE(entries.depends_on.size() == 1);
  CHECK(entries.depends_on[0].str() == "accounts");
  CHECK_THAT(entries.description, Catch::Contains("sum of all postings is zero"));
  CHECK(entries.files ==
        std::vector<std::string>{"ledger/entries.py", "ledger/money.py", "tests/test_entries.py"});
  CHECK(entries.acceptance.size() == 2);
  const Feature& statement = spec.features[2];
  REQUIRE(statement.depends_on.size() == 1);
  CHECK(statement.depends_on[0].str() == "entries");
  CHECK(statement.minutes == 240);
}

TEST_CASE("Status words: which say done") {
  for (const char* status : {"✅ COMPLETE", "Done", "completed 2026-10-01", "finished"}) {
    INFO(status);
    const Spec spec =
        must_parse(std::string("# P\n## Features\n### A\n**Status:** ") + status + "\n");
    CHECK(spec.features[0].done);
  }
  for (const char* status : {"🚧 IN PROGRESS", "not done", "incomplete", "planned"}) {
    INFO(status);
    const Spec spec =
        must_parse(std::string("# P\n## Features\n### A\n**Status:** ") + status + "\n");
    CHECK_FALSE(spec.features[0].done);
  }
  // "### Phase N:" outside a Phases section (an implementation plan inside a spec) is context.
  const Spec plan = must_parse("# P\n## Features\n### A\n## Implementation Plan\n### Phase 1: Do\n");
  CHECK(ids(plan) == std::vector<std::string>{"a"});
}

TEST_CASE("an Estimate field states the feature's minutes, with or without a complexity word") {
  const Spec spec = must_parse("# P\n## Features\n### A\n**Estimate:** 930 min\n"
                               "### B\nEstimated time: Medium (90 min)\n");
  CHECK(spec.features[0].minutes == 930);
  CHECK_FALSE(spec.features[0].complexity);
  CHECK(spec.features[1].minutes == 90);
  CHECK(spec.features[1].complexity == Complexity::medium);
}
