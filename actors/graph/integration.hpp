// Integration: how the graph joins a passed attempt's commit to the run's integration branch.
// The run tracker asks it before it journals a success; a refusal (a merge conflict, a commit
// that is not built on the run's history) fails the attempt with the reason given. Declared
// here, pure; coordinator/git_integration implements it with libgit2, tests with fakes.
#pragma once

#include <string>
#include <vector>

#include "protocol/model.hpp"
#include "protocol/result.hpp"

namespace br {

struct Integrated {
  std::string head;                // the integration head with the attempt in it
  std::vector<std::string> files;  // the files the attempt's commit changed
};

class Integration {
 public:
  virtual ~Integration() = default;
  // Joins `result.commit` to `head` (idempotent: a commit already in `head` leaves it as is).
  // Writes objects only; the branch is moved once the success is durable.
  virtual Result<Integrated> integrate(const std::string& head, const TaskResult& result) = 0;
};

}  // namespace br
