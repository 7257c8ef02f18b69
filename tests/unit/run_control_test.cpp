#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "coordinator/run_control.hpp"
#include "tests/support/temp_dir.hpp"

using namespace br;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("a stop and a cancel request reach the run through its own control folder") {
  test::TempDir dir("br-control");
  const StateDir state{dir.str()};
  REQUIRE(own_control(state));
  CHECK(mode_of(state.control()) == 0700);
  CHECK_FALSE(take_stop_request(state));  // nothing asked yet

  REQUIRE(request_stop(state, "br stop, pid 1"));
  REQUIRE(request_cancel(state, {"a/01-backend", "b/02-tests"}, "br cancel, pid 2"));
  const auto stop = take_stop_request(state);
  REQUIRE(stop);
  CHECK(*stop == "br stop, pid 1");
  CHECK_FALSE(take_stop_request(state));  // taken once
  const auto cancels = take_cancel_requests(state);
  REQUIRE(cancels.size() == 1);
  CHECK(cancels[0].who == "br cancel, pid 2");
  CHECK(cancels[0].tasks == std::set<std::string>{"a/01-backend", "b/02-tests"});
  CHECK(take_cancel_requests(state).empty());
}

TEST_CASE("requests in a control folder others can write, or a link, are not taken") {
  test::TempDir dir("br-control");
  const StateDir state{dir.str()};
  REQUIRE(own_control(state));

  // Opened to others after the run made it (a group-writable state dir, say): ignored.
  REQUIRE(::chmod(state.control().c_str(), 0777) == 0);
  REQUIRE(request_stop(state, "someone else"));
  REQUIRE(request_cancel(state, {"a/01-backend"}, "someone else"));
  CHECK_FALSE(take_stop_request(state));
  CHECK(take_cancel_requests(state).empty());
  // The run's start closes it again and drops what was left in it while it was open.
  REQUIRE(own_control(state));
  CHECK(mode_of(state.control()) == 0700);
  CHECK_FALSE(take_stop_request(state));

  // The folder swapped for a link to one of somebody else's making: ignored, and refused.
  std::filesystem::remove_all(state.control());
  const std::string elsewhere = dir.str() + "/elsewhere";
  REQUIRE(::mkdir(elsewhere.c_str(), 0700) == 0);
  std::filesystem::create_directory_symlink(elsewhere, state.control());
  REQUIRE(request_stop(state, "through the link"));
  CHECK_FALSE(take_stop_request(state));
  const auto owned = own_control(state);
  REQUIRE_FALSE(owned);
  CHECK_THAT(owned.error().str(), Catch::Contains("not a folder; remove it"));
}

TEST_CASE("hints name the state dir as the shell reads it back") {
  CHECK(reader_command(StateDir{".br"}) == "br --state-dir .br");
  CHECK(reader_command(StateDir{"my runs/.br"}) == "br --state-dir 'my runs/.br'");
  CHECK(shell_word("it's") == "'it'\\''s'");
}
