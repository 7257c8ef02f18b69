// Result<T>: a value or the diagnostics explaining why there is none. Bad input is a value in
// br, not an exception; parsers collect every diagnostic so one run reports all of them.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace br {

// One problem found in some input. `file` and `line` are optional (empty / 0).
struct Diagnostic {
  std::string file;
  std::uint32_t line = 0;
  std::string message;

  // "file:line: message", "file: message" or "message".
  std::string str() const {
    std::string out;
    if (!file.empty()) {
      out += file;
      if (line > 0) out += ":" + std::to_string(line);
      out += ": ";
    }
    return out + message;
  }
};

// What kind of failure an error is, from which a process's exit code follows
// (exit_code_of in node/exit_codes.hpp), so that no call site picks a code of its own.
enum class ErrorCategory : std::uint8_t {
  bad_input,       // the spec, the config, the arguments or the state dir named: fix it, rerun
  task_failed,     // the run finished and some task failed
  infrastructure,  // the disk, the journal, the network, a program br runs: not the input
  internal,        // br contradicts itself (a journal that replays to an impossible state)
  budget_reached,  // the run reached [agent] max_cost_usd and stopped
  interrupted,     // Ctrl-C, SIGTERM, br stop: the run stopped and can be resumed
};

struct Error {
  std::vector<Diagnostic> diagnostics;
  // Most errors are found in some input; those that are not say so where they are made.
  ErrorCategory category = ErrorCategory::bad_input;

  static Error of(std::string message, ErrorCategory category = ErrorCategory::bad_input) {
    return Error{{Diagnostic{{}, 0, std::move(message)}}, category};
  }
  static Error at(std::string file, std::uint32_t line, std::string message) {
    return Error{{Diagnostic{std::move(file), line, std::move(message)}}};
  }

  // The same diagnostics, of `kind`: for a caller that knows better what failed (a plan read
  // back from the journal that does not form a graph is br's fault, not the spec's).
  Error as(ErrorCategory kind) const {
    Error copy = *this;
    copy.category = kind;
    return copy;
  }

  // All diagnostics, one per line, without a trailing newline.
  std::string str() const {
    std::string out;
    for (const auto& d : diagnostics) {
      if (!out.empty()) out += '\n';
      out += d.str();
    }
    return out;
  }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}    // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation with nothing to return.
struct Ok {};
using Status = Result<Ok>;

}  // namespace br
