// The agent runs of one process's worker slots, by batch, so that one attempt can be killed
// (`br cancel` of a running task) without stopping the others. Thread-safe: slots begin and
// end attempts on their own threads while the coordinator cancels from another.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actors/worker/agent_runner.hpp"
#include "protocol/ids.hpp"

namespace br {

class AttemptCancels {
 public:
  // The cancel source of the attempt of `batch` a slot is about to run: already cancelled if
  // the whole run is.
  std::shared_ptr<CancelSource> begin(const BatchId& batch);
  void end(const BatchId& batch);
  // Kills that attempt's agent (and its checks) if it runs here; whether it did. A batch not
  // begun yet is cancelled when it begins (a cancel can overtake the batch it is about).
  bool cancel(const BatchId& batch);
  // Every attempt, and every one begun from now on (the run is stopping).
  void cancel_all();

 private:
  std::mutex mutex_;
  bool all_ = false;
  std::map<std::string, std::shared_ptr<CancelSource>> running_;
  std::deque<std::string> early_;  // cancelled before they began; the last few only
};

}  // namespace br
