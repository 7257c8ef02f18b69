#include "node/worker_setup.hpp"

#include <utility>

namespace br {

BatchRunnerConfig runner_config(const Config& config, VerifyingHost host, SlotPlace place) {
  BatchRunnerConfig runner;
  runner.worker = std::move(place.worker);
  runner.agent = config.agent;
  runner.verify = config.verify;
  runner.allow_run_criteria = allows_run_criteria(config.verify, host);
  runner.workspace = std::move(place.workspace);
  runner.logs_dir = std::move(place.logs_dir);
  runner.prompts_dir = std::move(place.prompts_dir);
  runner.keep_succeeded_prompt = config.run.keep_succeeded == "all";
  runner.keep_succeeded_log = config.run.keep_succeeded != "none";
  runner.token_budget = config.context.token_budget;
  runner.log_max_bytes = config.limits.agent_output_max_bytes;
  return runner;
}

}  // namespace br
