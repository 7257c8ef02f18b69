#!/usr/bin/env bash
# Guards the pure/actor split that CMake cannot enforce (CAF and RocksDB headers are all in
# /usr/include): only actor files (*_actor.*, protocol/actor_messages.hpp, the executables'
# main files) may include CAF, only storage/ may include RocksDB, and only coordinator/metrics.cpp
# prometheus-cpp.
set -euo pipefail
cd "${1:?usage: layering_test.sh SOURCE_DIR}"

status=0
sources=$(git ls-files -- '*.hpp' '*.cpp' 2>/dev/null || find . -name '*.hpp' -o -name '*.cpp')

while IFS= read -r file; do
  [ -n "$file" ] || continue
  case "$file" in
    */*_actor.hpp|*/*_actor.cpp|protocol/actor_messages.hpp|coordinator/run_command.cpp|\
    coordinator/main.cpp|worker/main.cpp|node/caf_node.cpp|tests/unit/*_actor_test.cpp|\
    tests/unit/actor_test_fixture.hpp|tests/bench/*|tests/integration/hello_probe.cpp) ;;
    *)
      if grep -nE '^\s*#\s*include\s*[<"]caf/' "$file" >/dev/null; then
        echo "$file: includes CAF, but only actor files may (see docs/design.md)"
        status=1
      fi
      ;;
  esac
  case "$file" in
    storage/*|tests/*) ;;
    *)
      if grep -nE '^\s*#\s*include\s*[<"]rocksdb/' "$file" >/dev/null; then
        echo "$file: includes RocksDB, but only storage/ may"
        status=1
      fi
      ;;
  esac
  case "$file" in
    coordinator/metrics.cpp) ;;
    *)
      if grep -nE '^\s*#\s*include\s*[<"]prometheus/' "$file" >/dev/null; then
        echo "$file: includes prometheus-cpp, but only coordinator/metrics.cpp may"
        status=1
      fi
      ;;
  esac
done <<< "$sources"

if [ $status -eq 0 ]; then echo "layering ok"; fi
exit $status
