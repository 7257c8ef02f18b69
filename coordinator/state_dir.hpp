// Where br keeps a run's files inside --state-dir: the journal, agent logs, prompts, context,
// and requests to the live run (br stop).
#pragma once

#include <string>

namespace br {

struct StateDir {
  std::string root;  // --state-dir, default ".br"

  std::string journal() const { return root + "/journal"; }
  std::string logs() const { return root + "/logs"; }
  std::string prompts() const { return root + "/prompts"; }
  std::string context() const { return root + "/context"; }
  std::string control() const { return root + "/control"; }  // requests to the live run
};

}  // namespace br
