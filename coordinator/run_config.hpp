// Which br.toml a command reads when no --config is given, so that `br resume`, `br retry` and a
// restarted `br-coordinator` need no flag: the config a state dir's run was last started with
// (remembered in STATE/config with its content hash), else ./br.toml when there is one.
#pragma once

#include <string>

#include "coordinator/state_dir.hpp"

namespace br {

struct ChosenConfig {
  std::string path;  // empty: none (built-in defaults)
  std::string note;  // for the user: where it came from, or that it changed since
};

// `given` (--config) wins; then the state dir's remembered config, if that file still exists;
// then ./br.toml.
ChosenConfig choose_config(const std::string& given, const StateDir& dir);

// Remembers `path` (made absolute) and a hash of its content as the config of `dir`'s run.
// Best effort: a state dir that cannot take it only loses the convenience.
void remember_config(const StateDir& dir, const std::string& path);

}  // namespace br
