// The machine-checkable forms of an acceptance criterion (SPEC_FORMAT.md): `file: PATH`,
// `contains: PATH ~ TEXT` and `run: COMMAND`; anything else is prose for the agent only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.hpp"

namespace br {

enum class CriterionKind { file, contains, run };

struct Criterion {
  CriterionKind kind = CriterionKind::file;
  std::string path;     // file, contains
  std::string text;     // contains: the text that must occur in the file
  std::string command;  // run: the command line, split by split_command_line
};

// Recognises a criterion after trimming it and removing one pair of surrounding backticks.
// The prefix is case-insensitive. For `contains:` the path and text are separated by the
// first '~'; both are trimmed and a text wrapped in matching quotes ("..." or '...') loses them.
// Returns nullopt for prose, an error for a machine-checkable form with a malformed body
// (e.g. `contains:` without '~').
Result<std::optional<Criterion>> parse_criterion(std::string_view text);

// Does `text` have one of the machine-checkable forms (well formed or not)? Prose does not.
bool is_machine_checkable(std::string_view text);

// The criteria of `acceptance` that are prose: the agent is told them, br cannot check them.
std::vector<std::string> prose_criteria(const std::vector<std::string>& acceptance);

// The canonical one-line form, e.g. "contains: src/a.py ~ def main".
std::string to_string(const Criterion& c);

// Splits a `run:` command into argv without a shell. Rules: unquoted whitespace separates
// words; '...' is literal; inside "..." a backslash escapes only " and \; outside quotes a
// backslash escapes the next character. No globs, variables, pipes or redirections: `|`, `&&`,
// `>` are ordinary words (write `run: sh -c '...'` to use a shell deliberately).
// An unterminated quote or a trailing backslash is an error; an empty command is an error.
Result<std::vector<std::string>> split_command_line(std::string_view line);

}  // namespace br
