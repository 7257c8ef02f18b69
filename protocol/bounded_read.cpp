#include "protocol/bounded_read.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace br {

std::string not_an_input_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? kNoSuchFile : std::strerror(errno);
  }
  if (S_ISDIR(st.st_mode)) return "it is a directory; name a file";
  if (!S_ISREG(st.st_mode)) {
    return "it is not a regular file (a FIFO, socket or device); save it to a file first";
  }
  if (::access(path.c_str(), R_OK) != 0) return std::strerror(errno);
  return "";
}

std::optional<std::string> read_at_most(const std::string& path, std::size_t max_bytes) {
  // Checked first: opening a FIFO would block until a writer came, maybe never.
  if (!not_an_input_file(path).empty()) return std::nullopt;
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
