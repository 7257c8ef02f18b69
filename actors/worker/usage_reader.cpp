#include "actors/worker/usage_reader.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>

namespace br {
namespace {

using nlohmann::json;

constexpr std::string_view kUsagePrefix = "BR-USAGE:";

// A count from a JSON record: an absent key is 0, anything else that is not a non-negative
// integer within bounds makes the record unreadable.
bool json_count(const json& obj, const char* key, std::uint64_t limit, std::uint64_t& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_number_unsigned()) return false;
  const auto v = it->get<std::uint64_t>();
  if (v > limit) return false;
  out = v;
  return true;
}

std::optional<json> parse_object(std::string_view text) {
  if (text.empty() || text.front() != '{') return std::nullopt;
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  return doc;
}

std::string bounded_message(const std::string& text) {
  if (text.size() <= UsageReader::kMaxMessageBytes) return text;
  // Keep the end: its last line is what a failure's reason shows.
  std::size_t from = text.size() - UsageReader::kMaxMessageBytes;
  while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) ++from;
  return text.substr(from);
}

bool parse_count(std::string_view text, std::uint64_t limit, std::uint64_t& out) {
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || text.empty() || v > limit) return false;
  out = v;
  return true;
}

}  // namespace

std::optional<Usage> parse_usage_line(std::string_view line) {
  if (line.substr(0, kUsagePrefix.size()) != kUsagePrefix) return std::nullopt;
  line.remove_prefix(kUsagePrefix.size());
  Usage u;
  bool have_in = false, have_out = false;
  while (!line.empty()) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const auto end = std::min(line.find(' '), line.size());
    const std::string_view field = line.substr(0, end);
    line.remove_prefix(end);
    const auto eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    bool ok = true;
    if (key == "tokens_in") {
      ok = parse_count(value, kMaxUsageTokens, u.tokens_in);
      have_in = true;
    } else if (key == "tokens_out") {
      ok = parse_count(value, kMaxUsageTokens, u.tokens_out);
      have_out = true;
    } else if (key == "cache_read_tokens") {
      ok = parse_count(value, kMaxUsageTokens, u.cache_read_tokens);
    } else if (key == "cache_write_tokens") {
      ok = parse_count(value, kMaxUsageTokens, u.cache_write_tokens);
    } else if (key == "turns") {
      std::uint64_t turns = 0;
      ok = parse_count(value, kMaxUsageTurns, turns);
      u.turns = static_cast<std::uint32_t>(turns);
    } else if (key == "cost_usd") {
      const auto micro = parse_micro_usd(value);
      ok = micro.has_value();
      u.cost_micro_usd = micro.value_or(0);
      u.cost_known = ok;
    }
    // Other keys are left for later versions of the line, so a newer wrapper still works.
    if (!ok) return std::nullopt;
  }
  if (!have_in || !have_out) return std::nullopt;
  u.known = true;
  return u;
}

void UsageReader::feed(const char* data, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '\n') {
      if (!overlong_) line(current_);
      current_.clear();
      overlong_ = false;
    } else if (!overlong_) {
      if (current_.size() >= kMaxLineBytes) {
        overlong_ = true;
        current_.clear();
      } else {
        current_.push_back(c);
      }
    }
  }
}

void UsageReader::finish() {
  if (!overlong_ && !current_.empty()) line(current_);
  current_.clear();
  overlong_ = false;
}

Usage UsageReader::usage() const { return line_usage_ ? *line_usage_ : format_usage_; }

void UsageReader::line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.substr(0, kUsagePrefix.size()) == kUsagePrefix) {
    if (auto u = parse_usage_line(text)) line_usage_ = *u;
    return;
  }
  if (format_ == AgentOutput::claude_json) claude_record(text);
  if (format_ == AgentOutput::codex_json) codex_record(text);
}

void UsageReader::claude_record(std::string_view text) {
  const auto doc = parse_object(text);
  // `--output-format json` prints the result object alone; stream-json ends with it, marked
  // "type":"result". Other stream-json events (assistant, user, system) carry no totals.
  if (!doc || doc->value("type", std::string()) != "result") return;
  Usage u;
  const auto cost = doc->find("total_cost_usd");
  if (cost != doc->end() && !cost->is_null()) {
    if (!cost->is_number()) return;
    const auto micro = micro_usd_from_double(cost->get<double>());
    if (!micro) return;
    u.cost_micro_usd = *micro;
    u.cost_known = true;
  }
  const auto usage = doc->find("usage");
  if (usage == doc->end() || !usage->is_object()) return;
  if (!json_count(*usage, "input_tokens", kMaxUsageTokens, u.tokens_in) ||
      !json_count(*usage, "output_tokens", kMaxUsageTokens, u.tokens_out) ||
      !json_count(*usage, "cache_creation_input_tokens", kMaxUsageTokens, u.cache_write_tokens) ||
      !json_count(*usage, "cache_read_input_tokens", kMaxUsageTokens, u.cache_read_tokens)) {
    return;
  }
  std::uint64_t turns = 0, duration = 0;
  if (!json_count(*doc, "num_turns", kMaxUsageTurns, turns) ||
      !json_count(*doc, "duration_ms", std::uint64_t{1} << 40, duration)) {
    return;
  }
  u.turns = static_cast<std::uint32_t>(turns);
  u.duration_ms = static_cast<std::int64_t>(duration);
  u.known = true;
  format_usage_ = u;
  const auto result = doc->find("result");
  if (result != doc->end() && result->is_string()) {
    final_message_ = bounded_message(result->get<std::string>());
  }
}

void UsageReader::codex_record(std::string_view text) {
  const auto doc = parse_object(text);
  if (!doc) return;
  const std::string type = doc->value("type", std::string());
  if (type == "turn.completed") {
    const auto usage = doc->find("usage");
    if (usage == doc->end() || !usage->is_object()) return;
    std::uint64_t in = 0, cached = 0, out = 0;
    if (!json_count(*usage, "input_tokens", kMaxUsageTokens, in) ||
        !json_count(*usage, "cached_input_tokens", kMaxUsageTokens, cached) ||
        !json_count(*usage, "output_tokens", kMaxUsageTokens, out)) {
      return;
    }
    // Codex counts cached tokens inside input_tokens; br keeps them apart, as Claude does.
    const std::uint64_t fresh = in >= cached ? in - cached : 0;
    Usage& u = format_usage_;
    if (u.tokens_in + fresh > kMaxUsageTokens || u.tokens_out + out > kMaxUsageTokens ||
        u.cache_read_tokens + cached > kMaxUsageTokens) {
      return;
    }
    u.tokens_in += fresh;
    u.cache_read_tokens += cached;
    u.tokens_out += out;
    ++u.turns;
    u.known = true;
  } else if (type == "item.completed") {
    const auto item = doc->find("item");
    if (item == doc->end() || !item->is_object()) return;
    const auto item_type = item->find("type");
    const auto item_text = item->find("text");
    if (item_type != item->end() && *item_type == "agent_message" && item_text != item->end() &&
        item_text->is_string()) {
      final_message_ = bounded_message(item_text->get<std::string>());
    }
  }
}

}  // namespace br
