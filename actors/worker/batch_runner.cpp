#include "actors/worker/batch_runner.hpp"

#include <algorithm>

#include "actors/worker/file_monitor.hpp"
#include "actors/worker/prompt_builder.hpp"
#include "actors/worker/verifier.hpp"
#include "protocol/log_name.hpp"
#include "protocol/wall_clock.hpp"

namespace br {
namespace {

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

std::vector<TaskResult> run_batch(const Batch& batch, const BatchRunnerConfig& config,
                                  ContextManager& context, const CancelSource* cancel,
                                  const std::function<void(const TaskProgress&)>& on_started) {
  const std::int64_t started = unix_now_ms();
  const std::string log_name =
      batch_log_name(batch.id, batch.tasks.empty() ? 0 : batch.tasks[0].attempt);
  const std::string stem = log_name.substr(0, log_name.size() - 4);  // without ".log"
  const std::filesystem::path log_file = config.logs_dir / log_name;

  std::vector<std::string> expected;
  for (const auto& item : batch.tasks) {
    expected.insert(expected.end(), item.task.files.begin(), item.task.files.end());
  }
  // "Changed since dispatch" is judged against the files as they are before the agent runs.
  const FileSnapshot before = snapshot_files(config.workspace, expected);

  std::vector<TaskResult> results;
  for (const auto& item : batch.tasks) {
    on_started(TaskProgress{item.task.id, item.attempt, batch.id, config.worker, started});
    TaskResult r;
    r.task = item.task.id;
    r.attempt = item.attempt;
    r.batch = batch.id;
    r.worker = config.worker;
    r.started_ms = started;
    r.log_path = log_file.string();
    results.push_back(std::move(r));
  }
  const auto fail_all = [&](const std::string& reason) {
    for (auto& r : results) {
      r.success = false;
      r.reason = reason;
      r.finished_ms = unix_now_ms();
    }
    return results;
  };

  PromptOptions prompt_options;
  prompt_options.token_budget = config.token_budget;
  RelevantContext relevant = context.relevant_to(batch, config.token_budget);
  prompt_options.older_context = relevant.older;
  auto prompt = build_prompt(batch, relevant.entries, prompt_options);
  if (!prompt) return fail_all("prompt: " + prompt.error().str());

  AgentRun run;
  run.workspace = config.workspace;
  run.prompt = prompt->text;
  run.prompt_file = config.prompts_dir / (stem + ".md");
  run.log_file = log_file;
  run.batch = batch.id;
  for (const auto& item : batch.tasks) {
    run.tasks.push_back(item.task.id);
    run.attempts.push_back(item.attempt);
  }
  run.log_max_bytes = config.log_max_bytes;
  auto outcome = run_agent(config.agent, run, cancel);
  if (!outcome) return fail_all("agent: " + outcome.error().str());
  if (!outcome->success()) {
    return fail_all("agent " + outcome->describe(config.agent.timeout_ms) +
                    " (log: " + log_file.string() + ")");
  }

  // An agent may exit before a child of its has written everything: give the files a moment.
  (void)wait_for_files(config.workspace, expected, config.verify.file_wait_ms,
                       cancel ? cancel->fd() : -1);

  // The check and test commands judge the workspace as a whole: run them once per batch.
  VerifyRequest common;
  common.workspace = config.workspace;
  common.log_file = log_file;
  common.log_max_bytes = config.log_max_bytes;
  common.env_allow = config.agent.env_allow;
  Verification checks;
  run_checks(config.verify, common, checks, cancel);

  for (std::size_t i = 0; i < batch.tasks.size(); ++i) {
    const Task& task = batch.tasks[i].task;
    VerifyRequest request = common;
    request.files = task.files;
    request.acceptance = task.acceptance;
    request.before = before;
    Verification v;
    check_files(request, v);
    check_criteria(config.verify, request, v, cancel);
    v.failures.insert(v.failures.end(), checks.failures.begin(), checks.failures.end());
    TaskResult& r = results[i];
    r.success = v.ok();
    r.reason = join(v.failures, "; ");
    r.files = v.produced;
    r.finished_ms = unix_now_ms();
    if (r.success) context.record(CompletedWork{task.id, task.title, v.produced});
  }
  // What a passed attempt leaves behind is pruned, so a long run's state dir stays bounded.
  const bool all_passed = std::all_of(results.begin(), results.end(),
                                      [](const TaskResult& r) { return r.success; });
  if (all_passed) {
    std::error_code ignored;
    if (!config.keep_succeeded_prompt) std::filesystem::remove(run.prompt_file, ignored);
    if (!config.keep_succeeded_log) {
      std::filesystem::remove(log_file, ignored);
      for (auto& r : results) r.log_path.clear();
    }
  }
  return results;
}

}  // namespace br
