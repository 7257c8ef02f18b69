// Decides whether an agent really did a task: expected files exist and changed since dispatch,
// the configured check and test commands pass, and machine-checkable acceptance criteria hold.
// Every reason for failure is kept, for the result and for display.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "actors/worker/agent_runner.hpp"
#include "protocol/acceptance_criterion.hpp"
#include "protocol/config.hpp"

namespace br {

// What a file looked like at dispatch. The hash is FNV-1a 64 over the content (files over
// kMaxHashBytes are compared by mtime and size only).
struct FileStamp {
  bool exists = false;
  std::int64_t mtime_ns = 0;
  std::uintmax_t size = 0;
  std::uint64_t hash = 0;
  bool hashed = false;
};

inline constexpr std::uintmax_t kMaxHashBytes = std::uintmax_t{64} << 20;
inline constexpr std::uintmax_t kMaxContainsBytes = std::uintmax_t{64} << 20;

struct FileSnapshot {
  std::map<std::string, FileStamp> files;  // by the path as the task names it
};

// Taken at dispatch, before the agent runs. Paths outside the workspace are skipped here and
// reported by verify().
FileSnapshot snapshot_files(const std::filesystem::path& workspace,
                            const std::vector<std::string>& files);

struct VerifyRequest {
  std::filesystem::path workspace;
  std::vector<std::string> files;       // expected files (Task::files)
  std::vector<Criterion> acceptance;    // criteria (Task::acceptance); prose is skipped
  FileSnapshot before;                  // from snapshot_files at dispatch
  std::filesystem::path log_file;       // command output is appended here
  std::uint64_t log_max_bytes = kDefaultLogMaxBytes;
  std::vector<std::string> env_allow;  // passed through to commands, as for the agent
  // allows_run_criteria of this host's own config; false: a `run:` criterion fails unrun,
  // naming `worker` and the setting.
  bool allow_run_criteria = true;
  std::string worker;
};

struct Verification {
  std::vector<std::string> failures;   // empty: verified
  std::vector<std::string> produced;   // expected files that exist and changed
  std::vector<std::string> unchecked;  // prose criteria nobody can check mechanically
  bool ok() const { return failures.empty(); }
};

// Expected files: each must exist and differ from its snapshot (a file absent from the
// snapshot counts as new). Appends reasons to `out.failures`, good files to `out.produced`.
void check_files(const VerifyRequest& request, Verification& out);

// check_command then test_command (each optional), in the workspace with a clean environment
// and VerifyConfig::timeout_ms each; a non-zero exit, a timeout or a failure to start is a
// reason naming the command and the log.
void run_checks(const VerifyConfig& config, const VerifyRequest& request, Verification& out,
                const CancelSource* cancel = nullptr);

// Machine-checkable criteria, as the planner typed them: `file: PATH` exists; `contains: PATH ~
// TEXT` — the file (at most kMaxContainsBytes) contains TEXT byte for byte; `run: COMMAND` —
// split by split_command_line, exits 0 within VerifyConfig::timeout_ms (its process group is
// killed then, and when it exits), or fails unrun unless request.allow_run_criteria. Paths
// escaping the workspace are rejected. Prose criteria go to `out.unchecked`.
void check_criteria(const VerifyConfig& config, const VerifyRequest& request, Verification& out,
                    const CancelSource* cancel = nullptr);

// The reason a `run:` criterion fails on `worker` when that host's config does not allow
// them: the criterion, the worker and the setting that would.
std::string run_criterion_not_allowed(const Criterion& criterion, const std::string& worker);

// All three, in that order; every failure is kept.
Verification verify(const VerifyConfig& config, const VerifyRequest& request,
                    const CancelSource* cancel = nullptr);

}  // namespace br
