// Drives br's actors deterministically for their tests: CAF's test coordinator runs every
// actor on the test's thread, one message at a time, and only when the test says so; a
// Recorder stands in for an actor whose messages the test wants to see, in order.
#pragma once

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <cstddef>
#include <vector>

#include "protocol/actor_messages.hpp"

namespace br::test {

// The messages one stand-in actor received, oldest first.
struct Recorded {
  std::vector<caf::message> messages;

  template <class... Ts>
  std::vector<caf::message> matching() const {
    std::vector<caf::message> out;
    for (const auto& m : messages) {
      if (m.match_elements<Ts...>()) out.push_back(m);
    }
    return out;
  }
};

// An actor that takes any message and records it (it answers requests with nothing).
inline caf::behavior recorder(caf::event_based_actor* self, Recorded* log) {
  self->set_default_handler(
      [log](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        log->messages.push_back(x.copy_content_to_message());
        return caf::message{};
      });
  // A behavior needs one handler to keep the actor alive; this message is never sent.
  return {[](atoms::tick_atom, atoms::tick_atom) {}};
}

class DeterministicActors {
 public:
  DeterministicActors()
      : system_(configure(config_)),
        sched_(dynamic_cast<caf::scheduler::test_coordinator&>(system_.scheduler())) {}

  caf::actor_system& system() { return system_; }

  // Runs every actor until no message is left to handle (delayed messages wait for their
  // time, which in this scheduler never comes on its own).
  std::size_t run() { return sched_.run(); }

  // A stand-in for an actor of interface Handle that records what it receives in `log`.
  template <class Handle>
  Handle spawn_recorder(Recorded& log) {
    return caf::actor_cast<Handle>(system_.spawn(recorder, &log));
  }

 private:
  static caf::actor_system_config& configure(caf::actor_system_config& config) {
    add_br_types(config);
    config.set("scheduler.policy", caf::atom("testing"));
    return config;
  }

  caf::actor_system_config config_;
  caf::actor_system system_;
  caf::scheduler::test_coordinator& sched_;
};

}  // namespace br::test
