// Feature id → position, for specs of 100,000 features: an open-addressing table of (hash,
// position) pairs in one array. A lookup touches one slot and, when the hashes match, the key
// itself — where std::unordered_map chased a bucket, a node and the key (the parser and the
// decomposer each spent a quarter of their time there). Keys are views: the strings they view
// must outlive the index and stay where they are.
#pragma once

#include <cstddef>
#include <cstdint>
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
      if (!slot.used) {
        slot = Slot{h, position, true, key};
        ++size_;
        return {position, true};
      }
      if (slot.hash == h && slot.key == key) return {slot.position, false};
    }
  }

  std::optional<std::uint32_t> find(std::string_view key) const {
    const std::uint64_t h = hash(key);
    for (std::size_t s = h & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (!slot.used) return std::nullopt;
      if (slot.hash == h && slot.key == key) return slot.position;
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t position = 0;
    bool used = false;
    std::string_view key;
  };

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
      if (!slot.used) continue;
      std::size_t s = slot.hash & mask_;
      while (slots_[s].used) s = (s + 1) & mask_;
      slots_[s] = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace br
