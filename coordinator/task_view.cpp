#include "coordinator/task_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "coordinator/state_views.hpp"
#include "coordinator/usage_view.hpp"
#include "protocol/acceptance_criterion.hpp"
#include "protocol/log_name.hpp"
#include "protocol/model.hpp"

namespace br {

std::string file_tail(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size <= 0) return "";
  const std::streamoff from =
      size > static_cast<std::streamoff>(max_bytes) ? size - static_cast<std::streamoff>(max_bytes)
                                                    : 0;
  in.seekg(from);
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (from > 0) {
    const auto newline = text.find('\n');
    text = "…\n" + (newline == std::string::npos ? text : text.substr(newline + 1));
  }
  return text;
}

std::vector<std::string> last_lines(const std::string& text, std::size_t lines) {
  std::vector<std::string> out;
  std::size_t end = text.size();
  while (end > 0 && out.size() < lines) {
    const std::size_t start = text.rfind('\n', end - 1);
    const std::size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) out.push_back(std::move(line));
    if (start == std::string::npos) break;
    end = start;
  }
  return {out.rbegin(), out.rend()};
}

AttemptFiles attempt_files(const StateDir& dir, const AttemptSpan& attempt) {
  const std::string log_name = batch_log_name(BatchId(attempt.batch), attempt.attempt);
  const std::string log = dir.logs() + "/" + log_name;
  const std::string prompt =
      dir.prompts() + "/" + log_name.substr(0, log_name.size() - 4) + ".md";
  AttemptFiles out;
  std::error_code ec;
  if (std::filesystem::is_regular_file(log, ec)) out.log = log;
  if (std::filesystem::is_regular_file(prompt, ec)) out.prompt = prompt;
  if (out.log.empty()) {
    // Slots in br's own process are named local-N; a br-worker's are HOST/N.
    if (attempt.worker.find('/') != std::string::npos) {
      const std::string host = attempt.worker.substr(0, attempt.worker.find('/'));
      out.why_no_log = "on " + host + ", the br-worker that ran it (its --state-dir)/logs/" +
                       log_name;
    } else if (attempt.outcome == "succeeded") {
      out.why_no_log = "pruned once the attempt passed ([run] keep_succeeded)";
    } else if (attempt.started_ms == 0) {
      out.why_no_log = "none yet: the agent has not started";
    } else {
      out.why_no_log = "not found (" + log + ")";
    }
  }
  return out;
}

std::optional<AttemptSpan> pick_attempt(const std::vector<AttemptSpan>& attempts, std::size_t task,
                                        std::optional<std::uint32_t> number) {
  std::optional<AttemptSpan> out;
  for (const auto& a : attempts) {
    if (a.task != task) continue;
    if (number ? a.attempt == *number : (!out || a.attempt >= out->attempt)) out = a;
  }
  return out;
}

namespace {

std::string strings_text(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

// Local time to the millisecond: "2026-12-02 14:05:09.120".
std::string time_text(std::int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  if (::localtime_r(&seconds, &local) == nullptr) return std::to_string(ms);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local) == 0) return std::to_string(ms);
  return fmt::format("{}.{:03}", text, ms % 1000);
}

}  // namespace

nlohmann::json task_json(const RunState& state, std::size_t task,
                         const std::vector<AttemptSpan>& attempts, const StateDir& dir,
                         std::size_t tail_lines) {
  const Task& t = state.plan().tasks[task];
  const TaskState& s = state.tasks()[task];
  nlohmann::json depends = nlohmann::json::array();
  for (const auto& d : t.depends_on) {
    const auto index = state.index_of(d);
    depends.push_back({{"id", d.str()},
                       {"status", index ? to_string(state.tasks()[*index].status) : "unknown"}});
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& a : attempts) {
    if (a.task != task) continue;
    const AttemptFiles files = attempt_files(dir, a);
    nlohmann::json lines = nlohmann::json::array();
    if (!files.log.empty()) {
      for (const auto& line :
           last_lines(file_tail(files.log, std::size_t{16} * 1024), tail_lines)) {
        lines.push_back(line);
      }
    }
    nlohmann::json item = attempt_json(a);
    item["log"] = files.log;
    item["log_note"] = files.why_no_log;
    item["prompt"] = files.prompt;
    item["last_lines"] = std::move(lines);
    list.push_back(std::move(item));
  }
  return {{"version", kJsonVersion},
          {"run_id", state.run_id()},
          {"id", t.id.str()},
          {"title", t.title},
          {"feature", t.feature.str()},
          {"domain", to_string(t.domain)},
          {"complexity", to_string(t.complexity)},
          {"minutes", t.minutes},
          {"depends_on", depends},
          {"files", t.files},
          {"acceptance", criterion_texts(t.acceptance)},
          {"unchecked", prose_criteria(t.acceptance)},
          {"status", to_string(s.status)},
          {"attempt", s.attempt},
          {"reason", s.reason},
          {"commit", s.commit},
          {"produced", s.files},
          {"usage", usage_total_json(s.usage)},
          {"attempts", list}};
}

