#include "tests/bench/synthetic_spec.hpp"

#include <sys/resource.h>

#include <random>

namespace br::bench {

std::string synthetic_spec(std::size_t features, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  static const char* kPriorities[] = {"Critical", "High", "Medium", "Low"};
  static const char* kWork[] = {
      "Store records in a database table with a migration",
      "Business logic validates and processes the input",
      "A REST endpoint returns the result as JSON",
      "A dashboard page with a form and a button",
      "Deploy with a systemd unit",
  };
  std::string out = "# Synthetic project\n\n## Overview\n\nGenerated for benchmarks.\n\n## Features\n\n";
  out.reserve(features * 420);
  for (std::size_t i = 0; i < features; ++i) {
    out += "### Feature number " + std::to_string(i) + " {#f-" + std::to_string(i) + "}\n\n";
    out += "**Priority:** " + std::string(kPriorities[rng() % 4]) + "\n";
    if (i > 0) {
      out += "**Depends on:** ";
      const std::size_t n = 1 + rng() % 3;
      for (std::size_t k = 0; k < n; ++k) {
        out += (k ? ", #f-" : "#f-") + std::to_string(rng() % i);
      }
      out += "\n";
    }
    out += "**Description:** " + std::string(kWork[rng() % 5]) + ".\n";
    out += "**Requirements:**\n";
    for (std::size_t k = 0; k < 1 + rng() % 4; ++k) out += "- " + std::string(kWork[rng() % 5]) + "\n";
    out += "**Acceptance Criteria:**\n- It works for feature " + std::to_string(i) + "\n\n";
  }
  return out;
}

std::vector<Task> synthetic_dag(std::size_t tasks, std::size_t edges, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Task> out(tasks);
  const std::size_t per_task = tasks == 0 ? 0 : edges / tasks;
  const std::size_t window = 1000;  // dependencies reach back at most this far
  static const std::uint32_t kMinutes[] = {60, 90, 120};
  for (std::size_t i = 0; i < tasks; ++i) {
    out[i].id = TaskId("t" + std::to_string(i));
    out[i].minutes = kMinutes[rng() % 3];
    if (i == 0) continue;
    const std::size_t n = std::min(per_task, i);
    out[i].depends_on.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t back = 1 + rng() % std::min(i, window);
      out[i].depends_on.push_back(out[i - back].id);
    }
  }
  return out;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace br::bench
