// Runs the real `br` binary (BR_BINARY, defined by the test target) in a test's directory and
// reads what it left: its exit code and output, its journal, the replayed run state.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "actors/worker/agent_runner.hpp"
#include "storage/journal.hpp"
#include "tests/support/files.hpp"
#include "tests/support/git_cli.hpp"
#include "tests/support/temp_dir.hpp"

namespace br::test {

struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs br with `args` in `dir` and waits (at most two minutes).
inline Run run_br(const TempDir& dir, std::vector<std::string> args,
                  std::vector<std::pair<std::string, std::string>> env = {}) {
  ProcessSpec spec;
  spec.argv = {BR_BINARY};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.cwd = dir.path();
  spec.env = clean_environment({}, env);
  spec.log_file = dir / "br-output.log";
  std::filesystem::remove(spec.log_file);
  spec.timeout_ms = 120000;
  auto outcome = run_process(spec);
  REQUIRE(outcome.ok());
  Run run;
  run.exit_code = outcome->exited ? outcome->exit_code : -1;
  // The log starts and ends with the runner's own "[br] …" lines; keep what br printed (which
  // may quote an agent log's "[br]" lines: `br logs`).
  std::vector<std::string> lines;
  std::istringstream in(test::read_file(spec.log_file.string()));
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  std::size_t first = 0, last = lines.size();
  if (first < last && lines[first].rfind("[br] $ ", 0) == 0) ++first;
  if (first < last && lines[last - 1].rfind("[br] '", 0) == 0) --last;
  for (std::size_t i = first; i < last; ++i) run.output += lines[i] + "\n";
  while (run.output.size() >= 2 && run.output.compare(run.output.size() - 2, 2, "\n\n") == 0) {
    run.output.pop_back();
  }
  return run;
}

inline std::vector<JournalRecord> journal_of(const std::string& state_dir) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(state_dir + "/journal", options);
  REQUIRE(journal.ok());
  std::vector<JournalRecord> records;
  REQUIRE((*journal)
              ->scan(1,
                     [&](const JournalRecord& r) {
                       records.push_back(r);
                       return true;
                     })
              .ok());
  return records;
}

inline RunState state_of(const std::string& state_dir) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto journal = Journal::open(state_dir + "/journal", options);
  REQUIRE(journal.ok());
  auto state = (*journal)->replay();
  REQUIRE(state.ok());
  return std::move(state).value();
}

}  // namespace br::test
