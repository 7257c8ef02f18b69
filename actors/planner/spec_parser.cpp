#include "actors/planner/spec_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "actors/planner/id_index.hpp"
#include "protocol/acceptance_criterion.hpp"
#include "protocol/bounded_read.hpp"
#include "protocol/name_matching.hpp"
#include "protocol/utf8.hpp"

namespace br {
namespace {

// ---- text helpers ---------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}


bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// `text` equals `lower` (lower case) but for the case of ASCII letters; no copy.
bool equals_lower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// Drops leading emoji and other non-ASCII symbols (and the spaces after them).
std::string_view strip_leading_symbols(std::string_view s) {
  s = trim(s);
  while (!s.empty() && static_cast<unsigned char>(s.front()) >= 0x80) {
    // Skip one UTF-8 sequence; a letter such as "É" starts a word and is kept.
    const auto lead = static_cast<unsigned char>(s.front());
    if (lead == 0xC3) break;  // Latin-1 letters
    std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    s.remove_prefix(std::min(len, s.size()));
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  }
  return s;
}

// First invalid byte of strict UTF-8, or npos.
std::size_t invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // ASCII, most of any spec, 8 bytes at a time.
    if (i + 8 <= s.size()) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

// ---- fields ---------------------------------------------------------------------------------

enum class Field { none, description, priority, depends, domain, complexity, status,
                   requirements, acceptance, technical, files, other };

Field field_named(std::string_view raw) {
  std::string_view name = trim(raw);
  while (!name.empty() && (name.back() == ':' || name.back() == ' ')) name.remove_suffix(1);
  struct Named {
    std::string_view name;
    Field field;
  };
  static constexpr Named kNames[] = {
      {"description", Field::description},
      {"summary", Field::description},
      {"priority", Field::priority},
      {"depends on", Field::depends},
      {"depends", Field::depends},
      {"depends_on", Field::depends},
      {"blocked by", Field::depends},
      {"status", Field::status},
      {"deliverables", Field::requirements},
      {"success", Field::acceptance},
      {"domain", Field::domain},
      {"complexity", Field::complexity},
      {"estimate", Field::complexity},
      {"estimated time", Field::complexity},
      {"requirements", Field::requirements},
      {"functional requirements", Field::requirements},
      {"acceptance criteria", Field::acceptance},
      {"success criteria", Field::acceptance},
      {"technical details", Field::technical},
      {"implementation details", Field::technical},
      {"technical notes", Field::technical},
      {"files", Field::files},
      {"files to create", Field::files},
      {"files to modify", Field::files},
  };
  // Asked of every line that looks like a field: compared in place, without a copy.
  for (const Named& n : kNames) {
    if (equals_lower(name, n.name)) return n.field;
  }
  return Field::none;
}

// "**Name:** value", "**Name**: value", "- **Name:** value" → name, value.
std::optional<std::pair<std::string_view, std::string_view>> bold_field(std::string_view line) {
  line = trim(line);
  if (starts_with(line, "- ") || starts_with(line, "* ")) line = trim(line.substr(2));
  if (!starts_with(line, "**")) return std::nullopt;
  const std::size_t close = line.find("**", 2);
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view name = trim(line.substr(2, close - 2));
  std::string_view rest = line.substr(close + 2);
  if (!name.empty() && name.back() == ':') {
    name.remove_suffix(1);
  } else if (!rest.empty() && rest.front() == ':') {
    rest.remove_prefix(1);
  } else {
    return std::nullopt;
  }
  if (name.empty()) return std::nullopt;
  return std::make_pair(trim(name), trim(rest));
}

// "Priority: High" — only for names br knows, so prose like "Note: …" stays prose.
std::optional<std::pair<Field, std::string_view>> plain_field(std::string_view line) {
  line = trim(line);
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 32) return std::nullopt;
  const Field f = field_named(line.substr(0, colon));
  if (f == Field::none) return std::nullopt;
  return std::make_pair(f, trim(line.substr(colon + 1)));
}

struct ListItem {
  std::size_t indent = 0;
  std::string_view text;
};

std::optional<ListItem> list_item(std::string_view line) {
  std::size_t indent = 0;
  while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t')) ++indent;
  std::string_view rest = line.substr(indent);
  if (rest.size() >= 2 && (rest[0] == '-' || rest[0] == '*' || rest[0] == '+') &&
      (rest[1] == ' ' || rest[1] == '\t')) {
    return ListItem{indent, trim(rest.substr(2))};
  }
  std::size_t digits = 0;
  while (digits < rest.size() && digits < 4 && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits > 0 && digits + 1 < rest.size() && (rest[digits] == '.' || rest[digits] == ')') &&
      (rest[digits + 1] == ' ' || rest[digits + 1] == '\t')) {
    return ListItem{indent, trim(rest.substr(digits + 2))};
  }
  return std::nullopt;
}

// Checkmarks and emoji that people put in front of criteria.
std::string clean_item(std::string_view item) {
  item = strip_leading_symbols(item);
  if (starts_with(item, "[ ] ") || starts_with(item, "[x] ") || starts_with(item, "[X] ")) {
    item.remove_prefix(4);
  }
  return std::string(trim(item));
}

bool to_be_defined(const std::string& item) {
  const std::string l = ascii_lower(item);
  return l.empty() || l == "to be defined" || l == "to be defined." || l == "tbd" || l == "tbd.";
}

// Calls `each` with every trimmed, non-empty part of a comma-separated list.
template <class Each>
void for_each_listed(std::string_view list, const Each& each) {
  for (std::string_view rest = list; !rest.empty();) {
    const std::size_t comma = rest.find(',');
    const std::string_view part = trim(rest.substr(0, comma));
    if (!part.empty()) each(part);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

// Why `path` (of an expected file or a criterion) would lie outside the workspace, judged by
// its text alone; nullptr when it stays inside. The worker checks again on disk (symlinks).
const char* outside_workspace(std::string_view path) {
  if (!path.empty() && (path.front() == '/' || path.front() == '\\' || path.front() == '~')) {
    return "is not relative to the workspace";
  }
  if (path.size() >= 2 && path[1] == ':') return "is not relative to the workspace";
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = path.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return "climbs out of the workspace ('..')";
    start = end + 1;
  }
  return nullptr;
}

// The path in a Files item: the first `backticked` part, else the first word.
std::string file_path_of(std::string_view item) {
  const std::size_t open = item.find('`');
  if (open != std::string_view::npos) {
    const std::size_t close = item.find('`', open + 1);
    if (close != std::string_view::npos) return std::string(trim(item.substr(open + 1, close - open - 1)));
  }
  item = trim(item);
  return std::string(item.substr(0, item.find_first_of(" \t")));
}

// ---- headings -------------------------------------------------------------------------------

struct Heading {
  int level = 0;
  std::string_view text;
};

std::optional<Heading> heading(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == '#') ++n;
  if (n == 0 || n > 6 || n >= line.size() || (line[n] != ' ' && line[n] != '\t')) {
    return std::nullopt;
  }
  std::string_view text = trim(line.substr(n));
  while (!text.empty() && text.back() == '#') text.remove_suffix(1);  // closing hashes
  return Heading{static_cast<int>(n), trim(text)};
}

// "Feature 2: Adaptive Planner", "Feature: Gap Analyzer" → the title after the colon.
std::optional<std::string_view> feature_heading_title(std::string_view text) {
  text = strip_leading_symbols(text);
  if (ascii_lower(text.substr(0, 7)) != "feature") return std::nullopt;
  std::string_view rest = trim(text.substr(7));
  while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  rest = trim(rest);
  if (rest.empty() || (rest.front() != ':' && rest.front() != '-' && rest.front() != '.')) {
    return std::nullopt;
  }
  return trim(rest.substr(1));
}

// "Phase 3: Title" / "Phase 3.1 - Title" → ("3" / "3.1", "Title"), under a Phases section.
std::optional<std::pair<std::string, std::string_view>> phase_heading(std::string_view text) {
  text = strip_leading_symbols(text);
  if (text.size() < 6 || ascii_lower(text.substr(0, 5)) != "phase" || text[5] != ' ') {
    return std::nullopt;
  }
  std::string_view rest = trim(text.substr(6));
  std::size_t i = 0;
  while (i < rest.size() && ((rest[i] >= '0' && rest[i] <= '9') || rest[i] == '.')) ++i;
  std::string number(rest.substr(0, i));
  while (!number.empty() && number.back() == '.') number.pop_back();
  if (number.empty() || number.front() == '.') return std::nullopt;
  rest = trim(rest.substr(i));
  if (rest.empty() || (rest.front() != ':' && rest.front() != '-')) return std::nullopt;
  rest = trim(rest.substr(1));
  if (rest.empty()) return std::nullopt;
  return std::make_pair(number, rest);
}

// "Phase 3", "phase 3.1", "3" → "3" / "3.1"; "" when it names no phase.
std::string phase_reference(std::string_view ref) {
  ref = trim(ref);
  if (ref.size() > 6 && equals_lower(ref.substr(0, 6), "phase ")) ref = trim(ref.substr(6));
  if (ref.empty() || ref.size() > 16) return "";
  for (char c : ref) {
    if ((c < '0' || c > '9') && c != '.') return "";
  }
  return std::string(ref);
}

// A Status value that says the work is done: ✅, or the word complete, completed, done or
// finished (not "incomplete", not "in progress").
bool says_done(std::string_view value) {
  if (value.find("\u2705") != std::string_view::npos) return true;  // ✅
  const std::string l = ascii_lower(value);
  std::size_t i = 0;
  while (i < l.size()) {
    while (i < l.size() && !(l[i] >= 'a' && l[i] <= 'z')) ++i;
    std::size_t end = i;
    while (end < l.size() && l[end] >= 'a' && l[end] <= 'z') ++end;
    const std::string_view word(l.data() + i, end - i);
    if (word == "not") return false;
    if (word == "complete" || word == "completed" || word == "done" || word == "finished") {
      return true;
    }
    i = end;
  }
  return false;
}

// "1.2 Title" → ("1-2", "Title").
std::optional<std::pair<std::string, std::string_view>> numbered_heading(std::string_view text) {
  std::size_t i = 0;
  std::string number;
  bool dotted = false;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
    if (text[i] == '.') dotted = true;
    number += text[i] == '.' ? '-' : text[i];
    ++i;
  }
  while (!number.empty() && number.back() == '-') number.pop_back();
  if (!dotted || number.empty() || i >= text.size() || text[i] != ' ') return std::nullopt;
  return std::make_pair(number, trim(text.substr(i)));
}

