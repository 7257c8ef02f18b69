#include "protocol/model.hpp"

#include <algorithm>
#include <cctype>

namespace br {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string_view to_string(Priority p) {
  switch (p) {
    case Priority::critical: return "critical";
    case Priority::high: return "high";
    case Priority::medium: return "medium";
    case Priority::low: return "low";
  }
  return "medium";
}

std::string_view to_string(Domain d) {
  switch (d) {
    case Domain::database: return "database";
    case Domain::backend: return "backend";
    case Domain::api: return "api";
    case Domain::ui: return "ui";
    case Domain::infra: return "infra";
    case Domain::tests: return "tests";
    case Domain::docs: return "docs";
  }
  return "backend";
}

std::string_view to_string(Complexity c) {
  switch (c) {
    case Complexity::simple: return "simple";
    case Complexity::medium: return "medium";
    case Complexity::complex: return "complex";
  }
  return "medium";
}

std::optional<Priority> parse_priority(std::string_view s) {
  const std::string v = lower(s);
  if (v == "critical") return Priority::critical;
  if (v == "high") return Priority::high;
  if (v == "medium") return Priority::medium;
  if (v == "low") return Priority::low;
  return std::nullopt;
}

std::optional<Domain> parse_domain(std::string_view s) {
  const std::string v = lower(s);
  if (v == "database" || v == "db") return Domain::database;
  if (v == "backend") return Domain::backend;
  if (v == "api") return Domain::api;
  if (v == "ui" || v == "frontend") return Domain::ui;
  if (v == "infra") return Domain::infra;
  if (v == "tests" || v == "test") return Domain::tests;
  if (v == "docs" || v == "doc") return Domain::docs;
  return std::nullopt;
}

std::optional<Complexity> parse_complexity(std::string_view s) {
  const std::string v = lower(s);
  if (v == "simple" || v == "low") return Complexity::simple;
  if (v == "medium") return Complexity::medium;
  if (v == "complex" || v == "high") return Complexity::complex;
  return std::nullopt;
}

std::string_view kind_name(const RecordBody& body) {
  static constexpr std::string_view kNames[] = {
      "planCreated",  "taskReady",     "batchDispatched", "taskStarted", "taskSucceeded",
      "taskFailed",   "taskRetrying",  "taskBlocked",     "taskCancelled", "workerJoined",
      "workerLost",   "runStopped",    "runResumed",      "runCompleted"};
  static_assert(std::size(kNames) == std::variant_size_v<RecordBody>);
  return kNames[body.index()];
}

}  // namespace br
