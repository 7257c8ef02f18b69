// Turns a batch into the prompt an agent reads: the project, the tasks with their criteria and
// expected files, the finished work they build on, an explicit stop point and a block of
// BR-* lines for tools — never over the token budget.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "actors/worker/context_manager.hpp"
#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct PromptOptions {
  std::size_t token_budget = kDefaultTokenBudget;  // tokens ≈ ceil(bytes / 4)
  std::size_t overview_max_bytes = 2000;           // the project overview never exceeds this
  std::size_t older_context = 0;  // finished work older than `context`, left out unseen
};

struct PromptResult {
  std::string text;
  std::size_t tokens = 0;        // estimate_tokens(text), always <= the budget
  std::vector<std::string> cut;  // what was shortened or dropped to fit, one line each
};

// Builds the prompt for `batch`. `context` is other finished work, oldest first (e.g.
// ContextManager::relevant_to); entries for the batch's own tasks or its dependencies are
// skipped. Sections, in order:
//   # header         batch id, domain, what the agent is
//   ## Project       Batch::project, at most overview_max_bytes
//   ## Tasks         per task: id, title, attempt, description, depends-on ids,
//                    acceptance criteria, expected files
//   ## Finished dependencies   Batch::completed with their files
//   ## Other completed work    `context`
//   ## STOP POINT    "Stop when these files exist and the criteria hold; do not start other work."
//   ## For tools     the machine-readable block (below)
// When over budget, text is cut in this order until it fits: other completed work (oldest
// first: full → one-line summary → dropped), then finished dependencies (same way), then the
// overview (shortened, then dropped), then task descriptions (all shortened to a common
// length, then dropped). The header, task list, depends-on ids, criteria, expected files, stop
// point and machine block are never cut; if they alone exceed the budget the result is an
// error saying by how much.
//
// Machine-readable block (part of the agent contract; one field per line, values on one line):
//   BR-BATCH: <batch id>
//   BR-TASK: <task id>                 starts a task; the lines below belong to it
//   BR-ATTEMPT: <n>
//   BR-EXPECT-FILE: <path>             relative to the workspace (cwd)
//   BR-CRITERION: <criterion>          machine-checkable ones, canonical form:
//                                      file: PATH | contains: PATH ~ TEXT | run: COMMAND
//   BR-END
Result<PromptResult> build_prompt(const Batch& batch, const CompletedRefs& context,
                                  const PromptOptions& options = {});

}  // namespace br