// Explicit ids: "Title {#id}" or "Title [ID]".
std::pair<std::string_view, std::string> split_explicit_id(std::string_view title) {
  title = trim(title);
  if (!title.empty() && title.back() == '}') {
    const std::size_t open = title.rfind("{#");
    if (open != std::string_view::npos) {
      return {trim(title.substr(0, open)),
              std::string(trim(title.substr(open + 2, title.size() - open - 3)))};
    }
  }
  if (!title.empty() && title.back() == ']') {
    const std::size_t open = title.rfind('[');
    if (open != std::string_view::npos && open > 0) {
      std::string id(trim(title.substr(open + 1, title.size() - open - 2)));
      const bool plain = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
      });
      if (plain) return {trim(title.substr(0, open)), id};
    }
  }
  return {title, ""};
}

// Heading emoji stand for a priority when the feature has no Priority field.
std::optional<Priority> emoji_priority(std::string_view heading_text) {
  if (heading_text.find("\xF0\x9F\x94\xB4") != std::string_view::npos) return Priority::high;    // 🔴
  if (heading_text.find("\xF0\x9F\x9F\xA1") != std::string_view::npos) return Priority::medium;  // 🟡
  if (heading_text.find("\xF0\x9F\x9F\xA2") != std::string_view::npos) return Priority::low;     // 🟢
  return std::nullopt;
}

