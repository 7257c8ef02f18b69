#include <catch2/catch.hpp>

#include "actors/worker/attempt_cancels.hpp"

using namespace br;

TEST_CASE("an attempt is cancelled while it runs, and not after it ended") {
  AttemptCancels cancels;
  auto running = cancels.begin(BatchId("b1"));
  CHECK_FALSE(running->cancelled());
  CHECK(cancels.cancel(BatchId("b1")));
  CHECK(running->cancelled());
  cancels.end(BatchId("b1"));
  auto other = cancels.begin(BatchId("b2"));
  CHECK_FALSE(other->cancelled());  // a cancel of one attempt touches no other
}

TEST_CASE("a cancel that overtakes its batch kills it as it begins") {
  AttemptCancels cancels;
  CHECK_FALSE(cancels.cancel(BatchId("early")));  // not running here (yet)
  CHECK(cancels.begin(BatchId("early"))->cancelled());
  cancels.end(BatchId("early"));
  CHECK_FALSE(cancels.begin(BatchId("early"))->cancelled());  // remembered once, not forever
  // Only the last few are remembered: a cancel for a batch that never comes is not kept.
  for (int i = 0; i < 100; ++i) cancels.cancel(BatchId("never-" + std::to_string(i)));
  CHECK_FALSE(cancels.begin(BatchId("never-0"))->cancelled());
  CHECK(cancels.begin(BatchId("never-99"))->cancelled());
}

TEST_CASE("cancel_all cancels what runs and what begins after") {
  AttemptCancels cancels;
  auto running = cancels.begin(BatchId("a"));
  cancels.cancel_all();
  CHECK(running->cancelled());
  CHECK(cancels.begin(BatchId("b"))->cancelled());
}
