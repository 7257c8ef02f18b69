#include "actors/worker/attempt_cancels.hpp"

#include <algorithm>

namespace br {

std::shared_ptr<CancelSource> AttemptCancels::begin(const BatchId& batch) {
  auto source = std::make_shared<CancelSource>();
  const std::lock_guard<std::mutex> lock(mutex_);
  auto early = std::find(early_.begin(), early_.end(), batch.str());
  if (all_ || early != early_.end()) source->cancel();
  if (early != early_.end()) early_.erase(early);
  running_[batch.str()] = source;
  return source;
}

void AttemptCancels::end(const BatchId& batch) {
  const std::lock_guard<std::mutex> lock(mutex_);
  running_.erase(batch.str());
}

bool AttemptCancels::cancel(const BatchId& batch) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto it = running_.find(batch.str());
  if (it == running_.end()) {
    // A slot holds one batch at a time: a few remembered cover every batch about to begin.
    if (std::find(early_.begin(), early_.end(), batch.str()) == early_.end()) {
      early_.push_back(batch.str());
      if (early_.size() > 64) early_.pop_front();
    }
    return false;
  }
  it->second->cancel();
  return true;
}

void AttemptCancels::cancel_all() {
  const std::lock_guard<std::mutex> lock(mutex_);
  all_ = true;
  for (auto& [batch, source] : running_) source->cancel();
}

}  // namespace br
