// `br`: answers `br status` itself and hands every other command to the full CLI, br-cli,
// beside it. A status poll (a dashboard, `watch br status`, every 100 ms beside a busy run)
// then starts a process that loads RocksDB, Cap'n Proto and fmt, not CAF, libgit2 and
// prometheus-cpp as well: about a third of the CPU per call (BENCHMARKS.md, issue 12).
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "coordinator/status_command.hpp"
#include "node/exit_codes.hpp"

namespace {

// br-cli in the folder this binary is in (the build's coordinator/, or where both are
// installed).
std::string full_cli_path() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "br-cli";
  std::string path(self, static_cast<std::size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "br-cli";
}

}  // namespace

int main(int argc, char** argv) {
  if (auto call = br::status_call(argc, argv)) return br::status_command(call->dir, call->json);
  const std::string cli = full_cli_path();
  ::execv(cli.c_str(), argv);
  std::fprintf(stderr, "br: cannot start %s: %s; br and br-cli belong in one folder\n",
               cli.c_str(), std::strerror(errno));
  return br::exit_code_of(br::ErrorCategory::infrastructure);
}
