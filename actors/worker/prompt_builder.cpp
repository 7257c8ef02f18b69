#include "actors/worker/prompt_builder.hpp"

#include <algorithm>
#include <set>

#include "protocol/acceptance_criterion.hpp"

namespace br {

namespace {

constexpr std::string_view kShortened = " […]";
constexpr std::size_t kMinOverviewBytes = 40;  // below this a shortened overview says nothing

std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// A description as it appears in the prompt when limited to `cap` bytes of its text.
std::size_t description_bytes(const std::string& d, std::size_t cap) {
  if (d.empty() || cap == 0) return 0;
  if (d.size() <= cap) return d.size() + 1;
  return utf8_prefix(d, cap).size() + kShortened.size() + 1;
}

std::string description_text(const std::string& d, std::size_t cap) {
  if (d.empty() || cap == 0) return {};
  if (d.size() <= cap) return d + "\n";
  return std::string(utf8_prefix(d, cap)) + std::string(kShortened) + "\n";
}

}  // namespace

Result<PromptResult> build_prompt(const Batch& batch, const CompletedRefs& context,
                                  const PromptOptions& options) {
  if (batch.tasks.empty()) {
    return Error::of("batch " + batch.id.str() + " has no tasks; nothing to prompt for");
  }
  PromptResult out;
  const std::size_t budget = bytes_for_tokens(options.token_budget);

  // Mandatory parts.
  std::string header = "# br batch " + batch.id.str() + " (" + std::to_string(batch.tasks.size()) +
                       (batch.tasks.size() == 1 ? " task" : " tasks") + ", domain " +
                       std::string(to_string(batch.domain)) + ")\n\n" +
                       "You are a coding agent working in the current directory, the project "
                       "workspace. Do the tasks below and nothing else.\n\n";
  std::vector<std::string> task_head, task_rest;
  std::vector<std::string> descriptions;
  for (std::size_t i = 0; i < batch.tasks.size(); ++i) {
    const Task& t = batch.tasks[i].task;
    std::string head = "### " + std::to_string(i + 1) + ". " + t.id.str() + ": " +
                       one_line(t.title) + " (attempt " + std::to_string(batch.tasks[i].attempt) +
                       ")\n";
    std::string rest;
    if (!batch.tasks[i].last_failure.empty()) {
      // A retry learns why the last attempt failed (a merge conflict names its files).
      constexpr std::size_t kMaxFailureBytes = 600;
      std::string why = one_line(batch.tasks[i].last_failure);
      if (why.size() > kMaxFailureBytes) {
        why = std::string(utf8_prefix(why, kMaxFailureBytes)) + "…";
      }
      rest += "The previous attempt failed: " + why + "\n";
    }
    if (!t.depends_on.empty()) {
      rest += "Depends on:";
      for (const auto& d : t.depends_on) rest += " " + d.str();
      rest += "\n";
    }
    if (!t.acceptance.empty()) {
      rest += "Acceptance criteria:\n";
      for (const auto& a : t.acceptance) rest += "- " + one_line(to_string(a)) + "\n";
    }
    rest += "Expected files:\n";
    if (t.files.empty()) rest += "- (none named)\n";
    for (const auto& f : t.files) rest += "- " + one_line(f) + "\n";
    rest += "\n";
    task_head.push_back(std::move(head));
    task_rest.push_back(std::move(rest));
    descriptions.push_back(trim_end(t.description));
  }
  std::string stop =
      "## STOP POINT\nStop when these files exist and the criteria hold; do not start other "
      "work.\n\n";
  std::string machine = "## For tools\nBR-BATCH: " + one_line(batch.id.str()) + "\n";
  for (const auto& bt : batch.tasks) {
    machine += "BR-TASK: " + one_line(bt.task.id.str()) + "\n";
    machine += "BR-ATTEMPT: " + std::to_string(bt.attempt) + "\n";
    for (const auto& f : bt.task.files) machine += "BR-EXPECT-FILE: " + one_line(f) + "\n";
    for (const auto& a : bt.task.acceptance) {
      if (is_machine_checkable(a)) machine += "BR-CRITERION: " + one_line(to_string(a)) + "\n";
    }
  }
  machine += "BR-END\n";

  const std::string tasks_heading = "## Tasks\n";
  std::size_t mandatory = header.size() + tasks_heading.size() + stop.size() + machine.size();
  for (std::size_t i = 0; i < task_head.size(); ++i) {
    mandatory += task_head[i].size() + task_rest[i].size();
  }
  if (mandatory > budget) {
    return Error::of("batch " + batch.id.str() +
                     ": its task list, criteria, expected files and "
                     "stop point alone need about " +
                     std::to_string(estimate_tokens(mandatory)) + " tokens, over the budget of " +
                     std::to_string(options.token_budget) +
                     "; raise [context] token_budget or use smaller batches");
  }
  std::size_t room = budget - mandatory;

  // Descriptions, kept in full when they fit, else all cut to the longest common length.
  std::size_t longest = 0, full_desc = 0;
  for (const auto& d : descriptions) {
    longest = std::max(longest, d.size());
    full_desc += description_bytes(d, d.size());
  }
  std::size_t cap = longest;
  if (full_desc > room) {
    std::size_t lo = 0, hi = longest;  // largest cap whose total fits
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo + 1) / 2;
      std::size_t total = 0;
      for (const auto& d : descriptions) total += description_bytes(d, mid);
      if (total <= room) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    cap = lo;
  }
  std::vector<std::string> desc_text;
  for (std::size_t i = 0; i < descriptions.size(); ++i) {
    const auto& d = descriptions[i];
    desc_text.push_back(description_text(d, cap));
    room -= desc_text.back().size();
    if (d.size() > cap) {
      out.cut.push_back("description " + batch.tasks[i].task.id.str() +
                        (cap == 0 ? ": dropped"
                                  : ": shortened to " + std::to_string(cap) + " of " +
                                        std::to_string(d.size()) + " bytes"));
    }
  }

