// Levenshtein distance, for "did you mean …?" suggestions on unknown names (spec ids,
// config keys). Quadratic: call it on error paths only.
#pragma once

#include <cstddef>
#include <string_view>

namespace br {

std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace br
