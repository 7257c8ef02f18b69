// Strong identifier types, so a task id cannot be passed where a feature id is meant.
#pragma once

#include <functional>
#include <string>
#include <utility>

namespace br {

template <class Tag>
class Id {
 public:
  Id() = default;
  explicit Id(std::string value) : value_(std::move(value)) {}

  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend bool operator==(const Id& a, const Id& b) { return a.value_ == b.value_; }
  friend bool operator!=(const Id& a, const Id& b) { return a.value_ != b.value_; }
  friend bool operator<(const Id& a, const Id& b) { return a.value_ < b.value_; }

 private:
  std::string value_;
};

using FeatureId = Id<struct FeatureIdTag>;
using TaskId = Id<struct TaskIdTag>;
using BatchId = Id<struct BatchIdTag>;

}  // namespace br

template <class Tag>
struct std::hash<br::Id<Tag>> {
  std::size_t operator()(const br::Id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
