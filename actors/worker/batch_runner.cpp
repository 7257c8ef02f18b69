#include "actors/worker/batch_runner.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "actors/worker/change_watch.hpp"
#include "actors/worker/file_monitor.hpp"
#include "actors/worker/git_repo.hpp"
#include "actors/worker/prompt_builder.hpp"
#include "actors/worker/verifier.hpp"
#include "protocol/agent_route.hpp"
#include "protocol/log_name.hpp"
#include "protocol/wall_clock.hpp"

namespace br {
namespace {

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The commit message of an attempt: its tasks in the subject, trailers that tools can read.
std::string commit_message(const Batch& batch, const std::string& run_id) {
  std::string subject, body;
  for (const auto& item : batch.tasks) {
    subject += (subject.empty() ? "" : ", ") + item.task.id.str();
  }
  if (batch.tasks.size() == 1) subject += ": " + batch.tasks[0].task.title;
  if (subject.size() > 200) {
    std::size_t cut = 197;
    while (cut > 0 && (static_cast<unsigned char>(subject[cut]) & 0xC0) == 0x80) --cut;
    subject.replace(cut, std::string::npos, "...");  // whole UTF-8 characters only
  }
  if (batch.tasks.size() > 1) {
    for (const auto& item : batch.tasks) {
      body += "- " + item.task.id.str() + ": " + item.task.title + "\n";
    }
  }
  std::string trailers = "\n";
  if (!run_id.empty()) trailers += "Br-Run: " + run_id + "\n";
  trailers += "Br-Batch: " + batch.id.str() + "\n";
  for (const auto& item : batch.tasks) {
    trailers += "Br-Task: " + item.task.id.str() + "\n";
    trailers += "Br-Attempt: " + std::to_string(item.attempt) + "\n";
  }
  return subject + "\n" + (body.empty() ? "" : "\n" + body) + trailers;
}

// This slot's worktree, at `base` and clean, with `workspace`'s place in it; or why not.
struct Isolated {
  GitRepo repo;
  Worktree tree;
  std::filesystem::path cwd;
  ChangeWatch watch;  // from the moment the tree is clean at the base

