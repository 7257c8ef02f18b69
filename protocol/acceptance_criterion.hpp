// An acceptance criterion as a typed value, parsed once by the planner: the machine-checkable
// forms of SPEC_FORMAT.md, `file: PATH`, `contains: PATH ~ TEXT` and `run: COMMAND`, and prose
// (anything else), which only the agent is asked to meet. Tasks carry these to the workers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.hpp"

namespace br {

// In the order of br.capnp's CriterionKind.
enum class CriterionKind : std::uint8_t { file, contains, run, prose };

struct Criterion {
  CriterionKind kind = CriterionKind::prose;
  std::string path;     // file, contains
  std::string text;     // contains: the text that must occur in the file; prose: the sentence
  std::string command;  // run: the command line, split by split_command_line

  bool operator==(const Criterion& o) const {
    return kind == o.kind && path == o.path && text == o.text && command == o.command;
  }
  bool operator!=(const Criterion& o) const { return !(*this == o); }
};

inline Criterion prose_criterion(std::string sentence) {
  return Criterion{CriterionKind::prose, {}, std::move(sentence), {}};
}

// Recognises a criterion after trimming it and removing one pair of surrounding backticks.
// The prefix is case-insensitive. For `contains:` the path and text are separated by the
// first '~'; both are trimmed and a text wrapped in matching quotes ("..." or '...') loses them.
// Returns nullopt for prose, an error for a machine-checkable form with a malformed body
// (e.g. `contains:` without '~').
Result<std::optional<Criterion>> parse_criterion(std::string_view text);

// The typed value of a criterion the spec parser has already checked: its machine-checkable
// form, else prose. A malformed machine-checkable text (which the parser refuses with its
// line) is kept as prose, so that it is shown as unchecked rather than lost.
Criterion criterion_of(std::string_view text);
std::vector<Criterion> criteria_of(const std::vector<std::string>& texts);

inline bool is_machine_checkable(const Criterion& c) { return c.kind != CriterionKind::prose; }

// The sentences of the prose criteria: the agent is told them, br cannot check them.
std::vector<std::string> prose_criteria(const std::vector<Criterion>& criteria);

// Each criterion's one-line form (to_string), in order.
std::vector<std::string> criterion_texts(const std::vector<Criterion>& criteria);

// The canonical one-line form, e.g. "contains: src/a.py ~ def main"; prose: its sentence.
std::string to_string(const Criterion& c);

// Splits a `run:` command into argv without a shell. Rules: unquoted whitespace separates
// words; '...' is literal; inside "..." a backslash escapes only " and \; outside quotes a
// backslash escapes the next character. No globs, variables, pipes or redirections: `|`, `&&`,
// `>` are ordinary words (write `run: sh -c '...'` to use a shell deliberately).
// An unterminated quote or a trailing backslash is an error; an empty command is an error.
Result<std::vector<std::string>> split_command_line(std::string_view line);

}  // namespace br
