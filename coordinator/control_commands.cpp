#include "coordinator/control_commands.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>
#include <variant>

#include "actors/graph/run_tracker.hpp"
#include "coordinator/live_status.hpp"
#include "coordinator/planning.hpp"
#include "coordinator/run_control.hpp"
#include "coordinator/run_reader.hpp"
#include "node/exit_codes.hpp"
#include "protocol/wall_clock.hpp"
#include "storage/journal.hpp"

namespace br {
namespace {

// Exit 2 with why when a name is not a task of the run or its task is already over; else 0.
int refuse_uncancellable(const StateDir& dir, const RunState& state,
                         const std::vector<std::string>& names) {
  for (const auto& name : names) {
    const TaskState* t = state.find(TaskId(name));
    if (t == nullptr) {
      return report_failure(ErrorCategory::bad_input,
                            fmt::format("br cancel: this run has no task '{}' (br --state-dir {} "
                                        "task list shows them)",
                                        name, shell_word(dir.root)));
    }
    if (is_terminal(t->status)) {
      return report_failure(ErrorCategory::bad_input,
                            fmt::format("br cancel: {} is already {}", name, to_string(t->status)));
    }
  }
  return kExitOk;
}

// `br cancel` of a run that is not going on (stopped, or its coordinator killed): the records
// are written to its journal here, under the journal's lock, so that no run starts meanwhile;
// `br resume` then leaves those tasks out.
int cancel_offline(const StateDir& dir, const std::vector<std::string>& names) {
  JournalOptions options;
  options.create_if_missing = false;
  auto journal = Journal::open(dir.journal(), options);
  if (!journal) {
    return report_failure(journal.error(), "br cancel: ");
  }
  auto state = (*journal)->replay();
  if (!state) return report_failure(state.error(), "br cancel: ");
  if (const int refused = refuse_uncancellable(dir, *state, names)) return refused;
  const std::vector<TaskId> tasks(names.begin(), names.end());
  auto dag = graph_of(state->plan());
  if (!dag) return report_failure(dag.error().as(ErrorCategory::internal), "br cancel: ");
  const RunTracker tracker(**dag, RetryPolicy{});
  const std::int64_t now = unix_now_ms();
  auto cancellation = tracker.cancel_tasks(*state, tasks, "cancelled by br cancel", now);
  std::size_t blocked = 0;
  std::vector<JournalRecord> records;
  for (auto& body : cancellation.records) {
    blocked += std::holds_alternative<rec::TaskBlocked>(body) ? 1 : 0;
    records.push_back(JournalRecord{0, state->run_id(), now, std::move(body)});
  }
  if (auto appended = (*journal)->append(std::move(records)); !appended) {
    return report_failure(appended.error(), "br cancel: ");
  }
  for (const auto& name : names) fmt::print("br cancel: {} cancelled\n", name);
  fmt::print("br cancel: {} task(s) that depend on them blocked (br --state-dir {} retry --failed "
             "reopens them); the run is not going on: br --state-dir {} resume runs the rest\n",
             blocked, shell_word(dir.root), shell_word(dir.root));
  return kExitOk;
}

}  // namespace

// `br stop`: asks the live run to stop and waits until it has (its journal is let go).
int stop_command(const StateDir& dir, std::uint32_t timeout_s) {
  const auto holder = journal_lock_holder(dir.journal());
  if (!holder) {
    fmt::print("br stop: no run is going on in {} (br --state-dir {} status says where it "
               "stands)\n", dir.root, shell_word(dir.root));
    return kExitOk;
  }
  if (auto asked = request_stop(dir, fmt::format("br stop, pid {}", ::getpid())); !asked) {
    return report_failure(asked.error(), "br stop: ");
  }
  fmt::print("br stop: asked the run (pid {}) to stop\n", *holder);
  std::fflush(stdout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (journal_lock_holder(dir.journal())) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return report_failure(ErrorCategory::infrastructure,
                            fmt::format("br stop: the run (pid {}) has not stopped after {} s; "
                                        "{} status shows what it is doing",
                                        *holder, timeout_s, reader_command(dir)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fmt::print("br stop: stopped; continue it with: br --state-dir {} resume\n",
             shell_word(dir.root));
  return kExitOk;
}

// `br cancel TASK…`: checks the names against the run, asks the live run to cancel them, and
// waits until its journal shows them cancelled; a run not going on is changed here.
int cancel_command(const StateDir& dir, const std::vector<std::string>& names,
                   std::uint32_t timeout_s) {
  if (!journal_lock_holder(dir.journal())) {
    if (!std::filesystem::exists(dir.journal())) {
      return report_failure(
          ErrorCategory::bad_input,
          fmt::format("br cancel: no run in {} (br --state-dir DIR names another)", dir.root));
    }
    return cancel_offline(dir, names);
  }
  auto run = load_run(dir);
  if (!run) return report_failure(run.error());
  if (const int refused = refuse_uncancellable(dir, *run, names)) return refused;
  const std::set<std::string> tasks(names.begin(), names.end());
  if (auto asked = request_cancel(dir, tasks, fmt::format("br cancel, pid {}", ::getpid()));
      !asked) {
    return report_failure(asked.error(), "br cancel: ");
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // Asked before the state is read: a run that ends after this is read once more, so its
    // last records (the cancel, then the end of a run it left with nothing to do) are seen
    // before "ended before it cancelled them" is said.
    const bool was_live = journal_lock_holder(dir.journal()).has_value();
    auto now_state = load_run(dir);
    if (!now_state) return report_failure(now_state.error());
    std::size_t blocked = 0;
    bool all_done = true;
    for (const auto& name : tasks) {
      const TaskState* t = now_state->find(TaskId(name));
      all_done = all_done && t != nullptr && is_terminal(t->status);
    }
    if (all_done) {
      for (const auto& t : now_state->tasks()) {
        if (t.status == TaskStatus::blocked &&
            std::any_of(tasks.begin(), tasks.end(), [&](const std::string& name) {
              return t.reason == "dependency '" + name + "' was cancelled";
            })) {
          ++blocked;
        }
      }
      for (const auto& name : tasks) {
        fmt::print("br cancel: {} {}\n", name, to_string(now_state->find(TaskId(name))->status));
      }
      fmt::print("br cancel: {} task(s) that depend on them blocked (once the run is over, "
                 "br --state-dir {} retry --failed reopens them)\n",
                 blocked, shell_word(dir.root));
      return kExitOk;
    }
    if (!was_live) {
      return report_failure(ErrorCategory::infrastructure,
                            "br cancel: the run ended before it cancelled them");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return report_failure(ErrorCategory::infrastructure,
                            fmt::format("br cancel: not cancelled after {} s; {} status shows "
                                        "what the run is doing",
                                        timeout_s, reader_command(dir)));
    }
  }
}

}  // namespace br
