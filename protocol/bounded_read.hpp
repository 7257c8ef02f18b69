// Reading an input file whose size br bounds (specs, br.toml): at most max_bytes + 1 bytes
// are read, so the caller can tell "over the limit" apart without reading all of a huge file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace br {

// Why `path` cannot be an input file, for "PATH: cannot read the WHAT: …": "" when it is a
// regular file (or a symlink to one) that can be read, kNoSuchFile when there is none. A
// directory, a FIFO (which would block until some writer came), a socket or a device is not
// an input file.
inline constexpr const char* kNoSuchFile = "no such file";
std::string not_an_input_file(const std::string& path);

// The file's first max_bytes + 1 bytes (all of it when smaller); nullopt when it cannot be
// opened or is not a regular file (not_an_input_file says why). Memory grows with what is
// read, not with the bound.
std::optional<std::string> read_at_most(const std::string& path, std::size_t max_bytes);

}  // namespace br