  Result<std::optional<CommitId>> commit(const Batch& batch, const std::string& run_id) {
    const auto changed = watch.collect();
    return tree.commit_all(batch.base, commit_message(batch, run_id), Signature{},
                           changed ? &*changed : nullptr);
  }
};

Result<Isolated> prepare_worktree(const BatchRunnerConfig& config, const CommitId& base) {
  auto repo = GitRepo::open(config.workspace);
  if (!repo) return repo.error();
  auto tree = Worktree::open(*repo, config.worktree_name, config.worktree_dir, base);
  if (!tree) return tree.error();
  if (auto reset = tree->reset_to(base); !reset) return reset.error();
  // The agent works where it would in the workspace: the same folder of the repository.
  std::error_code ec;
  const auto root = std::filesystem::weakly_canonical(repo->workdir(), ec);
  const auto place = std::filesystem::weakly_canonical(config.workspace, ec);
  std::filesystem::path cwd = config.worktree_dir;
  const auto rel = place.lexically_relative(root);
  if (!rel.empty() && rel != "." && *rel.begin() != "..") cwd /= rel;
  std::filesystem::create_directories(cwd, ec);
  ChangeWatch watch = ChangeWatch::start(config.worktree_dir);
  return Isolated{std::move(repo).value(), std::move(tree).value(), cwd, std::move(watch)};
}

// An isolated attempt passes as a whole: its tasks changed one tree. When every task passed,
// the tree becomes one commit, named in each result; otherwise, and when that fails, the
// reason why the passed tasks cannot count either (empty: integrated).
std::string integrate_attempt(Isolated& isolated, const Batch& batch, const std::string& run_id,
                              std::vector<TaskResult>& results) {
  std::string failed;
  for (const auto& r : results) {
    if (!r.success) failed += (failed.empty() ? "" : ", ") + r.task.str();
  }
  if (!failed.empty()) return "not committed: " + failed + " of the same batch failed";
  auto commit = isolated.commit(batch, run_id);
  if (!commit) return "commit: " + commit.error().str();
  if (!commit->has_value()) {
    const bool expects_files =
        std::any_of(batch.tasks.begin(), batch.tasks.end(),
                    [](const BatchTask& t) { return !t.task.files.empty(); });
    if (expects_files) return "the agent changed no file";
    return {};  // nothing to change, nothing changed: passed without a commit
  }
  for (auto& r : results) r.commit = **commit;
  return {};
}

// A failed attempt's changes stay inspectable on a side ref; the worktree is made clean at
// once, so nothing of it lingers until the slot's next attempt.
void keep_failed(std::optional<Isolated>& isolated, const Batch& batch,
                 const std::string& run_id) {
  if (!isolated) return;
  const std::uint32_t attempt = batch.tasks.empty() ? 0 : batch.tasks[0].attempt;
  auto commit = isolated->commit(batch, run_id);
  if (commit && commit->has_value()) {
    (void)isolated->repo.set_ref(
        "refs/br/failed/" + batch.id.str() + "-" + std::to_string(attempt), **commit);
  }
  (void)isolated->tree.reset_to(batch.base);
}

}  // namespace

std::vector<TaskResult> failed_results(const Batch& batch, const std::string& worker,
                                       const std::string& reason) {
  const std::int64_t now = unix_now_ms();
  std::vector<TaskResult> out;
  for (const auto& item : batch.tasks) {
    TaskResult r;
    r.task = item.task.id;
    r.attempt = item.attempt;
    r.batch = batch.id;
    r.worker = worker;
    r.started_ms = now;
    r.finished_ms = now;
    r.reason = reason;
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

// The prompt file, and the log made ready for the agent's output (the agent runner appends to
// it, and a full disk cuts that short without failing the attempt: only the start is checked).
Status write_own_files(const AgentRun& run) {
  std::error_code ec;
  if (auto prompt = write_prompt_file(run.prompt_file, run.prompt); !prompt) {
    std::filesystem::remove(run.prompt_file, ec);  // a cut-off prompt would mislead a reader
    return prompt;
  }
  if (run.log_file.has_parent_path()) {
    std::filesystem::create_directories(run.log_file.parent_path(), ec);
  }
  const int fd = ::open(run.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error::of("cannot write " + run.log_file.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  return Ok{};
}

// The last line of an attempt's log, so that a reader (`br logs --follow`) knows it is over.
// Only to a log that is there: a passed attempt's may have been pruned.
void end_log(const std::filesystem::path& log_file, const std::vector<TaskResult>& results) {
  const bool passed = std::all_of(results.begin(), results.end(),
                                  [](const TaskResult& r) { return r.success; });
  std::string line = "\n" + std::string(kAttemptEndMarker) + (passed ? " passed" : " failed");
  for (const auto& r : results) {
    if (!r.success && !r.reason.empty()) {
      line += " — " + r.task.str() + ": " + r.reason;
      break;
    }
  }
  line += "\n";
  const int fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());  // best effort, as the rest of the log
  ::close(fd);
}

std::vector<TaskResult> run_batch_attempt(const Batch& batch, const BatchRunnerConfig& config,
                                          ContextManager& context, const CancelSource* cancel,
                                          const std::function<void(const TaskProgress&)>& on_started,
                                          const std::filesystem::path& log_file,
                                          const std::string& stem) {
  const std::int64_t started = unix_now_ms();
  // Chosen here, from this host's own config, so a br-worker routes by its own [agent] tables.
  const AgentRoute route = route_for(config.agent, batch);
  const AgentConfig agent = routed(config.agent, route);
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
    r.agent = AttemptAgent{route.name, command_text(route.command)};
    results.push_back(std::move(r));
  }
  const auto fail_all = [&](const std::string& reason, bool infrastructure = false) {
    for (auto& r : results) {
      r.success = false;
      r.reason = reason;
      r.finished_ms = unix_now_ms();
      r.infrastructure = infrastructure;
    }
    return results;
  };

  // Refused before the agent runs, so the attempt costs nothing; a retry may go to a worker
  // that allows them.
  if (!config.allow_run_criteria) {
    for (const auto& item : batch.tasks) {
      for (const Criterion& c : item.task.acceptance) {
        if (c.kind == CriterionKind::run) {
          return fail_all(item.task.id.str() + ": " + run_criterion_not_allowed(c, config.worker));
        }
      }
    }
  }

  // Where the agent works: the shared workspace, or this slot's worktree at the batch's base.
  std::optional<Isolated> isolated;
  std::filesystem::path workspace = config.workspace;
  if (!config.worktree_dir.empty() && !batch.base.empty()) {
    auto prepared = prepare_worktree(config, batch.base);
    // The slot's worktree is br's own, in the state dir: that it cannot be made ready (a full
    // disk) is nothing the task did, and every attempt on the slot would meet it.
    if (!prepared) return fail_all("worktree: " + prepared.error().str(), /*infrastructure=*/true);
    isolated.emplace(std::move(prepared).value());
    workspace = isolated->cwd;
  }

  std::vector<std::string> expected;
  for (const auto& item : batch.tasks) {
    expected.insert(expected.end(), item.task.files.begin(), item.task.files.end());
  }
  // "Changed since dispatch" is judged against the files as they are before the agent runs.
  const FileSnapshot before = snapshot_files(workspace, expected);

  PromptOptions prompt_options;
  prompt_options.token_budget = config.token_budget;
  RelevantContext relevant = context.relevant_to(batch, config.token_budget);
  prompt_options.older_context = relevant.older;
  auto prompt = build_prompt(batch, relevant.entries, prompt_options);
  if (!prompt) return fail_all("prompt: " + prompt.error().str());
  // Edited and approved at br run's prompt: the user's text is what the agent gets.
  if (!batch.prompt.empty()) prompt->text = batch.prompt;

  AgentRun run;
  run.workspace = workspace;
  run.prompt = prompt->text;
  run.prompt_file = config.prompts_dir / (stem + ".md");
  run.log_file = log_file;
  // br's own files for the attempt, written before the agent starts: when they cannot be (a
  // full disk), nothing is wrong with the task, and failing it would spend its attempts.
  if (auto own = write_own_files(run); !own) {
    return fail_all(own.error().str(), /*infrastructure=*/true);
  }
  run.prompt_written = true;
  run.batch = batch.id;
  for (const auto& item : batch.tasks) {
    run.tasks.push_back(item.task.id);
    run.attempts.push_back(item.attempt);
  }
  run.log_max_bytes = config.log_max_bytes;
  auto outcome = run_agent(agent, run, cancel);
  if (!outcome) return fail_all("agent: " + outcome.error().str());
  // A failure's reason ends with what the agent said last ("model API returned 529 ..."), so
  // the live view, task list and report show why without opening the log.
  const std::string agent_said =
      outcome->last_line.empty() ? "" : " — agent's last line: " + outcome->last_line;
  // One agent run served the whole batch: its usage is shared out so the run's total is exact.
  const std::vector<Usage> shares = split_usage(outcome->usage, results.size());
  for (std::size_t i = 0; i < results.size(); ++i) results[i].usage = shares[i];
  const std::string over_budget = over_task_budget(outcome->usage, config.agent.max_cost_per_task_micro_usd);
  if (!outcome->success()) {
    keep_failed(isolated, batch, config.run_id);
    return fail_all("agent " + outcome->describe(agent.timeout_ms) +
                    " (log: " + log_file.string() + ")" + agent_said);
  }
  if (!over_budget.empty()) {
    keep_failed(isolated, batch, config.run_id);
    return fail_all(over_budget + " (log: " + log_file.string() + ")");
  }

  // An agent may exit before a child of its has written everything: give the files a moment.
  (void)wait_for_files(workspace, expected, config.verify.file_wait_ms,
                       cancel ? cancel->fd() : -1);

  // The check and test commands judge the workspace as a whole: run them once per batch.
  VerifyRequest common;
  common.workspace = workspace;
  common.log_file = log_file;
  common.log_max_bytes = config.log_max_bytes;
  common.env_allow = config.agent.env_allow;
  common.allow_run_criteria = config.allow_run_criteria;
  common.worker = config.worker;
  Verification checks;
  run_checks(config.verify, common, checks, cancel);

  std::vector<CompletedWork> passed;
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
    if (r.success) passed.push_back(CompletedWork{task.id, task.title, v.produced});
  }
  if (isolated) {
    if (auto why = integrate_attempt(*isolated, batch, config.run_id, results); !why.empty()) {
      keep_failed(isolated, batch, config.run_id);
      for (auto& r : results) {
        if (r.success) {
          r.success = false;
          r.reason = why;
        }
      }
      passed.clear();
    }
  }
  for (auto& work : passed) context.record(std::move(work));
  for (auto& r : results) {
    if (!r.success) r.reason += agent_said;
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

}  // namespace

std::vector<TaskResult> run_batch(const Batch& batch, const BatchRunnerConfig& config,
                                  ContextManager& context, const CancelSource* cancel,
                                  const std::function<void(const TaskProgress&)>& on_started) {
  const std::string log_name =
      batch_log_name(batch.id, batch.tasks.empty() ? 0 : batch.tasks[0].attempt);
  const std::string stem = log_name.substr(0, log_name.size() - 4);  // without ".log"
  const std::filesystem::path log_file = config.logs_dir / log_name;
  auto results = run_batch_attempt(batch, config, context, cancel, on_started, log_file, stem);
  end_log(log_file, results);
  return results;
}

}  // namespace br
