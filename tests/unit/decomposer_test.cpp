#include <catch2/catch.hpp>
#include <map>

#include "actors/planner/decomposer.hpp"
#include "actors/planner/domain_keywords.hpp"
#include "protocol/codec.hpp"

using namespace br;

namespace {

Plan plan_of(const std::string& text) {
  auto spec = parse_spec(text, "spec.md");
  INFO((spec.ok() ? std::string() : spec.error().str()));
  REQUIRE(spec.ok());
  return make_plan(*spec);
}

const Task& task(const Plan& plan, const std::string& id) {
  for (const auto& t : plan.tasks) {
    if (t.id.str() == id) return t;
  }
  FAIL("no task " << id);
  throw;
}

std::vector<std::string> ids(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& t : plan.tasks) out.push_back(t.id.str());
  return out;
}

// The task's criteria in their one-line form.
std::vector<std::string> criteria(const Task& t) { return criterion_texts(t.acceptance); }

std::vector<std::string> deps(const Task& t) {
  std::vector<std::string> out;
  for (const auto& d : t.depends_on) out.push_back(d.str());
  return out;
}

const char* kShop = R"(# Shop
## Features
### Catalog {#catalog}
**Description:** Products stored in a database table, served by a REST endpoint, shown on a page.
**Priority:** High
**Acceptance Criteria:**
- `file: db/schema.sql`
- The page lists every product
- run: pytest -q
**Files:**
- db/schema.sql
- web/catalog.html
- tests/test_catalog.py
- docs/catalog.md
- shop/catalog.py

### Checkout {#checkout}
**Description:** Business logic for paying.
**Depends on:** #catalog
)";

}  // namespace

TEST_CASE("a feature becomes tasks by detected domain, in dependency order") {
  const Plan words = plan_of("# Shop\n## Features\n### Catalog\n**Description:** Products stored "
                             "in a database table, served by a REST endpoint, shown on a page.\n");
  CHECK(ids(words) == std::vector<std::string>{"catalog/01-schema", "catalog/02-api",
                                               "catalog/03-ui", "catalog/04-tests",
                                               "catalog/05-docs"});
  // With files listed, the files settle the domains: shop/catalog.py is backend work, and no
  // file is an API's.
  const Plan plan = plan_of(kShop);
  CHECK(ids(plan) == std::vector<std::string>{
                         "catalog/01-schema", "catalog/02-backend", "catalog/03-ui", "catalog/04-tests",
                         "catalog/05-docs", "checkout/01-backend", "checkout/02-tests",
                         "checkout/03-docs"});
  CHECK(task(plan, "catalog/01-schema").domain == Domain::database);
  CHECK(deps(task(plan, "catalog/02-backend")) == std::vector<std::string>{"catalog/01-schema"});
  CHECK(deps(task(plan, "catalog/04-tests")) ==
        std::vector<std::string>{"catalog/01-schema", "catalog/02-backend", "catalog/03-ui"});
  CHECK(deps(task(plan, "catalog/05-docs")) == std::vector<std::string>{"catalog/04-tests"});
  for (const auto& t : plan.tasks) CHECK(t.priority == (t.feature.str() == "catalog" ? Priority::high : Priority::medium));
}

TEST_CASE("depends-on between features links first task to last implementation task") {
  const Plan plan = plan_of(kShop);
  CHECK(deps(task(plan, "checkout/01-backend")) == std::vector<std::string>{"catalog/03-ui"});
}

TEST_CASE("expected files and machine-checkable criteria go to the task their path fits") {
  const Plan plan = plan_of(kShop);
  CHECK(task(plan, "catalog/01-schema").files == std::vector<std::string>{"db/schema.sql"});
  CHECK(task(plan, "catalog/02-backend").files == std::vector<std::string>{"shop/catalog.py"});
  CHECK(task(plan, "catalog/03-ui").files == std::vector<std::string>{"web/catalog.html"});
  CHECK(task(plan, "catalog/04-tests").files == std::vector<std::string>{"tests/test_catalog.py"});
  CHECK(task(plan, "catalog/05-docs").files == std::vector<std::string>{"docs/catalog.md"});
  // Typed once: the backticks of "`file: db/schema.sql`" are gone.
  CHECK(criteria(task(plan, "catalog/01-schema")) ==
        std::vector<std::string>{"file: db/schema.sql"});
  CHECK(task(plan, "catalog/01-schema").acceptance[0].kind == CriterionKind::file);
  CHECK(task(plan, "catalog/01-schema").acceptance[0].path == "db/schema.sql");
  const auto tests = criteria(task(plan, "catalog/04-tests"));
  CHECK(std::find(tests.begin(), tests.end(), "run: pytest -q") != tests.end());
  CHECK(std::find(tests.begin(), tests.end(), "Verified by a test: The page lists every product") !=
        tests.end());
  // The prose criterion mentions "page": the UI task owns it too.
  const auto ui = criteria(task(plan, "catalog/03-ui"));
  CHECK(std::find(ui.begin(), ui.end(), "The page lists every product") != ui.end());
}

