#include "actors/worker/attempt_cancels.hpp"

namespace br {

std::shared_ptr<CancelSource> AttemptCancels::begin(const BatchId& batch) {
  auto source = std::make_shared<CancelSource>();
  const std::lock_guard<std::mutex> lock(mutex_);
  if (all_) source->cancel();
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
  if (it == running_.end()) return false;
  it->second->cancel();
  return true;
}

void AttemptCancels::cancel_all() {
  const std::lock_guard<std::mutex> lock(mutex_);
  all_ = true;
  for (auto& [batch, source] : running_) source->cancel();
}

}  // namespace br
