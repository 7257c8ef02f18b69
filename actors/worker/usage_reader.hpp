// Reads an agent's own account of what it used (tokens, cost, turns) from its output, which is
// untrusted: every line and value is bounded and a record that does not parse is ignored.
//   claude-json: Claude Code's `--output-format json` result object, or stream-json's final
//                {"type":"result",...} line (total_cost_usd, usage.*, num_turns, duration_ms);
//                its "result" is the agent's final message.
//   codex-json:  Codex `exec --json` events: every {"type":"turn.completed","usage":{...}} is
//                summed; the last agent_message item is the final message.
//   every mode:  a line `BR-USAGE: tokens_in=N tokens_out=N cost_usd=D` (optional keys
//                cache_read_tokens, cache_write_tokens, turns) that any agent or wrapper can
//                print; the last such line wins over what the format's records said.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/config.hpp"
#include "protocol/usage.hpp"

namespace br {

class UsageReader {
 public:
  // Longer lines are skipped whole: a result object with a huge final message is not worth the
  // memory, and usage is then unknown rather than guessed.
  static constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
  static constexpr std::size_t kMaxMessageBytes = std::size_t{64} << 10;

  explicit UsageReader(AgentOutput format) : format_(format) {}

  void feed(const char* data, std::size_t n);
  void finish();  // the output ended: reads a last line that had no newline

  // Known only when a record was read: BR-USAGE wins, then the format's records.
  Usage usage() const;
  // The agent's final message from a JSON format's records (at most kMaxMessageBytes); nullopt
  // in text mode or when none was read.
  const std::optional<std::string>& final_message() const { return final_message_; }

 private:
  void line(std::string_view text);
  void claude_record(std::string_view text);
  void codex_record(std::string_view text);

  AgentOutput format_;
  std::string current_;
  bool overlong_ = false;  // the line being read went past kMaxLineBytes: skip to its end
  Usage format_usage_;     // from the format's records
  std::optional<Usage> line_usage_;  // from the last BR-USAGE line
  std::optional<std::string> final_message_;
};

// Parses one BR-USAGE line (the whole line, "BR-USAGE:" included); nullopt when it is not one
// or a value is missing, malformed or out of bounds. tokens_in and tokens_out are required.
std::optional<Usage> parse_usage_line(std::string_view line);

}  // namespace br
