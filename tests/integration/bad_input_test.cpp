// The bad input catalogue: every case runs the real `br` in a fresh directory and checks the
// exact message on stderr, the exit code, and that no state directory was created.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actors/worker/agent_runner.hpp"
#include "tests/support/files.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

struct Case {
  const char* name;
  std::vector<std::string> args;           // after `br`; run in the case's directory
  std::vector<std::pair<std::string, std::string>> files;  // written before the run
  int exit_code;
  std::string message;                     // the whole of stderr + stdout, or its first line
  bool first_line_only = false;
};

const std::string kSpec = "# P\n## Features\n### A\nBusiness logic.\n";
const std::string kAgent = std::string("[agent]\ncommand = [\"") + BR_SOURCE_DIR +
                           "/deploy/demo-agent\"]\n";

std::vector<std::string> run(const std::string& config_file) {
  return {"--state-dir", "state", "run", "--auto", "spec.md", "--config", config_file};
}

}  // namespace

TEST_CASE("bad inputs are refused with their exact message and leave no state") {
  const std::vector<Case> cases = {
      // --- specs ---
      {"no features", {"plan", "s.md"}, {{"s.md", "# P\n## Overview\ntext\n"}}, 2,
       "s.md:1: no features found; write each feature as a level-3 heading under '## Features' "
       "(### Title) or as '## Feature 1: Title'"},
      {"cycle", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Depends on:** B\n### B\n**Depends on:** A\n"}}, 2,
       "s.md:3: dependency cycle: a -> b -> a (each feature depends on the next)"},
      {"unknown dependency", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### Alpha\n### Beta\n**Depends on:** Alpah\n"}}, 2,
       "s.md:5: feature 'beta' depends on unknown feature 'Alpah'; did you mean 'alpha'?"},
      {"self dependency", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Depends on:** A\n"}}, 2,
       "s.md:4: feature 'a' depends on itself"},
      {"duplicate id", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\n### A\n"}}, 2,
       "s.md:4: duplicate feature id 'a' (first defined on line 3); give one of them an explicit "
       "id such as {#a-2}"},
      {"bad priority", {"plan", "s.md"},
       {{"s.md", "# P\n## Features\n### A\n**Priority:** P0\n"}}, 2,
       "s.md:4: invalid priority 'P0'; use critical, high, medium or low"},
      {"bad domain", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\nDomain: mobile\n"}}, 2,
       "s.md:4: invalid domain 'mobile'; use database, backend, api, frontend, ui, infra, docs or "
       "test"},
      {"empty explicit id", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A {#}\n"}}, 2,
       "s.md:3: empty feature id in '{#}'; write {#some-id} or leave it out"},
      {"not UTF-8", {"plan", "s.md"}, {{"s.md", "# P\n## Features\n### A\n\xc3\x28\n"}}, 2,
       "s.md:4: not UTF-8 text (invalid byte 0xc3); save the spec as UTF-8"},
      {"missing spec", {"plan", "nope.md"}, {}, 2,
       "nope.md: cannot read the spec (does the file exist?)"},
      {"spec over the limit", run("small.toml"),
       {{"spec.md", kSpec + std::string(3000, '\n')},
        {"small.toml", kAgent + "[limits]\nspec_max_bytes = 1024\n"}},
       2,
       "spec.md: spec is 1025 bytes, larger than the limit of 1024 bytes; raise "
       "limits.spec_max_bytes in br.toml or split the spec"},
      {"too many tasks", run("few.toml"),
       {{"spec.md", kSpec}, {"few.toml", kAgent + "[limits]\nmax_tasks = 2\n"}}, 2,
       "spec.md: the plan has 3 tasks, more than limits.max_tasks = 2; raise it in br.toml or "
       "split the spec"},
      {"spec error in br run", run("ok.toml"),
       {{"spec.md", "# P\n## Features\n### A\n**Priority:** soon\n"}, {"ok.toml", kAgent}}, 2,
       "spec.md:4: invalid priority 'soon'; use critical, high, medium or low"},
      // --- configs ---
      {"unknown key", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworker = 3\n"}}, 2,
       "c.toml:2: unknown key 'run.worker' (did you mean 'run.workers'?)"},
      {"unknown section", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[agnet]\n"}}, 2,
       "c.toml:1: unknown section 'agnet'; known sections: run, agent, verify, context, "
       "network, limits, journal"},
      {"workers out of range", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworkers = 0\n"}},
       2, "c.toml:2: run.workers: expected an integer from 1 to 1024"},
      {"bad strategy", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nstrategy = \"random\"\n"}}, 2,
       "c.toml:2: run.strategy: 'random' is not one of critical-path, priority, shortest"},
      {"command as a string", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[agent]\ncommand = \"claude -p\"\n"}}, 2,
       "c.toml:2: agent.command: expected an array of strings, e.g. [\"make\", \"check\"]"},
      {"empty command", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[agent]\ncommand = []\n"}},
       2, "c.toml:2: agent.command: must not be empty"},
      {"bad duration", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[agent]\ntimeout = \"soon\"\n"}}, 2,
       "c.toml:2: agent.timeout: expected a duration such as 90 (seconds), \"250ms\", \"90s\", "
       "\"30m\" or \"2h\""},
      {"jitter out of range", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nbackoff_jitter = 2\n"}}, 2,
       "c.toml:2: run.backoff_jitter: expected a number from 0 to 1"},
      {"backoff max below base", run("c.toml"),
       {{"spec.md", kSpec}, {"c.toml", "[run]\nbackoff_base = 10\nbackoff_max = 5\n"}}, 2,
       "c.toml: run.backoff_max must not be below run.backoff_base"},
      {"toml syntax", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run\n"}}, 2,
       "c.toml:1: Error while parsing table header: expected ']', saw '\\n'"},
      {"missing config", run("none.toml"), {{"spec.md", kSpec}}, 2,
       "none.toml: cannot read the config file (does it exist?)"},
      {"no agent configured", {"--state-dir", "state", "run", "--auto", "spec.md"},
       {{"spec.md", kSpec}}, 2,
       "no config given: set [agent] command in br.toml, e.g. command = [\"claude\", \"-p\"], "
       "and pass --config br.toml (see README, \"Using real coding agents\")"},
      {"config without agent", run("c.toml"), {{"spec.md", kSpec}, {"c.toml", "[run]\nworkers = 2\n"}},
       2,
       "c.toml: [agent] has no command: set [agent] command in br.toml, e.g. command = "
       "[\"claude\", \"-p\"], and pass --config br.toml (see README, \"Using real coding "
       "agents\")"},
      // --- command line ---
      {"no subcommand", {}, {}, 2, "A subcommand is required", true},
      {"unknown option", {"plan", "spec.md", "--fast"}, {{"spec.md", kSpec}}, 2,
       "The following argument was not expected: --fast\nRun with --help for more information."},
      {"bad strategy flag", {"plan", "spec.md", "--strategy", "fastest"}, {{"spec.md", kSpec}}, 2,
       "unknown strategy 'fastest'; use one of critical-path, priority, shortest"},
      {"run without --auto", {"run", "spec.md"}, {{"spec.md", kSpec}}, 2,
       "--auto is required", true},
      {"zero workers", {"run", "--auto", "spec.md", "--workers", "0"}, {{"spec.md", kSpec}}, 2,
       "--workers: Value 0 not in range 1 to 1024\nRun with --help for more information."},
      {"bad status filter", {"task", "list", "--status", "done"}, {}, 2,
       "--status: done not in {pending,ready,dispatched,running,succeeded,failed,retrying,"
       "blocked,cancelled}\nRun with --help for more information."},
      {"status without a run", {"--state-dir", "state", "status"}, {}, 2,
       "journal state/journal: no journal here; start a run with `br run --auto SPEC` first"},
      {"resume without a run", {"--state-dir", "state", "resume", "--config", "ok.toml"},
       {{"ok.toml", kAgent}}, 2,
       "state: no run to resume here; start one with `br run --auto SPEC`"},
  };
  REQUIRE(cases.size() >= 30);
  for (const auto& c : cases) {
    INFO(c.name);
    test::TempDir dir("br-bad");
    for (const auto& [name, text] : c.files) std::ofstream(dir / name, std::ios::binary) << text;
    ProcessSpec spec;
    spec.argv = {BR_BINARY};
    spec.argv.insert(spec.argv.end(), c.args.begin(), c.args.end());
    spec.cwd = dir.path();
    spec.env = clean_environment({});
    spec.log_file = dir / "out.log";
    spec.timeout_ms = 60000;
    auto outcome = run_process(spec);
    REQUIRE(outcome.ok());
    std::string output;
    std::istringstream lines(test::read_file(dir / "out.log"));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("[br] ", 0) != 0 && !line.empty()) output += line + "\n";
    }
    CHECK(outcome->exit_code == c.exit_code);
    if (c.first_line_only) {
      CHECK_THAT(output, Catch::Contains(c.message));
    } else {
      CHECK(output == c.message + "\n");
    }
    CHECK_FALSE(std::filesystem::exists(dir / "state"));
    CHECK_FALSE(std::filesystem::exists(dir / ".br"));
  }
}
