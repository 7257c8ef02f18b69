// Matching names people type against the names br knows (priorities, domains, config keys,
// spec ids and fields): ASCII case folding, and Levenshtein distance for "did you mean …?".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace br {

// ASCII letters lowered; every other byte (UTF-8 included) unchanged. Locale-independent.
std::string ascii_lower(std::string_view s);

// Quadratic: call it on error paths only.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace br