std::string task_text(const nlohmann::json& doc) {
  std::string out = fmt::format("{}  {}\n", doc.value("id", ""), doc.value("title", ""));
  out += fmt::format("  status:      {}", doc.value("status", ""));
  if (doc.value("attempt", 0U) > 0) out += fmt::format(" (attempt {})", doc.value("attempt", 0U));
  out += "\n";
  if (!doc.value("reason", "").empty()) out += "  reason:      " + doc.value("reason", "") + "\n";
  out += fmt::format("  feature:     {}   {} {}, {} min\n", doc.value("feature", ""),
                     doc.value("domain", ""), doc.value("complexity", ""),
                     doc.value("minutes", 0U));
  std::string deps;
  for (const auto& d : doc["depends_on"]) {
    deps += fmt::format("{}{} ({})", deps.empty() ? "" : ", ", d.value("id", ""),
                        d.value("status", ""));
  }
  out += "  depends on:  " + (deps.empty() ? std::string("(none)") : deps) + "\n";
  out += "  files:       " + strings_text(doc["files"].get<std::vector<std::string>>()) + "\n";
  // A prose criterion is the agent's to meet: say that br did not check it, even on success.
  const auto& unchecked = doc["unchecked"];
  for (const auto& c : doc["acceptance"]) {
    const bool prose = std::find(unchecked.begin(), unchecked.end(), c) != unchecked.end();
    out += "  criterion:   " + c.get<std::string>() + (prose ? "  (unchecked: prose)" : "") + "\n";
  }
  if (!doc.value("commit", "").empty()) out += "  commit:      " + doc.value("commit", "") + "\n";
  if (doc.contains("usage") && doc["usage"].value("attempts", 0ULL) > 0) {
    out += "  usage:       " + usage_total_text(doc["usage"]) + " over all attempts\n";
  }
  const auto& attempts = doc["attempts"];
  if (attempts.empty()) {
    out += "\nno attempts yet\n";
    return out;
  }
  for (const auto& a : attempts) {
    out += fmt::format("\nattempt {}  {}  on {}  (batch {})\n", a.value("attempt", 0U),
                       a.value("outcome", ""), a.value("worker", ""), a.value("batch", ""));
    out += fmt::format("  dispatched {}, started {}, finished {}\n",
                       time_text(a.value("dispatched_ms", std::int64_t{0})),
                       time_text(a.value("started_ms", std::int64_t{0})),
                       time_text(a.value("finished_ms", std::int64_t{0})));
    if (!a.value("reason", "").empty()) out += "  reason: " + a.value("reason", "") + "\n";
    if (!a.value("commit", "").empty()) out += "  commit: " + a.value("commit", "") + "\n";
    if (a.value("outcome", "") != "unfinished" && a.contains("usage")) {
      out += "  usage:  " + usage_text(a["usage"]) + "\n";
    }
    if (a.contains("agent") && !a["agent"].value("route", "").empty()) {
      out += "  agent:  " + a["agent"].value("route", "") + ": " +
             a["agent"].value("command", "") + "\n";
    }
    out += "  log:    " +
           (a.value("log", "").empty() ? a.value("log_note", "") : a.value("log", "")) + "\n";
    if (!a.value("prompt", "").empty()) out += "  prompt: " + a.value("prompt", "") + "\n";
    const auto& lines = a["last_lines"];
    if (!lines.empty()) {
      out += "  last lines of the log:\n";
      for (const auto& line : lines) out += "    | " + line.get<std::string>() + "\n";
    }
  }
  return out;
}

}  // namespace br
