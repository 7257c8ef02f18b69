#include "actors/worker/verifier.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <system_error>

#include "protocol/acceptance_criterion.hpp"
#include "actors/worker/workspace_path.hpp"

namespace br {

namespace fs = std::filesystem;

namespace {

FileStamp stamp(const fs::path& p) {
  FileStamp s;
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.size = static_cast<std::uintmax_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || s.size > kMaxHashBytes) return s;
  std::ifstream in(p, std::ios::binary);
  if (!in) return s;
  std::uint64_t h = 14695981039346656037ULL;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  s.hash = h;
  s.hashed = true;
  return s;
}


// Runs one command for verification; returns the failure reason, or "" when it passed.
std::string run_one(const std::string& what, const std::vector<std::string>& argv,
                    const VerifyConfig& config, const VerifyRequest& request,
                    const CancelSource* cancel) {
  ProcessSpec spec;
  spec.argv = argv;
  spec.cwd = request.workspace;
  spec.env = clean_environment(request.env_allow,
                               {{"BR_WORKSPACE", fs::absolute(request.workspace).string()}});
  spec.log_file = request.log_file;
  spec.log_max_bytes = request.log_max_bytes;
  spec.timeout_ms = config.timeout_ms;
  auto outcome = run_process(spec, cancel);
  if (!outcome.ok()) return what + " could not run: " + outcome.error().str();
  if (outcome->success()) return {};
  return what + " `" + join_argv(argv) + "` " + outcome->describe(config.timeout_ms) +
         " (output in " + request.log_file.string() + ")";
}

}  // namespace

FileSnapshot snapshot_files(const fs::path& workspace, const std::vector<std::string>& files) {
  FileSnapshot snap;
  for (const auto& f : files) {
    auto p = resolve_in_workspace(workspace, f);
    if (p.ok()) snap.files[f] = stamp(p.value());
  }
  return snap;
}

void check_files(const VerifyRequest& request, Verification& out) {
  for (const auto& f : request.files) {
    auto p = resolve_in_workspace(request.workspace, f);
    if (!p.ok()) {
      out.failures.push_back("expected file rejected: " + p.error().str());
      continue;
    }
    const FileStamp now = stamp(p.value());
    if (!now.exists) {
      out.failures.push_back("expected file " + f + " is missing");
      continue;
    }
    const auto before = request.before.files.find(f);
    if (before != request.before.files.end() && before->second.exists) {
      const FileStamp& b = before->second;
      const bool same = b.mtime_ns == now.mtime_ns && b.size == now.size &&
                        (!b.hashed || !now.hashed || b.hash == now.hash);
      if (same) {
        out.failures.push_back("expected file " + f + " was not changed since dispatch");
        continue;
      }
    }
    out.produced.push_back(f);
  }
}

void run_checks(const VerifyConfig& config, const VerifyRequest& request, Verification& out,
                const CancelSource* cancel) {
  if (!config.check_command.empty()) {
    auto why = run_one("check_command", config.check_command, config, request, cancel);
    if (!why.empty()) out.failures.push_back(std::move(why));
  }
  if (!config.test_command.empty()) {
    auto why = run_one("test_command", config.test_command, config, request, cancel);
    if (!why.empty()) out.failures.push_back(std::move(why));
  }
}

std::string run_criterion_not_allowed(const Criterion& criterion, const std::string& worker) {
  return "criterion '" + to_string(criterion) + "' was not run: " +
         (worker.empty() ? std::string("this host") : "worker " + worker) +
         " does not allow run: criteria (set [verify] allow_run_criteria = true in its own "
         "config to run the spec's commands there)";
}

void check_criteria(const VerifyConfig& config, const VerifyRequest& request, Verification& out,
                    const CancelSource* cancel) {
  for (const Criterion& c : request.acceptance) {
    if (c.kind == CriterionKind::prose) {
      out.unchecked.push_back(c.text);
      continue;
    }
    const std::string name = "criterion '" + to_string(c) + "'";
    if (c.kind == CriterionKind::run) {
      if (!request.allow_run_criteria) {
        out.failures.push_back(run_criterion_not_allowed(c, request.worker));
        continue;
      }
      auto argv = split_command_line(c.command);
      if (!argv.ok()) {
        out.failures.push_back(name + " malformed: " + argv.error().str());
        continue;
      }
      auto why = run_one(name, argv.value(), config, request, cancel);
      if (!why.empty()) out.failures.push_back(std::move(why));
      continue;
    }
    auto p = resolve_in_workspace(request.workspace, c.path);
    if (!p.ok()) {
      out.failures.push_back(name + " rejected: " + p.error().str());
      continue;
    }
    std::error_code ec;
    if (!fs::exists(p.value(), ec)) {
      out.failures.push_back(name + " failed: " + c.path + " does not exist");
      continue;
    }
    if (c.kind == CriterionKind::file) continue;
    if (!fs::is_regular_file(p.value(), ec)) {
      out.failures.push_back(name + " failed: " + c.path + " is not a regular file");
      continue;
    }
    const auto size = fs::file_size(p.value(), ec);
    if (ec || size > kMaxContainsBytes) {
      out.failures.push_back(name + " failed: " + c.path + " is too large to search (over " +
                             std::to_string(kMaxContainsBytes) + " bytes)");
      continue;
    }
    std::ifstream in(p.value(), std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    if (content.find(c.text) == std::string::npos) {
      out.failures.push_back(name + " failed: " + c.path + " does not contain '" + c.text + "'");
    }
  }
}

Verification verify(const VerifyConfig& config, const VerifyRequest& request,
                    const CancelSource* cancel) {
  Verification out;
  check_files(request, out);
  run_checks(config, request, out, cancel);
  check_criteria(config, request, out, cancel);
  return out;
}

}  // namespace br
