// The git side of a br-worker on another host, which needs no clone: its workspace is a
// repository of its own (made empty, then filled with the coordinator's objects as batches
// need them), and a passed attempt's commit goes back as a pack of just the objects it adds.
// No CAF: the worker actor moves the bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "actors/worker/git_repo.hpp"
#include "protocol/model.hpp"

namespace br {

// The repository at `workspace`: an existing one (a clone saves fetching), or a new bare one
// when the folder is missing or empty. A folder of other files is refused, with what to do.
Result<GitRepo> open_worker_repository(const std::filesystem::path& workspace);

// A pack the coordinator sends is at most this large: a whole project's history at bootstrap.
inline constexpr std::uint64_t kMaxFetchedPackBytes = std::uint64_t{4} << 30;

// Puts the pack of a passed attempt's commit (its objects not in `base`) into the result
// delivered first (the smallest task id: results go out in that order), so it reaches the
// coordinator once. A pack over `max_bytes` fails the attempt with its size instead.
void attach_pack(const GitRepo& repo, const CommitId& base, std::uint64_t max_bytes,
                 std::vector<TaskResult>& results);

}  // namespace br
