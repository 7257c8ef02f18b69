// Reads PROJECT_SPEC.md (docs/spec-format.md) into features: where features are, their
// fields in any of the common shapes, sub-features, ids, and dependencies resolved to ids.
// Every problem is reported in one pass as `file:line: message`; no input makes it crash or
// hang (one pass over the bytes, iterative cycle search).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct Spec {
  std::string path;
  std::string title;     // the first level-1 heading
  std::string overview;  // project context outside features, at most kMaxOverviewBytes
  std::vector<Feature> features;
};

inline constexpr std::size_t kMaxOverviewBytes = 8 * 1024;

struct ParseLimits {
  std::size_t max_bytes = std::size_t{16} << 20;
  std::size_t max_features = 200000;  // limits.max_tasks: each feature gives at least one task
};

Result<Spec> parse_spec(std::string_view text, const std::string& path,
                        const ParseLimits& limits = {});
Result<Spec> parse_spec_file(const std::string& path, const ParseLimits& limits = {});

// A title as an id: kebab-case, Latin accents folded to ASCII, emoji and punctuation dropped
// ("Meal Planning & Assignment" → "meal-planning-assignment").
std::string slugify(std::string_view title);

}  // namespace br
