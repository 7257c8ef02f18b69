#include "protocol/usage.hpp"

#include <cmath>

namespace br {

std::vector<Usage> split_usage(const Usage& whole, std::size_t n) {
  if (n == 0) return {};
  std::vector<Usage> shares(n, whole);
  const auto split = [&](std::uint64_t Usage::*field) {
    const std::uint64_t each = whole.*field / n, rest = whole.*field % n;
    for (std::size_t i = 0; i < n; ++i) shares[i].*field = each + (i == 0 ? rest : 0);
  };
  split(&Usage::tokens_in);
  split(&Usage::tokens_out);
  split(&Usage::cache_write_tokens);
  split(&Usage::cache_read_tokens);
  split(&Usage::cost_micro_usd);
  return shares;
}

std::string over_task_budget(const Usage& usage, std::uint64_t limit_micro_usd) {
  if (limit_micro_usd == 0 || !usage.known || !usage.cost_known ||
      usage.cost_micro_usd <= limit_micro_usd) {
    return "";
  }
  return "over its task budget: the agent reported $" + format_usd(usage.cost_micro_usd) +
         ", [agent] max_cost_per_task_usd is $" + format_usd(limit_micro_usd) +
         " (raise it and run br retry)";
}

std::string run_budget_reached(const UsageTotal& spent, std::uint64_t limit_micro_usd) {
  if (limit_micro_usd == 0 || spent.cost_micro_usd < limit_micro_usd) return "";
  return "budget reached: the run's attempts cost $" + format_usd(spent.cost_micro_usd, 2) +
         ", [agent] max_cost_usd is $" + format_usd(limit_micro_usd, 2);
}

std::optional<std::uint64_t> parse_micro_usd(std::string_view text) {
  std::uint64_t whole = 0;
  std::size_t i = 0;
  bool digits = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
    digits = true;
    if (whole > kMaxUsageMicroUsd / 1000000) return std::nullopt;
  }
  std::uint64_t frac = 0;
  int frac_digits = 0;
  bool round_up = false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      digits = true;
      if (frac_digits < 6) {
        frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
        ++frac_digits;
      } else if (frac_digits == 6) {
        round_up = text[i] >= '5';
        ++frac_digits;
      }
    }
  }
  if (!digits || i != text.size()) return std::nullopt;
  for (; frac_digits < 6; ++frac_digits) frac *= 10;
  const std::uint64_t micro = whole * 1000000 + frac + (round_up ? 1 : 0);
  if (micro > kMaxUsageMicroUsd) return std::nullopt;
  return micro;
}

std::optional<std::uint64_t> micro_usd_from_double(double usd) {
  if (!std::isfinite(usd) || usd < 0) return std::nullopt;
  const double micro = std::round(usd * 1e6);
  if (micro > static_cast<double>(kMaxUsageMicroUsd)) return std::nullopt;
  return static_cast<std::uint64_t>(micro);
}

std::string format_usd(std::uint64_t micro_usd, int decimals) {
  if (decimals < 0) decimals = 0;
  if (decimals > 6) decimals = 6;
  std::uint64_t unit = 1;
  for (int i = decimals; i < 6; ++i) unit *= 10;
  const std::uint64_t rounded = (micro_usd + unit / 2) / unit;  // in 10^-decimals dollars
  std::uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  std::string out = std::to_string(rounded / scale);
  if (decimals > 0) {
    std::string frac = std::to_string(rounded % scale);
    out += '.' + std::string(static_cast<std::size_t>(decimals) - frac.size(), '0') + frac;
  }
  return out;
}

}  // namespace br