// ---- the parse ------------------------------------------------------------------------------

struct DependencyRef {
  std::string text;
  std::uint32_t line = 0;
};

struct Draft {
  Feature feature;
  int level = 0;                 // heading level that opened it
  bool has_priority = false;
  std::optional<std::size_t> parent;
  std::vector<DependencyRef> depends;
};

class Parser {
 public:
  Parser(std::string path, const ParseLimits& limits) : path_(std::move(path)), limits_(limits) {}

  Result<Spec> run(std::string_view text) {
    if (text.size() > limits_.max_bytes) {
      return Error::at(path_, 0,
                       "spec is " + std::to_string(text.size()) + " bytes, larger than the limit "
                       "of " + std::to_string(limits_.max_bytes) + " bytes; raise "
                       "limits.spec_max_bytes in br.toml or split the spec");
    }
    if (const std::size_t bad = invalid_utf8(text); bad != std::string_view::npos) {
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n');
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(text[bad]));
      return Error::at(path_, static_cast<std::uint32_t>(line),
                       std::string("not UTF-8 text (invalid byte ") + hex +
                           "); save the spec as UTF-8");
    }
    // A NUL is valid UTF-8 but never text: it is what a binary file or a broken editor leaves.
    if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(nul), '\n');
      return Error::at(path_, static_cast<std::uint32_t>(line),
                       "a NUL byte (0x00); a spec is UTF-8 text, is this the right file?");
    }
    std::uint32_t number = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++number;
      line(text.substr(start, end - start), number);
      if (too_many_) break;
      start = end + 1;
    }
    if (too_many_) {
      return Error::at(path_, number, "more than " + std::to_string(limits_.max_features) +
                                          " features; raise limits.max_tasks or split the spec");
    }
    if (drafts_.empty()) {
      errors_.push_back(Diagnostic{path_, 1,
                                   "no features found; write each feature as a level-3 heading "
                                   "under '## Features' (### Title) or as '## Feature 1: Title'"});
      return Error{std::move(errors_)};
    }
    resolve();
    if (!errors_.empty()) {
      std::stable_sort(errors_.begin(), errors_.end(),
                       [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
      return Error{std::move(errors_)};
    }
    Spec spec;
    spec.path = path_;
    spec.title = title_.empty() ? "Untitled project" : title_;
    spec.overview = std::move(overview_);
    spec.features.reserve(drafts_.size());
    for (auto& d : drafts_) spec.features.push_back(std::move(d.feature));
    return spec;
  }

 private:
  void error(std::uint32_t line, std::string message) {
    errors_.push_back(Diagnostic{path_, line, std::move(message)});
  }

  Draft* current() { return open_ ? &drafts_[*open_] : nullptr; }

  void add_overview(std::string_view text) {
    if (overview_.size() + text.size() + 1 > kMaxOverviewBytes) return;
    overview_.append(text.data(), text.size());
    overview_ += '\n';
  }

  void start_feature(std::string_view heading_text, std::string_view title, int level,
                     std::uint32_t number, std::optional<std::size_t> parent,
                     const std::string& sub_number = {}) {
    if (drafts_.size() >= limits_.max_features) {
      too_many_ = true;
      return;
    }
    auto [clean_title, explicit_id] = split_explicit_id(strip_leading_symbols(title));
    Draft d;
    d.level = level;
    d.parent = parent;
    d.feature.title = std::string(clean_title);
    d.feature.line = number;
    if (!explicit_id.empty()) {
      d.feature.id = FeatureId(explicit_id);
    } else if (parent) {
      d.feature.id = FeatureId(drafts_[*parent].feature.id.str() + "." + sub_number);
    } else {
      std::string slug = slugify(clean_title);
      d.feature.id = FeatureId(slug.empty() ? "feature-" + std::to_string(number) : slug);
    }
    if (explicit_id.empty() && heading_text.find("{#") != std::string_view::npos) {
      error(number, "empty feature id in '{#}'; write {#some-id} or leave it out");
    }
    if (auto p = emoji_priority(heading_text)) {
      d.feature.priority = *p;
      d.has_priority = true;
    }
    if (parent) d.feature.parent = drafts_[*parent].feature.id;
    drafts_.push_back(std::move(d));
    open_ = drafts_.size() - 1;
    enter(Field::none);
  }

  void enter(Field f) {
    field_ = f;
    field_has_value_ = false;
    blank_after_value_ = false;
  }

  // A row of a markdown table outside features: a header with "Phase" and "Blocked By"
  // columns makes the rows below it dependencies between phases.
  void table_row(std::string_view text, std::uint32_t number) {
    if (text.empty() || text.front() != '|') {
      table_phase_column_.reset();
      table_blocked_column_.reset();
      return;
    }
    std::vector<std::string_view> cells;
    for (std::string_view rest = text.substr(1); !rest.empty();) {
      const std::size_t bar = rest.find('|');
      cells.push_back(trim(rest.substr(0, bar)));
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    if (!table_phase_column_ || !table_blocked_column_) {
      for (std::size_t i = 0; i < cells.size(); ++i) {
        if (equals_lower(cells[i], "phase")) table_phase_column_ = i;
        if (equals_lower(cells[i], "blocked by")) table_blocked_column_ = i;
      }
      if (!table_phase_column_ || !table_blocked_column_) {
        table_phase_column_.reset();
        table_blocked_column_.reset();
      }
      return;
    }
    if (*table_phase_column_ >= cells.size() || *table_blocked_column_ >= cells.size()) return;
    const std::string phase = phase_reference(cells[*table_phase_column_]);
    if (phase.empty()) return;  // the |---|---| line, or not a phase
    for_each_listed(cells[*table_blocked_column_], [&](std::string_view part) {
      table_blocked_by_.push_back({phase, DependencyRef{std::string(part), number}});
    });
  }

  void add_file(std::string path, std::uint32_t number) {
    if (path.empty()) return;
    if (const char* why = outside_workspace(path)) {
      error(number, "expected file '" + path + "' " + why +
                        "; name files by their path inside the workspace, e.g. src/app.py");
    }
    current()->feature.files.push_back(std::move(path));
  }

  void close_feature() {
    open_.reset();
    enter(Field::none);
  }

  std::size_t top_level(std::size_t i) const {
    return drafts_[i].parent ? *drafts_[i].parent : i;
  }

  void line(std::string_view raw, std::uint32_t number) {
    const std::string_view text = trim(raw);
    // Fenced code is opaque: a '#' line inside is not a heading.
    if (starts_with(text, "```") || starts_with(text, "~~~")) {
      fence_ = !fence_;
      body(raw, number, /*code=*/true);
      return;
    }
    if (fence_) {
      body(raw, number, true);
      return;
    }
    if (auto h = heading(raw)) {
      on_heading(*h, number);
      return;
    }
    body(raw, number, false);
  }

  void on_heading(const Heading& h, std::uint32_t number) {
    const auto feature_title = feature_heading_title(h.text);
    if (h.level == 1) {
      close_feature();
      if (title_.empty()) title_ = std::string(strip_leading_symbols(h.text));
      return;
    }
    if (h.level == 2) {
      close_feature();
      in_features_section_ = false;
      {
        const std::string name = ascii_lower(strip_leading_symbols(h.text));
        in_phases_section_ = name == "phases" || name == "phase plan";
      }
      if (feature_title) {
        start_feature(h.text, *feature_title, 2, number, std::nullopt);
        return;
      }
      in_features_section_ = ascii_lower(strip_leading_symbols(h.text)) == "features";
      add_overview(std::string(h.level, '#') + " " + std::string(h.text));
      return;
    }
    Draft* open = current();
    if (h.level == 3) {
      if (feature_title) {
        start_feature(h.text, *feature_title, 3, number, std::nullopt);
        return;
      }
      if (in_phases_section_) {
        if (auto phase = phase_heading(h.text)) {
          start_feature(h.text, phase->second, 3, number, std::nullopt);
          if (!too_many_) phases_.emplace(phase->first, drafts_.size() - 1);
          return;
        }
      }
      if (open && drafts_[top_level(*open_)].level == 2) {
        open_ = top_level(*open_);  // back from a sub-feature to its "## Feature" parent
        sub_heading(h, number);
        return;
      }
      if (in_features_section_) {
        start_feature(h.text, h.text, 3, number, std::nullopt);
        return;
      }
      close_feature();
      add_overview(std::string(h.level, '#') + " " + std::string(h.text));
      return;
    }
    // Level 4 and deeper: sub-features ("#### 1.2 Title") or parts of the open feature.
    if (open) {
      if (h.level == 4) {
        if (auto numbered = numbered_heading(strip_leading_symbols(h.text))) {
          const std::size_t parent = top_level(*open_);
          start_feature(h.text, numbered->second, 4, number, parent, numbered->first);
          return;
        }
      }
      sub_heading(h, number);
      return;
    }
    add_overview(std::string(h.level, '#') + " " + std::string(h.text));
  }

  // A heading inside a feature: a field ("### Requirements") or a part kept as context.
  void sub_heading(const Heading& h, std::uint32_t number) {
    const Field f = field_named(strip_leading_symbols(h.text));
    if (f != Field::none) {
      enter(f);
      field_line_ = number;
      return;
    }
    enter(Field::other);
    append_context(std::string(h.level, '#') + " " + std::string(h.text));
  }

  void append_context(std::string_view text) {
    Draft* d = current();
    if (!d || d->feature.context.size() + text.size() > kMaxOverviewBytes) return;
    d->feature.context.append(text.data(), text.size());
    d->feature.context += '\n';
  }

  void body(std::string_view raw, std::uint32_t number, bool code) {
    Draft* d = current();
    const std::string_view text = trim(raw);
    if (!d) {
      if (!code) table_row(text, number);
      if (!text.empty()) add_overview(raw);
      return;
    }
    if (text.empty()) {
      blank_after_value_ = field_has_value_;
      return;
    }
    // A blank line ends a field that has a value (the paragraph after `Depends on: X` is
    // prose, not more dependencies), except that a list goes on past one.
    if (blank_after_value_ && !code) {
      const bool prose_field =
          field_ == Field::none || field_ == Field::description || field_ == Field::other;
      const bool list_field = field_ == Field::requirements || field_ == Field::acceptance ||
                              field_ == Field::technical || field_ == Field::files;
      if (!prose_field && !(list_field && list_item(raw))) enter(Field::none);
      blank_after_value_ = false;
    }
    if (!code) {
      if (auto bold = bold_field(text)) {
        const Field f = field_named(bold->first);
        enter(f == Field::none ? Field::other : f);
        field_line_ = number;
        if (f == Field::none) {
          append_context(text);
        } else if (!bold->second.empty()) {
          value(bold->second, number, /*indent=*/0, /*listed=*/false);
        }
        return;
      }
      // Inside a list of requirements or criteria only a bare label ("Acceptance Criteria:")
      // starts another field: "Priority: keep it cheap" there is an item of that list.
      if (auto plain = plain_field(text);
          plain && ((field_ != Field::acceptance && field_ != Field::requirements) ||
                    plain->second.empty())) {
        enter(plain->first);
        field_line_ = number;
        if (!plain->second.empty()) value(plain->second, number, 0, false);
        return;
      }
    }
    if (code) {
      // Code samples help an agent; keep them with the technical details.
      if (field_ == Field::technical || field_ == Field::other || field_ == Field::none) {
        append_context(raw);
      }
      return;
    }
    if (auto item = list_item(raw)) {
      value(item->text, number, item->indent, true);
      return;
    }
    if (text == "---" || text == "***") return;
    value(text, number, 0, false);
  }

  void value(std::string_view text, std::uint32_t number, std::size_t indent, bool listed) {
    Draft& d = *current();
    Feature& f = d.feature;
    field_has_value_ = true;
    switch (field_) {
      case Field::status:
        if (says_done(text)) f.done = true;
        break;
      case Field::none:
      case Field::description:
        if (!f.description.empty()) f.description += listed ? "\n- " : " ";
        f.description += text;
        break;
      case Field::priority: {
        const std::string word = first_word(text);
        if (auto p = parse_priority(word)) {
          f.priority = *p;
          d.has_priority = true;
        } else {
          error(number, "invalid priority '" + std::string(trim(text)) +
                            "'; use critical, high, medium or low");
        }
        break;
      }
      case Field::depends:
        for_each_listed(text, [&](std::string_view part) {
          d.depends.push_back(DependencyRef{std::string(part), number});
        });
        break;
      case Field::domain: {
        const std::string word = first_word(text);
        if (auto domain = parse_domain(word)) {
          f.domain = *domain;
        } else {
          error(number, "invalid domain '" + std::string(trim(text)) +
                            "'; use database, backend, api, frontend, ui, infra, docs or test");
        }
        break;
      }
      case Field::complexity: {
        if (auto c = parse_complexity(first_word(text))) f.complexity = *c;
        const std::string l = ascii_lower(text);
        const std::size_t min = l.find("min");
        if (min != std::string::npos) {
          std::size_t k = min;
          while (k > 0 && (l[k - 1] == ' ' || l[k - 1] == '(')) --k;
          std::size_t digits_end = k;
          while (k > 0 && l[k - 1] >= '0' && l[k - 1] <= '9') --k;
          if (k < digits_end && digits_end - k <= 4) {
            f.minutes = static_cast<std::uint32_t>(std::stoul(l.substr(k, digits_end - k)));
          }
        }
        break;
      }
      case Field::requirements:
      case Field::acceptance:
      case Field::technical: {
        auto& list = field_ == Field::requirements ? f.requirements
                     : field_ == Field::acceptance ? f.acceptance
                                                   : f.technical;
        std::string item = clean_item(text);
        if (field_ == Field::acceptance && to_be_defined(item)) break;
        // A checked deliverable of unfinished work is done: context for the agent, not work.
        if (field_ == Field::requirements && listed &&
            (starts_with(text, "[x] ") || starts_with(text, "[X] "))) {
          append_context("Done already: " + item);
          break;
        }
        if (field_ == Field::acceptance) check_criterion(item, number);
        if (!listed && !list.empty() && indent == 0 && field_ != Field::acceptance) {
          list.back() += " " + item;  // a wrapped line of prose
        } else if (!item.empty()) {
          list.push_back(std::move(item));
        }
        break;
      }
      case Field::files:
        if (indent > 0) break;  // notes under a file, not files
        if (listed) {
          add_file(file_path_of(text), number);
          break;
        }
        // Inline, "a.py, `b.py` (NEW), c.py": every path, annotations dropped.
        for_each_listed(text, [&](std::string_view part) { add_file(file_path_of(part), number); });
        break;
      case Field::other:
        append_context(std::string(listed ? "- " : "") + std::string(text));
        break;
    }
  }

  // A machine-checkable criterion is checked here, where its line is known, by the parser
  // the worker uses: a malformed one fails `br plan`, not an attempt after its agent ran.
  void check_criterion(const std::string& item, std::uint32_t number) {
    // Prose, the common case, starts with none of the three words.
    const auto lead_at = item.find_first_not_of('`');
    if (lead_at == std::string::npos) return;
    const char lead = static_cast<char>(item[lead_at] | 0x20);
    if (lead != 'r' && lead != 'f' && lead != 'c') return;
    auto parsed = parse_criterion(item);
    if (!parsed) {
      error(number, parsed.error().str());
      return;
    }
    if (!*parsed) return;
    const Criterion& c = **parsed;
    if (c.kind == CriterionKind::run) {
      if (auto argv = split_command_line(c.command); !argv) {
        error(number, "criterion '" + item + "': " + argv.error().str());
      }
    } else if (const char* why = outside_workspace(c.path)) {
      error(number, "criterion '" + item + "': the path '" + c.path + "' " + why +
                        "; criteria check files inside the workspace");
    }
  }

  static std::string first_word(std::string_view text) {
    text = strip_leading_symbols(text);
    std::size_t end = 0;
    while (end < text.size() && ((text[end] >= 'a' && text[end] <= 'z') ||
                                 (text[end] >= 'A' && text[end] <= 'Z'))) {
      ++end;
    }
    return std::string(text.substr(0, end));
  }

  // Ids unique, dependencies known (by id, #id or title), sub-features inheriting, no cycles.
  void resolve() {
    // Keys are views of the drafts' ids and of `titles`, which outlive the indexes.
    IdIndex by_id(drafts_.size());
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      const Feature& f = drafts_[i].feature;
      auto [first, inserted] = by_id.emplace(f.id.str(), static_cast<std::uint32_t>(i));
      if (!inserted) {
        error(f.line, "duplicate feature id '" + f.id.str() + "' (first defined on line " +
                          std::to_string(drafts_[first].feature.line) +
                          "); give one of them an explicit id such as {#" + f.id.str() + "-2}");
      }
    }
    // Explicit ids that differ only in case ({#Foo}, {#foo}) would bind `Depends on: FOO`
    // to either one. Only ids with capitals are folded, so the usual spec pays nothing.
    std::unordered_map<std::string, std::uint32_t> folded;
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      const std::string& id = drafts_[i].feature.id.str();
      if (std::none_of(id.begin(), id.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) continue;
      const std::string lower = ascii_lower(id);
      std::optional<std::uint32_t> twin = by_id.find(lower);
      if (!twin) {
        auto [it, inserted] = folded.emplace(lower, static_cast<std::uint32_t>(i));
        if (!inserted && drafts_[it->second].feature.id.str() != id) twin = it->second;
      }
      if (!twin) continue;
      const Feature& a = drafts_[std::min<std::size_t>(*twin, i)].feature;
      const Feature& b = drafts_[std::max<std::size_t>(*twin, i)].feature;
      error(b.line, "feature ids '" + a.id.str() + "' (line " + std::to_string(a.line) + ") and '" +
                        b.id.str() + "' differ only in case; give one of them another id");
    }
    // Titles are looked up only for a dependency that is no id: built on the first such.
    std::vector<std::string> titles;
    std::optional<IdIndex> by_title;
    const auto title_index = [&]() -> const IdIndex& {
      if (!by_title) {
        titles.resize(drafts_.size());
        by_title.emplace(drafts_.size());
        for (std::size_t i = 0; i < drafts_.size(); ++i) {
          titles[i] = ascii_lower(drafts_[i].feature.title);
          by_title->emplace(titles[i], static_cast<std::uint32_t>(i));
        }
      }
      return *by_title;
    };
    for (auto& [phase, ref] : table_blocked_by_) {
      if (const auto it = phases_.find(phase); it != phases_.end()) {
        drafts_[it->second].depends.push_back(std::move(ref));
      }
    }
    std::vector<std::vector<std::size_t>> edges(drafts_.size());
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      Draft& d = drafts_[i];
      for (const auto& ref : d.depends) {
        std::string_view v = ref.text;
        std::string unquoted;
        if (v.find('`') != std::string_view::npos) {
          unquoted = ref.text;
          unquoted.erase(std::remove(unquoted.begin(), unquoted.end(), '`'), unquoted.end());
          v = unquoted;
        }
        v = trim(v);
        if (!v.empty() && v.front() == '#') v.remove_prefix(1);
        const std::string_view key = trim(v);
        if (key.empty() || equals_lower(key, "none") || equals_lower(key, "n/a") || key == "-" ||
            key == "\u2014" || key == "\u2013") {  // — and –
          continue;
        }
        std::optional<std::uint32_t> target = by_id.find(key);
        if (!target) target = title_index().find(ascii_lower(key));
        if (!target) target = by_id.find(slugify(key));
        if (!target && !phases_.empty()) {  // "Phase 3", or "3" from a parallelization table
          const auto phase = phases_.find(phase_reference(key));
          if (phase != phases_.end()) target = static_cast<std::uint32_t>(phase->second);
        }
        if (!target) {
          error(ref.line, "feature '" + d.feature.id.str() + "' depends on unknown feature '" +
                              std::string(key) + "'" + suggestion(std::string(key)));
          continue;
        }
        if (*target == i) {
          error(ref.line, "feature '" + d.feature.id.str() + "' depends on itself");
          continue;
        }
        edges[i].push_back(*target);
      }
    }
    // Sub-features take their parent's priority (unless their own is given) and dependencies.
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      if (!drafts_[i].parent) continue;
      const Draft& parent = drafts_[*drafts_[i].parent];
      if (!drafts_[i].has_priority) drafts_[i].feature.priority = parent.feature.priority;
      for (std::size_t dep : edges[*drafts_[i].parent]) edges[i].push_back(dep);
    }
    // Duplicates dropped, first mention kept: marked per feature, so a feature with
    // thousands of dependencies is no quadratic search.
    std::vector<std::size_t> kept_for(drafts_.size(), drafts_.size());
    for (std::size_t i = 0; i < drafts_.size(); ++i) {
      auto& e = edges[i];
      std::size_t kept = 0;
      for (std::size_t t : e) {
        if (kept_for[t] == i) continue;
        kept_for[t] = i;
        e[kept++] = t;
      }
      e.resize(kept);
      drafts_[i].feature.depends_on.reserve(e.size());
      for (std::size_t t : e) drafts_[i].feature.depends_on.push_back(drafts_[t].feature.id);
    }
    find_cycles(edges);
  }

  std::string suggestion(const std::string& key) const {
    // Only a near miss is worth suggesting: at most half the name (or 2) edited, and never
    // a suggestion that shares nothing with it.
    std::string best;
    const std::string lkey = ascii_lower(key);
    std::size_t best_distance = std::min(std::max<std::size_t>(2, lkey.size() / 2), lkey.size() - 1) + 1;
    for (const auto& d : drafts_) {
      for (const std::string& candidate : {d.feature.id.str(), ascii_lower(d.feature.title)}) {
        const std::size_t dist = edit_distance(lkey, ascii_lower(candidate));
        if (dist < best_distance) best_distance = dist, best = d.feature.id.str();
      }
    }
    return best.empty() ? "; known ids are listed by `br plan`" : "; did you mean '" + best + "'?";
  }

  // Iterative depth-first search; each back edge found is one cycle, printed as a path.
  void find_cycles(const std::vector<std::vector<std::size_t>>& edges) {
    enum : std::uint8_t { white, grey, black };
    std::vector<std::uint8_t> color(edges.size(), white);
    std::vector<std::size_t> on_stack_at(edges.size(), 0);
    std::size_t reported = 0;
    for (std::size_t root = 0; root < edges.size() && reported < 10; ++root) {
      if (color[root] != white) continue;
      std::vector<std::pair<std::size_t, std::size_t>> stack = {{root, 0}};
      std::vector<std::size_t> path = {root};
      color[root] = grey;
      on_stack_at[root] = 0;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < edges[node].size()) {
          const std::size_t to = edges[node][next++];
          if (color[to] == white) {
            color[to] = grey;
            on_stack_at[to] = path.size();
            path.push_back(to);
            stack.emplace_back(to, 0);
          } else if (color[to] == grey && reported < 10) {
            std::string cycle;
            for (std::size_t k = on_stack_at[to]; k < path.size(); ++k) {
              cycle += drafts_[path[k]].feature.id.str() + " -> ";
            }
            cycle += drafts_[to].feature.id.str();
            error(drafts_[to].feature.line,
                  "dependency cycle: " + cycle + " (each feature depends on the next)");
            ++reported;
          }
        } else {
          color[node] = black;
          path.pop_back();
          stack.pop_back();
        }
      }
    }
  }

  std::string path_;
  ParseLimits limits_;
  std::vector<Diagnostic> errors_;
  std::vector<Draft> drafts_;
  std::optional<std::size_t> open_;
  Field field_ = Field::none;
  bool field_has_value_ = false;    // the open field got a value since it began
  bool blank_after_value_ = false;  // and a blank line came after it
  bool in_phases_section_ = false;  // under "## Phases" / "## Phase Plan"
  std::unordered_map<std::string, std::size_t> phases_;  // "3", "3.1" → draft
  // A parallelization table's "Blocked By" column: (phase, dependency), added at resolve.
  std::vector<std::pair<std::string, DependencyRef>> table_blocked_by_;
  std::optional<std::size_t> table_phase_column_, table_blocked_column_;
  std::uint32_t field_line_ = 0;
  bool fence_ = false;
  bool in_features_section_ = false;
  bool too_many_ = false;
  std::string title_;
  std::string overview_;
};

}  // namespace

