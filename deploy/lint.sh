#!/usr/bin/env bash
# Static analysis of br's own sources (protocol, storage, actors, coordinator, worker), kept
# clean: clang-tidy with .clang-tidy, and cppcheck with deploy/cppcheck-suppressions.txt.
# Tests and benchmarks are not linted: Catch2's macros are not written for these checks.
#
#   bash deploy/lint.sh [BUILD_DIR]    # BUILD_DIR has compile_commands.json (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
if [ ! -f "$build_dir/compile_commands.json" ]; then
  echo "lint: $build_dir/compile_commands.json not found; configure a build first" >&2
  exit 2
fi
mapfile -t sources < <(git ls-files -- 'protocol/*.cpp' 'storage/*.cpp' 'actors/*.cpp' \
  'coordinator/*.cpp' 'worker/*.cpp' 'node/*.cpp' 2>/dev/null || find protocol storage actors coordinator \
  worker node -name '*.cpp')

status=0
# The files that include CAF (thin actors and the executables' wiring, see
# tests/layering_test.sh) skip the static analyzer: there it spends most of its time in CAF's
# templates (graph_actor.cpp: 35 of 49 s) and finds nothing of ours; the pure logic, where the
# analyzer earns its keep, gets every check.
wiring=()
logic=()
for f in "${sources[@]}"; do
  case "$f" in
    */*_actor.cpp|coordinator/run_command.cpp|coordinator/main.cpp|worker/main.cpp) wiring+=("$f") ;;
    *) logic+=("$f") ;;
  esac
done
echo "lint: clang-tidy on ${#sources[@]} files (${#wiring[@]} without the analyzer)"
tidy() {
  # One clang-tidy per file, as many at once as there are cores; each prints only its findings.
  xargs -P "$(nproc)" -n 1 clang-tidy -p "$build_dir" --quiet "$@" 2> >(grep -v -E \
    '^[0-9]+ warnings? generated|^Suppressed [0-9]+ warnings|^Use -header-filter' >&2)
}
if ! printf '%s\n' "${logic[@]}" | tidy; then status=1; fi
if ! printf '%s\n' "${wiring[@]}" | tidy --checks='-clang-analyzer-*'; then status=1; fi

echo "lint: cppcheck"
if ! cppcheck --quiet --error-exitcode=1 --std=c++17 --language=c++ --inline-suppr \
  --enable=warning,performance,portability --suppressions-list=deploy/cppcheck-suppressions.txt \
  -I . -I "$build_dir/generated" "${sources[@]}"; then
  status=1
fi

if [ $status -eq 0 ]; then echo "lint: clean"; else echo "lint: findings above" >&2; fi
exit $status
