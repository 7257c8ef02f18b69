#include "coordinator/usage_view.hpp"

#include <fmt/format.h>

namespace br {
namespace {

// Dollars as a JSON number: exact to the millionth as printed (1e-6 steps), which a reader
// parsing it back as a double gets again.
double usd(std::uint64_t micro) { return static_cast<double>(micro) / 1e6; }

std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::uint64_t micro_of(const nlohmann::json& cost) {
  if (!cost.is_number()) return 0;
  return micro_usd_from_double(cost.get<double>()).value_or(0);
}

}  // namespace

nlohmann::json usage_json(const Usage& u) {
  return {{"known", u.known},
          {"tokens_in", u.tokens_in},
          {"tokens_out", u.tokens_out},
          {"cache_write_tokens", u.cache_write_tokens},
          {"cache_read_tokens", u.cache_read_tokens},
          {"cost_usd", u.known && u.cost_known ? nlohmann::json(usd(u.cost_micro_usd))
                                               : nlohmann::json(nullptr)},
          {"turns", u.turns},
          {"duration_ms", u.duration_ms}};
}

nlohmann::json usage_total_json(const UsageTotal& t) {
  return {{"attempts", t.attempts},
          {"unknown_attempts", t.unknown_attempts},
          {"tokens_in", t.tokens_in},
          {"tokens_out", t.tokens_out},
          {"cache_write_tokens", t.cache_write_tokens},
          {"cache_read_tokens", t.cache_read_tokens},
          {"tokens", t.tokens_total()},
          {"cost_usd", usd(t.cost_micro_usd)}};
}

std::string usage_total_text(const nlohmann::json& t) {
  const auto n = [&](const char* key) { return t.value(key, std::uint64_t{0}); };
  std::string out = fmt::format("${}, {} tokens", format_usd(micro_of(t.value("cost_usd", nlohmann::json())), 2),
                                grouped(n("tokens")));
  if (n("unknown_attempts") > 0) {
    out += fmt::format(" ({} attempt{} of {} reported no usage)", n("unknown_attempts"),
                       n("unknown_attempts") == 1 ? "" : "s", n("attempts"));
  }
  return out;
}

std::string usage_text(const nlohmann::json& u) {
  if (!u.value("known", false)) return "unknown (the agent reported none)";
  const auto n = [&](const char* key) { return u.value(key, std::uint64_t{0}); };
  const auto cost = u.value("cost_usd", nlohmann::json());
  std::string out = cost.is_number() ? "$" + format_usd(micro_of(cost)) : "cost unknown";
  out += fmt::format(", {} in / {} out", grouped(n("tokens_in")), grouped(n("tokens_out")));
  const std::uint64_t cached = n("cache_read_tokens") + n("cache_write_tokens");
  if (cached > 0) out += fmt::format(" / {} cache", grouped(cached));
  out += " tokens";
  if (n("turns") > 0) out += fmt::format(", {} turn{}", n("turns"), n("turns") == 1 ? "" : "s");
  return out;
}

}  // namespace br
