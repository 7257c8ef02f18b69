// The planner's id index against std::unordered_map: same positions, first one kept.
#include <catch2/catch.hpp>

#include <string>
#include <unordered_map>
#include <vector>

#include "actors/planner/id_index.hpp"

using namespace br;

TEST_CASE("the id index finds what an unordered_map finds, growing as it fills") {
  std::vector<std::string> keys;
  for (int i = 0; i < 50000; ++i) keys.push_back("feature-" + std::to_string(i % 37000));
  keys.emplace_back("");
  keys.emplace_back("é/ü");
  IdIndex index;  // no room reserved: it grows
  std::unordered_map<std::string_view, std::uint32_t> reference;
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    const auto [position, inserted] = index.emplace(keys[i], i);
    const auto [it, ref_inserted] = reference.emplace(keys[i], i);
    REQUIRE(inserted == ref_inserted);
    REQUIRE(position == it->second);
  }
  for (const auto& key : keys) REQUIRE(index.find(key) == reference.at(key));
  CHECK_FALSE(index.find("feature-37000").has_value());
  CHECK_FALSE(index.find("feature-").has_value());
  CHECK(index.find("") == reference.at(""));
}

TEST_CASE("keys longer than the slot's inline bytes are told apart by the rest") {
  const std::string prefix(16, 'p');
  std::vector<std::string> keys = {prefix, prefix + "a", prefix + "b", prefix + "ab",
                                   prefix.substr(0, 15), prefix + std::string(100, 'z')};
  IdIndex index(2);
  for (std::uint32_t i = 0; i < keys.size(); ++i) CHECK(index.emplace(keys[i], i).second);
  for (std::uint32_t i = 0; i < keys.size(); ++i) CHECK(index.find(keys[i]) == i);
  CHECK_FALSE(index.find(prefix + "c").has_value());
  CHECK_FALSE(index.find(prefix + std::string(99, 'z')).has_value());
  CHECK(index.emplace(prefix + "b", 99).first == 2);  // the first position stays
}