  // Overview: bounded first, then shortened or dropped to fit what is left.
  std::string overview;
  {
    const std::string project = trim_end(batch.project);
    const std::string heading = "## Project\n";
    std::size_t limit = options.overview_max_bytes;
    if (!project.empty()) {
      const std::size_t fixed = heading.size() + 2;  // heading and the blank line after it
      const std::size_t fit =
          room > fixed + kShortened.size() ? room - fixed - kShortened.size() : 0;
      if (project.size() + fixed <= room && project.size() <= limit) {
        overview = heading + project + "\n\n";
      } else {
        limit = std::min(limit, fit);
        if (limit >= kMinOverviewBytes) {
          overview =
              heading + std::string(utf8_prefix(project, limit)) + std::string(kShortened) + "\n\n";
          out.cut.push_back("overview: shortened to " + std::to_string(limit) + " of " +
                            std::to_string(project.size()) + " bytes");
        } else {
          out.cut.push_back("overview: dropped");
        }
      }
    }
    room -= overview.size();
  }

  // Completed work: dependencies first, other work with what is left.
  std::set<TaskId> skip;
  for (const auto& bt : batch.tasks) skip.insert(bt.task.id);
  for (const auto& c : batch.completed) skip.insert(c.task);
  CompletedRefs others;
  for (const CompletedWork* c : context) {
    if (skip.count(c->task) == 0) others.push_back(c);
  }
  // Each section is followed by a blank line, reserved before fitting it.
  auto fit_section = [&](const CompletedRefs& entries, std::string_view heading,
                         std::string_view label, std::size_t older) {
    FittedContext f = fit_context(entries, heading, room > 0 ? room - 1 : 0, label, older);
    if (!f.text.empty()) {
      f.text += "\n";
      room -= f.text.size();
    }
    return f;
  };
  FittedContext deps =
      fit_section(refs_to(batch.completed), "## Finished dependencies", "dependency", 0);
  FittedContext rest =
      fit_section(others, "## Other completed work", "context", options.older_context);
  out.cut.insert(out.cut.end(), rest.cut.begin(), rest.cut.end());
  out.cut.insert(out.cut.end(), deps.cut.begin(), deps.cut.end());

  out.text = header + overview + tasks_heading;
  for (std::size_t i = 0; i < task_head.size(); ++i) {
    out.text += task_head[i] + desc_text[i] + task_rest[i];
  }
  out.text += deps.text + rest.text + stop + machine;
  out.tokens = estimate_tokens(out.text);
  return out;
}

}  // namespace br
