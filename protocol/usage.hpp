// What one agent attempt cost, as the agent itself reported it (actors/worker/usage_reader.hpp
// reads it from the agent's output). Travels with the attempt's result and is journaled with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace br {

// Upper bounds for values read from an agent's output: anything beyond them is not a real
// figure (a garbled or hostile record), so the record is refused and usage stays unknown.
inline constexpr std::uint64_t kMaxUsageTokens = std::uint64_t{1} << 40;    // ~1.1e12
inline constexpr std::uint64_t kMaxUsageMicroUsd = std::uint64_t{1} << 40;  // ~$1.1 million
inline constexpr std::uint32_t kMaxUsageTurns = 1000000;

struct Usage {
  bool known = false;  // the agent reported its usage; false: nothing readable was printed
  std::uint64_t tokens_in = 0;  // input tokens, not counting the cache's
  std::uint64_t tokens_out = 0;
  std::uint64_t cache_write_tokens = 0;  // Claude's cache_creation_input_tokens
  std::uint64_t cache_read_tokens = 0;   // Claude's cache_read_input_tokens, Codex's cached_input_tokens
  bool cost_known = false;               // Codex reports tokens only
  // Millionths of a US dollar: sums of many attempts stay exact, unlike a double.
  std::uint64_t cost_micro_usd = 0;
  std::uint32_t turns = 0;
  std::int64_t duration_ms = 0;  // as the agent measured it; 0 when it did not say

  std::uint64_t tokens_total() const {
    return tokens_in + tokens_out + cache_write_tokens + cache_read_tokens;
  }
  bool operator==(const Usage& o) const {
    return known == o.known && tokens_in == o.tokens_in && tokens_out == o.tokens_out &&
           cache_write_tokens == o.cache_write_tokens &&
           cache_read_tokens == o.cache_read_tokens && cost_known == o.cost_known &&
           cost_micro_usd == o.cost_micro_usd && turns == o.turns && duration_ms == o.duration_ms;
  }
  bool operator!=(const Usage& o) const { return !(*this == o); }
};

// Sums of usage over attempts (a task's, a feature's, a run's). Attempts whose usage is unknown
// are counted apart, so a total says how much it leaves out.
struct UsageTotal {
  std::uint64_t attempts = 0;          // attempts counted (with usage known or not)
  std::uint64_t unknown_attempts = 0;  // of which the usage is unknown
  std::uint64_t tokens_in = 0;
  std::uint64_t tokens_out = 0;
  std::uint64_t cache_write_tokens = 0;
  std::uint64_t cache_read_tokens = 0;
  std::uint64_t cost_micro_usd = 0;

  void add(const Usage& u) {
    ++attempts;
    if (!u.known) {
      ++unknown_attempts;
      return;
    }
    tokens_in += u.tokens_in;
    tokens_out += u.tokens_out;
    cache_write_tokens += u.cache_write_tokens;
    cache_read_tokens += u.cache_read_tokens;
    cost_micro_usd += u.cost_micro_usd;
  }
  void add(const UsageTotal& t) {
    attempts += t.attempts;
    unknown_attempts += t.unknown_attempts;
    tokens_in += t.tokens_in;
    tokens_out += t.tokens_out;
    cache_write_tokens += t.cache_write_tokens;
    cache_read_tokens += t.cache_read_tokens;
    cost_micro_usd += t.cost_micro_usd;
  }
  std::uint64_t tokens_total() const {
    return tokens_in + tokens_out + cache_write_tokens + cache_read_tokens;
  }
};

// One agent run's usage shared out among the n tasks of its batch: each count divided evenly, the
// remainders to the first task, so the shares add up to the whole. Turns and duration are the
// run's, the same on every share.
std::vector<Usage> split_usage(const Usage& whole, std::size_t n);

// Why an attempt that cost `usage` fails under a per-task budget of `limit_micro_usd` (0: none):
// "" when it stays within it or its cost is unknown.
std::string over_task_budget(const Usage& usage, std::uint64_t limit_micro_usd);

// Why a run that has spent `spent` may dispatch nothing more under a run budget of
// `limit_micro_usd` (0: none): "" while it stays below it.
std::string run_budget_reached(const UsageTotal& spent, std::uint64_t limit_micro_usd);

// "0.012345" → 12345 micro-USD; decimals past the sixth are rounded (half up). nullopt when it is
// not a plain non-negative decimal ("1", "0.5", ".5") or exceeds kMaxUsageMicroUsd.
std::optional<std::uint64_t> parse_micro_usd(std::string_view text);

// A JSON or TOML number of dollars → micro-USD; nullopt when negative, not finite or too big.
std::optional<std::uint64_t> micro_usd_from_double(double usd);

// 12345 → "0.012345" (decimals 6) or "0.01" (decimals 2), rounded half up.
std::string format_usd(std::uint64_t micro_usd, int decimals = 6);

}  // namespace br
