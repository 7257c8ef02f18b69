// Encoded<T>: the Cap'n Proto bytes of one T, as they travel between actors (and hosts) and
// go to the journal. The type says which message the bytes hold, so an actor interface that
// takes an Encoded<Batch> does not compile with an Encoded<ReadyTasks>; the bytes themselves
// are decoded, bounded, by whoever acts on them (they may come from the network).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "protocol/codec.hpp"

namespace br {

template <class T>
struct Encoded {
  std::string bytes;

  static Encoded of(const T& value) { return Encoded{encode(value)}; }
  Result<T> decode(const DecodeLimits& limits = {}) const { return br::decode<T>(bytes, limits); }
};

// Found by CAF through argument-dependent lookup: the bytes are the whole wire form.
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, Encoded<T>& x) {
  return f(x.bytes);
}

}  // namespace br