TEST_CASE("a feature with no domain words is backend, and has tests and docs") {
  const Plan plan = plan_of("# P\n## Features\n### Thing\n**Description:** Does stuff.\n");
  CHECK(ids(plan) ==
        std::vector<std::string>{"thing/01-backend", "thing/02-tests", "thing/03-docs"});
  CHECK(task(plan, "thing/01-backend").complexity == Complexity::simple);
  CHECK(task(plan, "thing/01-backend").minutes == 60);
}

TEST_CASE("complexity follows the amount of work, and large work is split") {
  std::string spec = "# P\n## Features\n### Big\n**Requirements:**\n";
  for (int i = 0; i < 12; ++i) spec += "- Business rule number " + std::to_string(i) + "\n";
  spec += "### Medium\n**Requirements:**\n- one rule\n- two rules\n- three rules\n";
  const Plan plan = plan_of(spec);
  CHECK(task(plan, "big/01-backend").complexity == Complexity::complex);
  CHECK(task(plan, "big/02-backend-2").complexity == Complexity::complex);
  CHECK(deps(task(plan, "big/02-backend-2")) == std::vector<std::string>{"big/01-backend"});
  CHECK(task(plan, "medium/01-backend").complexity == Complexity::medium);
  CHECK(task(plan, "medium/01-backend").minutes == 90);
  for (const auto& t : plan.tasks) CHECK(t.minutes <= 120);
}

TEST_CASE("a complexity field sets the implementation tasks; its minutes are the feature's total") {
  const Plan plan = plan_of("# P\n## Features\n### X\n**Complexity:** Simple (45 min)\n"
                            "### Y\n**Complexity:** complex\n"
                            "### Monthly statement\nComplexity: Complex (240 min)\nRequirements:\n"
                            "- A statement page listing each account's balance\n"
                            "### Huge\n**Estimate:** Complex (930 min)\n"
                            "### Big page\nComplexity: Complex (330 min)\nRequirements:\n"
                            "- A page\n");
  // Three tasks of equal weight share 45 minutes.
  CHECK(task(plan, "x/01-backend").minutes == 15);
  CHECK(task(plan, "x/02-tests").minutes == 15);
  CHECK(task(plan, "x/03-docs").minutes == 15);
  CHECK(task(plan, "x/01-backend").complexity == Complexity::simple);
  CHECK(task(plan, "y/01-backend").minutes == 120);
  CHECK(task(plan, "y/01-backend").complexity == Complexity::complex);
  // The complex UI task weighs 120 against 60 for tests and docs: 240 is 120 + 60 + 60.
  CHECK(task(plan, "monthly-statement/01-ui").minutes == 120);
  CHECK(task(plan, "monthly-statement/02-tests").minutes == 60);
  CHECK(task(plan, "monthly-statement/03-docs").minutes == 60);
  // 330 would give the UI task 165: it takes 120, and tests and docs share the other 210.
  CHECK(task(plan, "big-page/01-ui").minutes == 120);
  CHECK(task(plan, "big-page/02-tests").minutes == 105);
  CHECK(task(plan, "big-page/03-docs").minutes == 105);
  // More than three tasks can hold: each is capped at 120 minutes.
  for (const auto& t : plan.tasks) CHECK(t.minutes <= 120);
}

