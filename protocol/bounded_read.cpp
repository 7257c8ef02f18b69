#include "protocol/bounded_read.hpp"

#include <algorithm>
#include <fstream>

namespace br {

std::optional<std::string> read_at_most(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::size_t want = max_bytes + 1;
  std::string text;
  char chunk[1 << 16];
  while (text.size() < want && in) {
    in.read(chunk, static_cast<std::streamsize>(std::min(sizeof chunk, want - text.size())));
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  return text;
}

}  // namespace br
