// What a worker slot takes from its host's br.toml, the same for `br`'s in-process slots and
// br-worker's: the agent, verification, and what to keep of its attempts.
#pragma once

#include <filesystem>
#include <string>

#include "actors/worker/batch_runner.hpp"
#include "protocol/config.hpp"

namespace br {

struct SlotPlace {
  std::string worker;  // the slot's name, as results report it
  std::filesystem::path workspace;
  std::filesystem::path logs_dir;
  std::filesystem::path prompts_dir;
};

// `host` decides whether `run:` criteria may run: only this host's own config can allow them.
BatchRunnerConfig runner_config(const Config& config, VerifyingHost host, SlotPlace place);

}  // namespace br
