// Reading an input file whose size br bounds (specs, br.toml): at most max_bytes + 1 bytes
// are read, so the caller can tell "over the limit" apart without reading all of a huge file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace br {

// The file's first max_bytes + 1 bytes (all of it when smaller); nullopt when it cannot be
// opened. Memory grows with what is read, not with the bound.
std::optional<std::string> read_at_most(const std::string& path, std::size_t max_bytes);

}  // namespace br
