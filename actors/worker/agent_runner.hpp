// Runs an agent (or a check command) as a child process under br's rules: argv without a
// shell, a clean environment, its own process group that a timeout or a cancel kills whole,
// output to a size-capped log file on disk. Linux only (pidfd, eventfd).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/config.hpp"
#include "protocol/ids.hpp"
#include "protocol/result.hpp"
#include "protocol/usage.hpp"

namespace br {

inline constexpr std::uint64_t kDefaultLogMaxBytes = std::uint64_t{64} << 20;
inline constexpr std::int64_t kDefaultKillGraceMs = 2000;

// Cancels running processes from any thread. One source may serve several runs; once
// cancelled it stays cancelled. Its fd becomes readable on cancel, so waits wake at once.
class CancelSource {
 public:
  CancelSource();
  ~CancelSource();
  CancelSource(const CancelSource&) = delete;
  CancelSource& operator=(const CancelSource&) = delete;

  void cancel();  // thread-safe, idempotent
  bool cancelled() const { return cancelled_.load(); }
  int fd() const { return fd_; }

 private:
  std::atomic<bool> cancelled_{false};
  int fd_ = -1;
};

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH unless it has a '/'
  std::filesystem::path cwd;
  std::vector<std::string> env;                       // the whole environment, "NAME=value"
  std::string stdin_text;                             // written to stdin, which is then closed
  std::filesystem::path log_file;                     // stdout and stderr are appended here
  std::uint64_t log_max_bytes = kDefaultLogMaxBytes;  // the file stops growing at this size
  std::int64_t timeout_ms = 0;                        // <= 0: no timeout
  std::int64_t kill_grace_ms = kDefaultKillGraceMs;   // SIGTERM → SIGKILL delay
  // Agents only: read the output for usage records in this format (UsageReader).
  std::optional<AgentOutput> usage_format;
};

// The last non-empty line of a stream fed in chunks, as one bounded line of text for a
// failure's reason: terminal escapes and control characters dropped, at most kMaxBytes (cut at a
// character boundary, with "…"). Sees all of the output, also past a log's cap.
class LastLine {
 public:
  static constexpr std::size_t kMaxBytes = 200;
  void feed(const char* data, std::size_t n);
  std::string get() const;

 private:
  void end_line();
  std::string current_;  // the line being read, up to kMaxBytes + 1 bytes
  std::string last_;     // the last complete non-empty one
  enum class Escape : std::uint8_t { none, esc, csi } escape_ = Escape::none;
};

struct ProcessOutcome {
  bool exited = false;  // exited normally; exit_code is valid
  int exit_code = -1;
  int signal = 0;  // the signal that ended it, when !exited
  bool timed_out = false;
  bool cancelled = false;
  bool log_truncated = false;  // output went beyond log_max_bytes and was discarded
  std::int64_t duration_ms = 0;
  // Of its output (LastLine), "" when it printed nothing; for an agent in a JSON format, of
  // the final message its records carried (the raw last line is a JSON object).
  std::string last_line;
  Usage usage;  // when spec.usage_format was set and the agent reported it; else unknown

  bool success() const { return exited && exit_code == 0 && !timed_out && !cancelled; }
  // "exited with code 1", "timed out after 5000 ms (killed by signal 15)", ...
  std::string describe(std::int64_t timeout_ms = 0) const;
};

// Runs the process and blocks the calling thread until it ends: the process group is killed
// (SIGTERM, then SIGKILL after the grace) when the timeout passes or `cancel` fires, and any
// processes left in the group are killed when its leader exits. Errors (as values): empty argv,
// missing cwd, unwritable log, a command that cannot be executed (named in the message).
Result<ProcessOutcome> run_process(const ProcessSpec& spec, const CancelSource* cancel = nullptr);

// "prog arg1 arg2", for messages and logs (not for running: argv is never re-split).
std::string join_argv(const std::vector<std::string>& argv);

// Where `cmd` would be run from (itself when it names a file, else the first match on PATH),
// if that is an executable file; nullopt when nothing would run.
std::optional<std::string> find_executable(const std::string& cmd);

// The environment br gives a child: PATH, HOME and LANG from br's own environment, the names
// in `allow` that are set, then `extra` (which wins). Nothing else leaks through.
std::vector<std::string> clean_environment(
    const std::vector<std::string>& allow,
    const std::vector<std::pair<std::string, std::string>>& extra = {});

// One run of the agent for a batch.
struct AgentRun {
  std::filesystem::path workspace;  // cwd of the agent
  std::string prompt;
  std::filesystem::path prompt_file;  // the prompt is written here; BR_PROMPT_FILE names it
  bool prompt_written = false;        // the caller wrote it there already (write_prompt_file)
  std::filesystem::path log_file;     // per attempt
  BatchId batch;
  std::vector<TaskId> tasks;
  std::vector<std::uint32_t> attempts;  // parallel to tasks
  std::uint64_t log_max_bytes = kDefaultLogMaxBytes;
  std::int64_t kill_grace_ms = kDefaultKillGraceMs;
};

// Writes `text` to `file` (creating its folder), or says why not: "cannot write FILE: No
// space left on device". A write error is not lost in a stream's buffer: close is checked too.
Status write_prompt_file(const std::filesystem::path& file, const std::string& text);

// Runs `config.command` per the agent contract (DESIGN.md): cwd = workspace, prompt on stdin
// and in BR_PROMPT_FILE, and in a clean environment (clean_environment(config.env_allow)) with
//   BR_PROMPT_FILE  absolute path of the prompt file
//   BR_BATCH_ID     the batch id
//   BR_TASK_IDS     task ids, space-separated
//   BR_ATTEMPTS     attempt numbers, space-separated, parallel to BR_TASK_IDS
//   BR_WORKSPACE    absolute path of the workspace
// The prompt text is never put into argv.
Result<ProcessOutcome> run_agent(const AgentConfig& config, const AgentRun& run,
                                 const CancelSource* cancel = nullptr);

}  // namespace br
