// The worker's memory of finished work: which tasks completed and the files they produced,
// rendered as prompt context within a token budget (oldest entries compressed first) and
// kept in the state dir so a restarted worker remembers it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

// br's one token estimate: tokens ≈ ceil(bytes / 4), counted on UTF-8 bytes. It is
// deliberately crude (English prose and code average 3.5–4.5 bytes per token) and cheap; a
// budget of T tokens therefore allows at most 4·T bytes of text.
constexpr std::size_t estimate_tokens(std::size_t bytes) { return (bytes + 3) / 4; }
inline std::size_t estimate_tokens(std::string_view text) { return estimate_tokens(text.size()); }
constexpr std::size_t bytes_for_tokens(std::size_t tokens) { return tokens * 4; }

inline constexpr std::size_t kDefaultTokenBudget = 4000;

// How much of one entry survives in rendered context.
enum class ContextDetail { full, summary, dropped };

// A rendered context section and what had to be cut to fit it.
struct FittedContext {
  std::string text;              // empty when nothing fits (or there is nothing)
  std::vector<std::string> cut;  // one line per cut, e.g. "context a/01: shortened to a summary"
};

// Renders `oldest_first` under `heading` (a line such as "## Completed work") in at most
// `max_bytes` bytes. Entry forms:
//   full:    "- ID: TITLE\n  files: A, B, C\n"   (at most 20 files named, then "(+N more)")
//   summary: "- ID: TITLE (N files)\n"
// When the full form does not fit, entries become summaries oldest first; when even that does
// not fit they are dropped oldest first, and one line "- (N older entries omitted)" says so.
// `label` names the section in the cut report. `older` entries before `oldest_first` are
// known to be dropped already (they are counted in the omitted line, and cut as one line).
// Only the newest entries whose summaries fill `max_bytes` are rendered: the cost is bounded
// by the budget, not by the length of `oldest_first` (the older ones are dropped in one line).
// Entries are passed by pointer: a batch's prompt looks at hundreds of remembered entries,
// and copying each (its id, title and file list) was a fifth of a local worker's CPU.
using CompletedRefs = std::vector<const CompletedWork*>;
CompletedRefs refs_to(const std::vector<CompletedWork>& entries);

FittedContext fit_context(const CompletedRefs& oldest_first, std::string_view heading,
                          std::size_t max_bytes, std::string_view label = "context",
                          std::size_t older = 0);
FittedContext fit_context(const std::vector<CompletedWork>& oldest_first, std::string_view heading,
                          std::size_t max_bytes, std::string_view label = "context",
                          std::size_t older = 0);

// Other finished work worth showing a batch: the newest entries, oldest first, and how many
// older ones were left out without being looked at (they could not fit any budget given).
// The entries point into the ContextManager: valid until it records more.
struct RelevantContext {
  CompletedRefs entries;
  std::size_t older = 0;
};

class ContextManager {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 10000;
  static constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{64} << 20;
  static constexpr std::string_view kFileName = "context.txt";

  // At most `max_entries` entries are kept; recording more forgets the oldest.
  explicit ContextManager(std::size_t max_entries = kDefaultMaxEntries);

  // Records finished work. A task recorded again (a retry, a replay) replaces its old entry
  // and becomes the newest.
  void record(CompletedWork work);

  // Oldest first.
  const std::deque<CompletedWork>& entries() const { return entries_; }

  // Entries worth showing for `batch`: every entry except the batch's own tasks and the
  // dependencies the batch already lists in Batch::completed, oldest first; of those only
  // the newest that could fit `token_budget` (an entry takes at least min_entry_bytes), so a
  // batch costs the same with 10 or 10,000 entries remembered.
  RelevantContext relevant_to(const Batch& batch,
                              std::size_t token_budget = kDefaultTokenBudget) const;
  // The shortest an entry renders to: "- ID: TITLE\n" (its full form without files; its
  // summary is longer).
  static std::size_t min_entry_bytes(const CompletedWork& w) {
    return w.task.str().size() + w.title.size() + 5;
  }

  // All entries as a "## Completed work" section of at most `token_budget` tokens.
  FittedContext render(std::size_t token_budget = kDefaultTokenBudget) const;

  // Persists to STATE_DIR/context.txt through a temp file and rename (no fsync: it is a
  // cache, see save()). Format, one record
  // per line, fields separated by a tab, '\\', tab and newline escaped as \\ \t \n:
  //   br-context 1
  //   task <TAB> ID <TAB> TITLE
  //   file <TAB> PATH          (belongs to the task line above it)
  Status save(const std::filesystem::path& state_dir) const;

  // Loads STATE_DIR/context.txt; a missing file is an empty manager. A file larger than
  // kMaxFileBytes, with a bad header, unknown record or bad escape is an error naming the line.
  static Result<ContextManager> load(const std::filesystem::path& state_dir,
                                     std::size_t max_entries = kDefaultMaxEntries);

 private:
  std::size_t max_entries_;
  std::deque<CompletedWork> entries_;
  std::unordered_set<TaskId> present_;  // the tasks of entries_, for O(1) record()
};

}  // namespace br
