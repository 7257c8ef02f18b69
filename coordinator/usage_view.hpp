// Usage (tokens, cost) as the views show it: the same JSON shape in `br status --json`,
// `br task show --json` and `br report --json`, and one line of text for people.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "protocol/usage.hpp"

namespace br {

// One attempt: {"known", "tokens_in", "tokens_out", "cache_write_tokens", "cache_read_tokens",
// "cost_usd" (a number, null when unknown), "turns", "duration_ms"}.
nlohmann::json usage_json(const Usage& usage);

// A sum over attempts: {"attempts", "unknown_attempts", "tokens_in", "tokens_out",
// "cache_write_tokens", "cache_read_tokens", "tokens", "cost_usd"}.
nlohmann::json usage_total_json(const UsageTotal& total);

// "$0.42, 12,345 tokens (1 attempt of 3 reported nothing)"; from usage_total_json's shape.
std::string usage_total_text(const nlohmann::json& total);

// "$0.042184, 1,200 in / 340 out / 40,311 cached tokens, 4 turns" or "unknown"; from
// usage_json's shape.
std::string usage_text(const nlohmann::json& usage);

}  // namespace br
