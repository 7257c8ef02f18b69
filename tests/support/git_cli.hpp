// The git CLI's view of a repository, for tests that check what br did to one.
#pragma once

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

namespace br::test {

// Output (stdout and stderr, trailing newlines dropped) of a shell command line.
inline std::string shell(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Output of a git CLI command run in `dir`: the outside view of what br did to a repository.
inline std::string git(const std::filesystem::path& dir, const std::string& args) {
  return shell("git -C '" + dir.string() + "' " + args);
}

}  // namespace br::test
