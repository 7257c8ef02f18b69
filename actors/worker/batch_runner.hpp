// Runs one batch on a worker, start to finish: snapshot the expected files, build the prompt,
// run the agent, wait for the files, verify each task, remember what was built. Blocking and
// without CAF: the worker actor calls it on its own thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "actors/worker/agent_runner.hpp"
#include "actors/worker/context_manager.hpp"
#include "protocol/config.hpp"
#include "protocol/model.hpp"

namespace br {

struct BatchRunnerConfig {
  std::string worker;  // name reported in results
  std::string run_id;  // named in the commits of isolated attempts (a Br-Run trailer)
  AgentConfig agent;
  VerifyConfig verify;
  // allows_run_criteria(verify, ...) as the host's main decided it: false, a batch with a
  // `run:` criterion fails before its agent runs (nothing this host does would pass it).
  bool allow_run_criteria = true;
  // Without isolation, where agents work. With it, a directory in the run's git repository
  // (its root, or the project's folder inside it): each attempt works in the same place of
  // the slot's own worktree.
  std::filesystem::path workspace;
  // Isolation is on when `worktree_dir` is set and the batch names a base commit: this slot's
  // worktree lives there, registered in the repository as `worktree_name`.
  std::filesystem::path worktree_dir;
  std::string worktree_name;
  std::filesystem::path logs_dir;     // one log per batch attempt
  std::filesystem::path prompts_dir;  // the prompt of each batch attempt
  // Of a batch attempt whose every task passed, keep the prompt file, the log file.
  bool keep_succeeded_prompt = false;
  bool keep_succeeded_log = true;
  std::size_t token_budget = kDefaultTokenBudget;
  std::uint64_t log_max_bytes = kDefaultLogMaxBytes;
};

// Calls `on_started` once per task before the agent starts, then returns one result per task
// of the batch, in batch order. Successful tasks are recorded in `context`.
// Isolated, the attempt starts from a clean tree at `batch.base` and is judged there; it
// passes only as a whole (its tasks share one tree), and then its changes become one commit,
// named in every result. An attempt that changed nothing fails, unless its tasks expect no
// files. A failed attempt's changes are kept as a commit on refs/br/failed/<batch>-<attempt>
// (for `br task diff`), and the worktree is reset.
// One failed result per task of `batch`, each with `reason`: a batch that could not start.
std::vector<TaskResult> failed_results(const Batch& batch, const std::string& worker,
                                       const std::string& reason);

std::vector<TaskResult> run_batch(const Batch& batch, const BatchRunnerConfig& config,
                                  ContextManager& context, const CancelSource* cancel,
                                  const std::function<void(const TaskProgress&)>& on_started);

}  // namespace br
