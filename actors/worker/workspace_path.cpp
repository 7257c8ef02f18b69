#include "actors/worker/workspace_path.hpp"

#include <string>
#include <system_error>

namespace br {

namespace fs = std::filesystem;

namespace {

bool is_inside(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // trailing separator of root
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

}  // namespace

Result<fs::path> resolve_in_workspace(const fs::path& workspace, std::string_view relative) {
  const std::string shown(relative);
  if (relative.empty()) return Error::of("empty path: name a file relative to the workspace");
  if (relative.find('\0') != std::string_view::npos) {
    return Error::of("path '" + shown + "' contains a NUL byte");
  }
  const fs::path rel(shown);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory()) {
    return Error::of("path '" + shown + "' is absolute: paths must be relative to the workspace");
  }
  const fs::path norm = rel.lexically_normal();
  if (norm.empty() || *norm.begin() == ".." || norm == ".") {
    return Error::of("path '" + shown + "' escapes the workspace (uses '..' to leave it)");
  }
  const fs::path full = workspace / norm;

  // A symlink inside the workspace may still lead out; check what the path really names.
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(workspace, ec);
  if (ec) return full;  // workspace does not resolve; existence checks will report it
  const fs::path real = fs::weakly_canonical(full, ec);
  if (!ec && !is_inside(root, real)) {
    return Error::of("path '" + shown + "' resolves outside the workspace through a symlink (" +
                     real.string() + ")");
  }
  return full;
}

}  // namespace br