TEST_CASE("a file and the criteria that check it go to the task that creates it") {
  // No Files field: the words give database and UI; app/main.py is neither, so it is made
  // where the implementation ends, and its criterion goes with it.
  const Plan plan = plan_of("# P\n## Features\n### Shop\n**Description:** Products stored in a "
                            "SQL table, shown on a page.\n**Acceptance Criteria:**\n"
                            "- file: app/main.py\n- contains: db/schema.sql ~ CREATE TABLE\n"
                            "### Ledger\nFiles: ledger/entries.py, ledger/money.py, tests/test_entries.py\n"
                            "Acceptance Criteria:\n- contains: ledger/money.py ~ Decimal\n"
                            "- contains: tests/test_entries.py ~ def test_\n");
  CHECK(criteria(task(plan, "shop/02-ui")) == std::vector<std::string>{"file: app/main.py"});
  CHECK(criteria(task(plan, "shop/01-schema")) ==
        std::vector<std::string>{"contains: db/schema.sql ~ CREATE TABLE"});
  CHECK(task(plan, "ledger/01-backend").files ==
        std::vector<std::string>{"ledger/entries.py", "ledger/money.py"});
  CHECK(criteria(task(plan, "ledger/01-backend")) ==
        std::vector<std::string>{"contains: ledger/money.py ~ Decimal"});
  CHECK(task(plan, "ledger/02-tests").files == std::vector<std::string>{"tests/test_entries.py"});
  const auto tests = criteria(task(plan, "ledger/02-tests"));
  CHECK(std::find(tests.begin(), tests.end(), "contains: tests/test_entries.py ~ def test_") !=
        tests.end());
}

TEST_CASE("a split task's second part finishes the files, with the criteria that check them") {
  std::string spec = "# P\n## Features\n### Big\nFiles: core/big.py\n**Requirements:**\n";
  for (int i = 0; i < 12; ++i) spec += "- Business rule number " + std::to_string(i) + "\n";
  spec += "**Acceptance Criteria:**\n- file: core/big.py\n- Rule one holds\n- Rule two holds\n";
  const Plan plan = plan_of(spec);
  CHECK(task(plan, "big/01-backend").files.empty());
  CHECK(criteria(task(plan, "big/01-backend")) == std::vector<std::string>{"Rule one holds"});
  CHECK(task(plan, "big/02-backend-2").files == std::vector<std::string>{"core/big.py"});
  CHECK(criteria(task(plan, "big/02-backend-2")) ==
        std::vector<std::string>{"Rule two holds", "file: core/big.py"});
}

TEST_CASE("a prose criterion stays with the task it is about, and the tests cover it") {
  const Plan plan = plan_of("# P\n## Features\n### Bread\n**Acceptance Criteria:**\n"
                            "- The recipe lists 400 g flour\n");
  CHECK(criteria(task(plan, "bread/01-backend")) ==
        std::vector<std::string>{"The recipe lists 400 g flour"});
  const auto tests = criteria(task(plan, "bread/02-tests"));
  CHECK(std::find(tests.begin(), tests.end(), "Verified by a test: The recipe lists 400 g flour") !=
        tests.end());
}

TEST_CASE("listed files settle a feature's domains over the words of its text") {
  const Plan plan = plan_of(
      "# P\n## Features\n### BuildMonitor Page\n**Description:**\nMain monitoring page with "
      "3-zone responsive layout and real-time updates.\n**Files:**\n"
      "- ui/src/pages/BuildMonitor.tsx\n- ui/src/pages/BuildMonitor.css\n"
      "## Phases\n### Phase 5: Operator docs\n**Files:** `docs/harbor.md` (NEW)\n"
      "**Deliverables:**\n- [ ] How to deploy, size and monitor the cache and its SQL database\n");
  CHECK(ids(plan) == std::vector<std::string>{"buildmonitor-page/01-ui", "buildmonitor-page/02-tests",
                                              "buildmonitor-page/03-docs",
                                              "operator-docs/01-tests",
                                              "operator-docs/02-docs"});
  CHECK(task(plan, "operator-docs/02-docs").files ==
        std::vector<std::string>{"docs/harbor.md"});
}

TEST_CASE("a documentation feature's requirements and prose criteria are its docs task's") {
  const Plan plan = plan_of("# P\n## Features\n### Operator guide\nFiles: docs/ops.md\n"
                            "Requirements:\n- How to deploy and size the cache\n"
                            "Acceptance Criteria:\n- A table of the five common failures\n"
                            "### Test suite\nDomain: test\nRequirements:\n- Cover the parser\n");
  const Task& docs = task(plan, "operator-guide/02-docs");
  CHECK_THAT(docs.description, Catch::Contains("- How to deploy and size the cache"));
  const auto docs_criteria = criteria(docs);
  CHECK(std::find(docs_criteria.begin(), docs_criteria.end(),
                  "A table of the five common failures") != docs_criteria.end());
  CHECK_THAT(task(plan, "operator-guide/01-tests").description,
             !Catch::Contains("How to deploy"));
  // Not documentation: the tests task does the work.
  CHECK_THAT(task(plan, "test-suite/01-tests").description, Catch::Contains("- Cover the parser"));
}

