// Resolves a path named by a task (expected file, criterion) inside the workspace, refusing
// anything that would read or write outside it: absolute paths, `..` escapes and symlinks
// that lead out.
#pragma once

#include <filesystem>
#include <string_view>

#include "protocol/result.hpp"

namespace br {

// `relative` must be a relative path that stays inside `workspace` after lexical
// normalisation, and whose existing part does not resolve (through symlinks) outside it.
// Returns workspace / normalised relative path.
Result<std::filesystem::path> resolve_in_workspace(const std::filesystem::path& workspace,
                                                   std::string_view relative);

}  // namespace br
