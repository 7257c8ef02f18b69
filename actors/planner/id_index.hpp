// Feature id → position, for specs of 100,000 features: an open-addressing table in one
// array, each slot holding a key's hash, its position and its first 16 bytes. A lookup of an
// id of up to 16 bytes touches one slot and nothing else, where std::unordered_map chased a
// bucket, a node and the key's characters, each a cache miss in a big spec (the parser and the
// decomposer each spent a quarter of their time there). Longer keys are views: the strings
// they view must outlive the index and stay where they are.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace br {

class IdIndex {
 public:
  // Room for `expected` keys without growing.
  explicit IdIndex(std::size_t expected = 0) { rehash(capacity_for(expected)); }

  // Adds `key` at `position` unless it is there already; returns the position it has.
  std::pair<std::uint32_t, bool> emplace(std::string_view key, std::uint32_t position) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    const std::uint64_t h = hash(key);
    for (std::size_t s = h & mask_;; s = (s + 1) & mask_) {
      Slot& slot = slots_[s];
      if (slot.data == nullptr) {
        slot.hash = h;
        slot.position = position;
        slot.size = static_cast<std::uint32_t>(key.size());
        slot.data = key.empty() ? "" : key.data();
        if (!key.empty()) std::memcpy(slot.prefix, key.data(), std::min(key.size(), kPrefix));
        ++size_;
        return {position, true};
      }
      if (same(slot, h, key)) return {slot.position, false};
    }
  }

  std::optional<std::uint32_t> find(std::string_view key) const {
    const std::uint64_t h = hash(key);
    for (std::size_t s = h & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (slot.data == nullptr) return std::nullopt;
      if (same(slot, h, key)) return slot.position;
    }
  }

 private:
  static constexpr std::size_t kPrefix = 16;

  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t position = 0;
    std::uint32_t size = 0;
    const char* data = nullptr;  // nullptr: an empty slot
    char prefix[kPrefix] = {};   // the key's first bytes
  };

  static bool same(const Slot& slot, std::uint64_t h, std::string_view key) {
    if (slot.hash != h || slot.size != key.size()) return false;
    if (key.empty()) return true;
    if (std::memcmp(slot.prefix, key.data(), std::min(key.size(), kPrefix)) != 0) return false;
    return key.size() <= kPrefix ||
           std::memcmp(slot.data + kPrefix, key.data() + kPrefix, key.size() - kPrefix) == 0;
  }

  static std::size_t capacity_for(std::size_t keys) {
    std::size_t n = 16;
    while (n < keys * 2 + 2) n *= 2;
    return n;
  }

  // FNV-1a, then mixed (ids differ mostly in their last bytes).
  static std::uint64_t hash(std::string_view key) {
    std::uint64_t h = 14695981039346656037ull;
    for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h ^= h >> 32;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
  }

  void rehash(std::size_t slots) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(slots, Slot{});
    mask_ = slots - 1;
    for (const Slot& slot : old) {
      if (slot.data == nullptr) continue;
      std::size_t s = slot.hash & mask_;
      while (slots_[s].data != nullptr) s = (s + 1) & mask_;
      slots_[s] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace br
