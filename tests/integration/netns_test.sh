#!/usr/bin/env bash
# Three br-workers in three network namespaces (three addresses, as if three hosts) complete a
# spec for a br-coordinator, and each of them does some of the work. Skips (exit 77) only
# where namespaces cannot be made, saying why.
set -euo pipefail
source_dir="$1" br="$2"
export BR_COORDINATOR="$3" BR_WORKER="$4" BR_NET_ID=$$

if [ "$(id -u)" -ne 0 ] || ! ip netns add "brprobe$$" 2>/dev/null; then
  echo "SKIP: creating network namespaces needs root and iproute2 (ip netns)"
  exit 77
fi
ip netns del "brprobe$$"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
{
  echo "# Hosts"; echo "## Features"
  for i in $(seq 0 8); do
    echo "### Piece $i {#p$i}"; echo "Business logic."; echo "**Files:**"; echo "- src/p$i.py"
  done
} > spec.md
cat > br.toml <<TOML
[run]
backoff_base = "100ms"
[agent]
command = ["$source_dir/deploy/demo-agent"]
env = ["BR_DEMO_SLEEP_MS"]
[verify]
file_wait = "200ms"
TOML

export BR_DEMO_SLEEP_MS=300
if ! bash "$source_dir/deploy/netns-cluster.sh" run 3 spec.md br.toml state; then
  cat state.*.log; exit 1
fi
"$br" --state-dir state task list
tasks=$("$br" --state-dir state task list --json)
status=0
for i in 1 2 3; do
  grep -q "\"worker\": \"host$i/" <<< "$tasks" || { echo "FAIL: host$i did no work"; status=1; }
done
succeeded=$("$br" --state-dir state task list --status succeeded --json | grep -c '"status": "succeeded"')
[ "$succeeded" -eq 27 ] || { echo "FAIL: $succeeded of 27 tasks succeeded"; status=1; }
if ip netns list | grep -q "^b$(printf %06d $((BR_NET_ID % 1000000)))w"; then echo "FAIL: namespaces left behind"; status=1; fi
exit $status
