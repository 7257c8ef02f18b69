#include "actors/planner/planner_actor.hpp"

#include "actors/planner/decomposer.hpp"
#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"

namespace br {
namespace {

using namespace br::atoms;

caf::behavior planner_actor(caf::event_based_actor*) {
  return {
      [](plan_atom, const std::string& spec_path, const std::string& text,
         std::uint64_t max_bytes, std::uint64_t max_tasks) -> caf::result<std::string> {
        ParseLimits limits;
        limits.max_bytes = max_bytes;
        limits.max_features = max_tasks;  // every feature gives at least one task
        auto spec = parse_spec(text, spec_path, limits);
        if (!spec) return caf::make_error(caf::sec::invalid_argument, spec.error().str());
        return encode(make_plan(*spec));
      },
  };
}

}  // namespace

caf::actor spawn_planner_actor(caf::actor_system& system) {
  return system.spawn(planner_actor);
}

}  // namespace br
