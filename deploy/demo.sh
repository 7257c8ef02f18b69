#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs br's main job on the example spec: installs the
# Debian packages, builds br, and runs the whole pipeline with the offline demo agent in
# examples/workspace.
#
#   bash deploy/demo.sh [SPEC]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBR_BUILD_TESTS=OFF \
  -DBR_BUILD_BENCH=OFF >/dev/null
cmake --build build -j "$(nproc)" --target br

spec="${1:-examples/PROJECT_SPEC.md}"
./build/coordinator/br plan "$spec"
echo
# A fresh state dir and workspace each time, so the demo always shows a whole run. The
# workspace is a repository of its own (br builds on a git repository; without this one it
# would use the enclosing checkout of br itself).
rm -rf examples/.br examples/workspace
git init -q examples/workspace
exec ./build/coordinator/br --state-dir examples/.br run --auto "$spec" --config examples/br.toml
