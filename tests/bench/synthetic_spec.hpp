// Deterministic generators of large inputs for benchmarks: specs in the PROJECT_SPEC.md shape
// and raw task DAGs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/model.hpp"

namespace br::bench {

// `features` features under "## Features", each with priority, description, requirements,
// criteria and up to 3 dependencies on earlier features (so the spec is acyclic).
std::string synthetic_spec(std::size_t features, std::uint64_t seed = 1);

// `tasks` tasks of 60/90/120 minutes and about `edges` dependencies, each pointing to an
// earlier task (acyclic), within a window so the graph is deep as well as wide.
std::vector<Task> synthetic_dag(std::size_t tasks, std::size_t edges, std::uint64_t seed = 1);

// Peak resident set of this process so far, in MiB.
double peak_rss_mib();

}  // namespace br::bench