std::string slugify(std::string_view title) {
  // Latin-1 supplement letters (U+00C0..U+00FF, UTF-8 C3 80..C3 BF) folded to ASCII.
  static constexpr const char* kFold =
      "AAAAAAACEEEEIIIIDNOOOOOxOUUUUYTsaaaaaaaceeeeiiiidnooooo/ouuuuyty";
  std::string out;
  bool dash = false;
  for (std::size_t i = 0; i < title.size(); ++i) {
    auto c = static_cast<unsigned char>(title[i]);
    char mapped = 0;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      mapped = static_cast<char>(c);
    } else if (c >= 'A' && c <= 'Z') {
      mapped = static_cast<char>(c - 'A' + 'a');
    } else if (c == 0xC3 && i + 1 < title.size()) {
      const auto next = static_cast<unsigned char>(title[i + 1]);
      if (next >= 0x80 && next <= 0xBF) {
        const char f = kFold[next - 0x80];
        if ((f >= 'a' && f <= 'z') || (f >= 'A' && f <= 'Z')) {
          mapped = static_cast<char>(f >= 'A' && f <= 'Z' ? f - 'A' + 'a' : f);
        }
        ++i;
      }
    } else if (c >= 0x80) {
      // Skip the rest of this UTF-8 sequence (emoji, symbols, other scripts).
      while (i + 1 < title.size() && (static_cast<unsigned char>(title[i + 1]) & 0xC0) == 0x80) ++i;
      continue;
    } else if (c == '\'') {
      continue;  // "User's" → "users"
    }
    if (mapped) {
      if (dash && !out.empty()) out += '-';
      out += mapped;
      dash = false;
    } else {
      dash = true;
    }
  }
  return out;
}

Result<Spec> parse_spec(std::string_view text, const std::string& path, const ParseLimits& limits) {
  return Parser(path, limits).run(text);
}

Result<Spec> parse_spec_file(const std::string& path, const ParseLimits& limits) {
  auto text = read_at_most(path, limits.max_bytes);
  if (!text) {
    const std::string why = not_an_input_file(path);
    if (why.empty() || why == kNoSuchFile) {
      return Error::of(path + ": cannot read the spec (does the file exist?)");
    }
    return Error::of(path + ": cannot read the spec: " + why);
  }
  return parse_spec(*text, path, limits);
}

}  // namespace br
