#include "actors/worker/file_monitor.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "../support/temp_dir.hpp"
#include "actors/worker/agent_runner.hpp"

using namespace br;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TEST_CASE("files that already exist are seen at once") {
  test::TempDir dir("br-monitor");
  fs::create_directories(dir.path() / "src");
  std::ofstream(dir / "src/a.py") << "x";
  std::ofstream(dir / "b.txt") << "x";
  const auto start = Clock::now();
  auto w = wait_for_files(dir.path(), {"src/a.py", "b.txt"}, 600000);
  REQUIRE(w.ok());
  CHECK(w->all_present());
  CHECK_FALSE(w->woken);
  CHECK(Clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("a file created later in a directory that does not exist yet is seen") {
  test::TempDir dir("br-monitor");
  std::thread agent([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the wait start first
    fs::create_directories(dir.path() / "deep" / "er" / "still");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ofstream(dir / "deep/er/still/model.py") << "class Model: pass\n";
    std::ofstream(dir / "top.md") << "# top\n";
  });
  const auto start = Clock::now();
  auto w = wait_for_files(dir.path(), {"deep/er/still/model.py", "top.md"}, 30000);
  agent.join();
  REQUIRE(w.ok());
  CHECK(w->all_present());
  CHECK(Clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("a wait times out and names the files still missing") {
  test::TempDir dir("br-monitor");
  std::ofstream(dir / "here.txt") << "x";
  const auto start = Clock::now();
  auto w = wait_for_files(dir.path(), {"here.txt", "sub/never.py", "never.txt"}, 300);
  REQUIRE(w.ok());
  CHECK(Clock::now() - start < std::chrono::seconds(10));
  REQUIRE(w->missing.size() == 2);
  CHECK(w->missing[0] == "sub/never.py");
  CHECK(w->missing[1] == "never.txt");

  auto once = wait_for_files(dir.path(), {"never.txt"}, 0);
  REQUIRE(once.ok());
  CHECK(once->missing.size() == 1);
}

TEST_CASE("a wake fd ends the wait early") {
  test::TempDir dir("br-monitor");
  CancelSource wake;
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    wake.cancel();
  });
  const auto start = Clock::now();
  auto w = wait_for_files(dir.path(), {"never.txt"}, 600000, wake.fd());
  other.join();
  REQUIRE(w.ok());
  CHECK(w->woken);
  CHECK(w->missing == std::vector<std::string>{"never.txt"});
  CHECK(Clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("paths outside the workspace are refused") {
  test::TempDir dir("br-monitor");
  for (const std::string bad : {"../escape.txt", "/etc/passwd", "a/../../b", ""}) {
    INFO(bad);
    auto w = wait_for_files(dir.path(), {bad}, 100);
    CHECK_FALSE(w.ok());
  }
  auto m = missing_files(dir.path(), {"ok.txt", "a/../ok2.txt"});
  REQUIRE(m.ok());
  CHECK(m->size() == 2);
}
