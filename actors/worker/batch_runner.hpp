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
  AgentConfig agent;
  VerifyConfig verify;
  std::filesystem::path workspace;
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
std::vector<TaskResult> run_batch(const Batch& batch, const BatchRunnerConfig& config,
                                  ContextManager& context, const CancelSource* cancel,
                                  const std::function<void(const TaskProgress&)>& on_started);

}  // namespace br
