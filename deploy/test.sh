#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test, twice over:
#  1. g++ build (warnings are errors under CI=true): unit, integration and fuzz-corpus tests;
#  2. clang build with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer: the same
#     tests under the sanitizers, plus a short fuzzing run of each fuzz target;
#  3. clang build with ThreadSanitizer of the unit tests whose threads are br's own (journal
#     group commit and snapshots, agent runner, file monitor, verifier). Actor code is not run
#     under TSan: Debian's CAF is not instrumented (docs/fuzzing.md, "Sanitizers").
# Then the lint (deploy/lint.sh: clang-tidy and cppcheck).
#
#   bash deploy/test.sh                  # build dirs: build/ and build-sanitize/
#   BUILD_DIR=out bash deploy/test.sh
#   BR_SANITIZERS=0 BR_LINT=0 bash deploy/test.sh   # the g++ build only, for a quick local run
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

build_dir="${BUILD_DIR:-build}"
sanitize_dir="${SANITIZE_BUILD_DIR:-build-sanitize}"
jobs="$(nproc)"
werror=OFF
# Debug info is most of a template-heavy build's cost (run_command.cpp: 34 s with -g, 23 s
# without). CI builds keep the optimization of RelWithDebInfo and drop the debug info (the
# sanitizer build keeps line tables, for file:line in its reports); local builds keep it all.
gxx_flags=()
sanitize_flags=()
if [ "${CI:-}" = "true" ]; then
  werror=ON
  gxx_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG")
  sanitize_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG")
fi

step() { printf '\n=== %s\n' "$*"; }

step "g++ build and tests ($build_dir)"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBR_WERROR="$werror" \
  "${gxx_flags[@]}" -DBR_BUILD_TESTS=ON -DBR_BUILD_BENCH=ON >/dev/null
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 600

if [ "${BR_SANITIZERS:-1}" != "0" ]; then
  step "clang build with ASan + UBSan + libFuzzer, and the same tests ($sanitize_dir)"
  # Benchmarks are left out: timings under sanitizers mean nothing.
  CC=clang CXX=clang++ cmake -S . -B "$sanitize_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBR_WERROR="$werror" "${sanitize_flags[@]}" -DBR_SANITIZE=ON -DBR_FUZZ=ON -DBR_BUILD_TESTS=ON \
    -DBR_BUILD_BENCH=OFF >/dev/null
  cmake --build "$sanitize_dir" -j "$jobs"
  ctest --test-dir "$sanitize_dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 900

  tsan_dir="${TSAN_BUILD_DIR:-build-tsan}"
  tsan_tests=(journal_test snapshot_test agent_runner_test file_monitor_test verifier_test)
  step "clang build with ThreadSanitizer: ${tsan_tests[*]} ($tsan_dir)"
  CC=clang CXX=clang++ cmake -S . -B "$tsan_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBR_WERROR="$werror" "${sanitize_flags[@]}" -DBR_TSAN=ON -DBR_BUILD_TESTS=ON \
    -DBR_BUILD_BENCH=OFF >/dev/null
  cmake --build "$tsan_dir" -j "$jobs" --target "${tsan_tests[@]}"
  tsan_regex="^unit\.($(IFS='|'; echo "${tsan_tests[*]}"))\$"
  TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/deploy/tsan-suppressions.txt" \
    ctest --test-dir "$tsan_dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 900 \
    -R "$tsan_regex"
fi

if [ "${BR_LINT:-1}" != "0" ]; then
  step "lint"
  bash deploy/lint.sh "$build_dir"
fi
