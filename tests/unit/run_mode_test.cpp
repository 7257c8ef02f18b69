// Which mode br run, br resume and br retry run in, and the state dir's memory of it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "coordinator/run_mode.hpp"

using br::RunMode;

TEST_CASE("br run asks unless --auto, whatever the run did before") {
  CHECK(br::choose_run_mode(true, false, false, RunMode::automatic) == RunMode::ask);
  CHECK(br::choose_run_mode(true, true, false, RunMode::ask) == RunMode::automatic);
  CHECK(br::choose_run_mode(true, false, false, std::nullopt) == RunMode::ask);
}

TEST_CASE("resume and retry keep the remembered mode unless --auto or --ask says otherwise") {
  struct Row {
    bool auto_flag, ask_flag;
    std::optional<RunMode> remembered;
    RunMode expected;
  };
  const Row rows[] = {
      {false, false, RunMode::automatic, RunMode::automatic},
      {false, false, RunMode::ask, RunMode::ask},
      {false, false, std::nullopt, RunMode::ask},  // never remembered: the safe default
      {true, false, RunMode::ask, RunMode::automatic},
      {false, true, RunMode::automatic, RunMode::ask},
  };
  for (const auto& row : rows) {
    CHECK(br::choose_run_mode(false, row.auto_flag, row.ask_flag, row.remembered) ==
          row.expected);
  }
}

TEST_CASE("the refusal off a terminal names the command and the flag that fixes it") {
  const std::string fresh = br::no_terminal_to_ask("run", false);
  CHECK(fresh.rfind("br run: ", 0) == 0);
  CHECK(fresh.find("pass --auto") != std::string::npos);
  const std::string resumed = br::no_terminal_to_ask("resume", true);
  CHECK(resumed.rfind("br resume: this run was started asking", 0) == 0);
  CHECK(resumed.find("pass --auto") != std::string::npos);
}

TEST_CASE("a state dir remembers the last mode, and nothing when it holds none") {
  namespace fs = std::filesystem;
  const fs::path root =
      fs::temp_directory_path() / ("br-run-mode-test-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const br::StateDir dir{root.string()};
  CHECK_FALSE(br::remembered_run_mode(dir).has_value());
  br::remember_run_mode(dir, RunMode::automatic);
  CHECK(br::remembered_run_mode(dir) == RunMode::automatic);
  br::remember_run_mode(dir, RunMode::ask);
  CHECK(br::remembered_run_mode(dir) == RunMode::ask);
  std::ofstream(root / "mode") << "garbage\n";
  CHECK_FALSE(br::remembered_run_mode(dir).has_value());
  fs::remove_all(root);
}