TEST_CASE("a parent's tests wait for its sub-features") {
  const Plan plan = plan_of("# P\n## Feature 1: Parent\nBackend logic.\n#### 1.1 Child One\n"
                            "Backend logic.\n#### 1.2 Child Two\nBackend logic.\n");
  const auto& parent_tests = task(plan, "parent/02-tests");
  CHECK(deps(parent_tests) == std::vector<std::string>{"parent/01-backend",
                                                       "parent.1-1/01-backend",
                                                       "parent.1-2/01-backend"});
}

TEST_CASE("every fixture decomposes into 2-8 tasks per feature, at most 120 minutes each") {
  for (const char* name : {"trip-planner.md", "prd-driven-build.md", "build-3a-orchestration.md",
                           "build-4a-migration.md", "build-4e-routing.md", "build-monitor.md",
                           "completion-subfeatures.md"}) {
    INFO(name);
    auto spec = parse_spec_file(std::string(BR_FIXTURES_DIR) + "/specs/" + name);
    REQUIRE(spec.ok());
    const Plan plan = make_plan(*spec);
    std::map<std::string, int> per_feature;
    for (const auto& t : plan.tasks) {
      ++per_feature[t.feature.str()];
      CHECK(t.minutes >= 1);
      CHECK(t.minutes <= 120);
      CHECK_FALSE(t.acceptance.empty());
    }
    CHECK(per_feature.size() == spec->features.size());
    // A stated estimate is the feature's total, where its tasks can hold it.
    for (const auto& f : spec->features) {
      if (f.minutes == 0 || f.minutes > 120u * static_cast<unsigned>(per_feature[f.id.str()])) {
        continue;
      }
      std::uint32_t sum = 0;
      for (const auto& t : plan.tasks) sum += t.feature == f.id ? t.minutes : 0;
      CHECK(sum == f.minutes);
    }
    for (const auto& [feature, n] : per_feature) {
      CHECK(n >= 2);
      CHECK(n <= 8);
    }
  }
}

TEST_CASE("the same spec gives the same plan, byte for byte") {
  auto spec = parse_spec_file(std::string(BR_FIXTURES_DIR) + "/specs/build-monitor.md");
  REQUIRE(spec.ok());
  const std::string first = encode(make_plan(*spec));
  auto again = parse_spec_file(std::string(BR_FIXTURES_DIR) + "/specs/build-monitor.md");
  CHECK(encode(make_plan(*again)) == first);
}

TEST_CASE("domain detection uses whole words from the one keyword table") {
  CHECK(detect_domains("A REST endpoint over a SQL table") ==
        std::vector<Domain>{Domain::database, Domain::api});
  CHECK(detect_domains("tablet support").empty());  // "table" is a word, not a prefix
  CHECK(mentions("Show a dashboard", Domain::ui));
}

TEST_CASE("a big spec decomposes (on two threads) into each feature's own tasks, in order") {
  static const char* kWork[] = {"Store rows in a SQL table", "Business logic validates input",
                                "A REST endpoint returns JSON", "A dashboard page with a form",
                                "Deploy with docker"};
  std::string text = "# Big\n## Features\n";
  for (int i = 0; i < 6000; ++i) {
    text += "### Feature " + std::to_string(i) + "\n**Requirements:**\n";
    for (int k = 0; k <= i % 4; ++k) text += std::string("- ") + kWork[(i + k * 3) % 5] + "\n";
    text += "**Acceptance Criteria:**\n- It works for " + std::to_string(i) + "\n";
  }
  ParseLimits limits;
  auto spec = parse_spec(text, "big.md", limits);
  REQUIRE(spec.ok());
  const std::vector<Task> all = decompose(spec->features);
  std::vector<Task> one_by_one;
  for (const Feature& f : spec->features) {
    for (auto& t : decompose({f})) one_by_one.push_back(std::move(t));
  }
  REQUIRE(all.size() == one_by_one.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(all[i].id.str());
    REQUIRE(encode(all[i]) == encode(one_by_one[i]));
  }
}
