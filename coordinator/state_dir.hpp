// Where br keeps a run's files inside --state-dir: the journal, agent logs, prompts, context.
#pragma once

#include <string>

namespace br {

struct StateDir {
  std::string root;  // --state-dir, default ".br"

  std::string journal() const { return root + "/journal"; }
  std::string logs() const { return root + "/logs"; }
  std::string prompts() const { return root + "/prompts"; }
  std::string context() const { return root + "/context"; }
};

}  // namespace br
