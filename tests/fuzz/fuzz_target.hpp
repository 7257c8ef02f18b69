// What every fuzz target in this folder shares. A target defines LLVMFuzzerTestOneInput; with
// clang and -DBR_FUZZ=ON it links libFuzzer, otherwise standalone_main.cpp runs it over files.
// A target checks properties, not just "no crash": BR_FUZZ_CHECK aborts (a finding) when one
// does not hold, in every build type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define BR_FUZZ_CHECK(condition)                                                      \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__,  \
                   #condition);                                                       \
      std::abort();                                                                   \
    }                                                                                 \
  } while (false)

namespace br::fuzz {

inline std::string_view bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace br::fuzz
