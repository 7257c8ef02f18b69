#include "protocol/acceptance_criterion.hpp"

#include <cctype>

namespace br {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

}  // namespace

Result<std::optional<Criterion>> parse_criterion(std::string_view text) {
  std::string_view s = trim(text);
  if (s.size() >= 2 && s.front() == '`' && s.back() == '`') s = trim(s.substr(1, s.size() - 2));
  // Prose is the common case: no copy of the text unless it is an error message.
  const auto shown = [s] { return std::string(s); };

  Criterion c;
  if (starts_with_ci(s, "file:")) {
    c.kind = CriterionKind::file;
    c.path = std::string(trim(s.substr(5)));
    if (c.path.empty()) return Error::of("criterion '" + shown() + "' names no file");
    return std::optional<Criterion>(std::move(c));
  }
  if (starts_with_ci(s, "contains:")) {
    const std::string_view body = s.substr(9);
    const auto tilde = body.find('~');
    if (tilde == std::string_view::npos) {
      return Error::of("criterion '" + shown() + "' needs the form 'contains: PATH ~ TEXT'");
    }
    c.kind = CriterionKind::contains;
    c.path = std::string(trim(body.substr(0, tilde)));
    c.text = std::string(unquote(trim(body.substr(tilde + 1))));
    if (c.path.empty()) return Error::of("criterion '" + shown() + "' names no file");
    if (c.text.empty()) return Error::of("criterion '" + shown() + "' names no text to find");
    return std::optional<Criterion>(std::move(c));
  }
  if (starts_with_ci(s, "run:")) {
    c.kind = CriterionKind::run;
    c.command = std::string(trim(s.substr(4)));
    if (c.command.empty()) return Error::of("criterion '" + shown() + "' names no command");
    return std::optional<Criterion>(std::move(c));
  }
  return std::optional<Criterion>();
}

Criterion criterion_of(std::string_view text) {
  auto parsed = parse_criterion(text);
  if (parsed && *parsed) return std::move(**parsed);
  return prose_criterion(std::string(text));
}

std::vector<Criterion> criteria_of(const std::vector<std::string>& texts) {
  std::vector<Criterion> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(criterion_of(t));
  return out;
}

std::vector<std::string> prose_criteria(const std::vector<Criterion>& criteria) {
  std::vector<std::string> out;
  for (const auto& c : criteria) {
    if (c.kind == CriterionKind::prose) out.push_back(c.text);
  }
  return out;
}

std::vector<std::string> criterion_texts(const std::vector<Criterion>& criteria) {
  std::vector<std::string> out;
  out.reserve(criteria.size());
  for (const auto& c : criteria) out.push_back(to_string(c));
  return out;
}

std::string to_string(const Criterion& c) {
  switch (c.kind) {
    case CriterionKind::file: return "file: " + c.path;
    case CriterionKind::contains: return "contains: " + c.path + " ~ " + c.text;
    case CriterionKind::run: return "run: " + c.command;
    case CriterionKind::prose: return c.text;
  }
  return {};
}

Result<std::vector<std::string>> split_command_line(std::string_view line) {
  std::vector<std::string> argv;
  std::string word;
  bool in_word = false;
  const std::string shown(line);
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (in_word) argv.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (ch == '\'') {
      const auto end = line.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return Error::of("command '" + shown + "': unterminated single quote");
      }
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (ch == '"') {
      std::size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\')) {
          ++j;
        }
        word.push_back(line[j]);
      }
      if (j >= line.size()) return Error::of("command '" + shown + "': unterminated double quote");
      i = j;
    } else if (ch == '\\') {
      if (i + 1 >= line.size()) return Error::of("command '" + shown + "': trailing backslash");
      word.push_back(line[++i]);
    } else {
      word.push_back(ch);
    }
  }
  if (in_word) argv.push_back(std::move(word));
  if (argv.empty()) return Error::of("empty command: write the program and its arguments");
  return argv;
}

}  // namespace br
