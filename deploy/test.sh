#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: installs the Debian packages br needs,
# configures and builds everything (warnings are errors under CI=true), and runs CTest.
#
#   bash deploy/test.sh            # build dir: build/
#   BUILD_DIR=out bash deploy/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

build_dir="${BUILD_DIR:-build}"
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBR_WERROR="$werror" \
  -DBR_BUILD_TESTS=ON -DBR_BUILD_BENCH=ON >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$(nproc)" --timeout 600
