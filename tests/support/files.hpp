// Small file helpers for tests.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace br::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace br::test
