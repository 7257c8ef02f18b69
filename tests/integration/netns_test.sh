#!/usr/bin/env bash
# Three br-workers in three network namespaces (three addresses, as if three hosts), each with
# an empty workspace, complete a spec for a br-coordinator: each does some of the work, a task
# sees the files its dependency made on another host, and the run's branch holds all of it. Skips (exit 77) only
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
# Piece 0 first; pieces 1-8 depend on it and check, in their own worktree on whichever host
# runs them, that its file is there: the hosts share no folder, so it came through the
# coordinator (the base commit of their batch, fetched over the workers' connection).
{
  echo "# Hosts"; echo "## Features"
  echo "### Piece 0 {#p0}"; echo "Business logic."; echo "**Files:**"; echo "- src/p0.py"
  for i in $(seq 1 8); do
    echo "### Piece $i {#p$i}"; echo "Business logic."; echo "**Depends on:** #p0"
    echo "**Acceptance Criteria:**"; echo '- `run: test -s src/p0.py`'
    echo "**Files:**"; echo "- src/p$i.py"
  done
} > spec.md
mkdir project
echo "# the project" > project/README.md
cat > br.toml <<TOML
[run]
backoff_base = "100ms"
workspace = "project"
[agent]
command = ["$source_dir/deploy/demo-agent"]
env = ["BR_DEMO_SLEEP_MS"]
[verify]
file_wait = "200ms"
allow_run_criteria = true  # the workers use this config too: they run the spec's run: checks
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
  # A host's workspace is a repository of its own, made empty and filled by the coordinator.
  [ -f "state.ws$i/HEAD" ] && [ ! -e "state.ws$i/src" ] ||
    { echo "FAIL: host$i's workspace is not a bare repository of its own"; ls -la "state.ws$i"; status=1; }
done
succeeded=$("$br" --state-dir state task list --status succeeded --json | grep -c '"status": "succeeded"')
[ "$succeeded" -eq 27 ] || { echo "FAIL: $succeeded of 27 tasks succeeded"; status=1; }
# Every host's work met on the integration branch, and only there.
branch=$("$br" --state-dir state status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["branch"])')
files=$(git -C project ls-tree -r --name-only "$branch")
for i in $(seq 0 8); do
  grep -qx "src/p$i.py" <<< "$files" || { echo "FAIL: src/p$i.py is not on $branch"; status=1; }
done
[ ! -e project/src ] || { echo "FAIL: the user's checkout was changed"; status=1; }
# Dependents ran on another host than the one src/p0.py came from, at least once.
python3 - "$tasks" <<'PY' || status=1
import json, sys
tasks = {t["id"]: t for t in json.loads(sys.argv[1])["tasks"]}
def host(t): return tasks[t]["worker"].split("/")[0]
# Only the task that writes src/p0.py counts as its origin: piece 0's other tasks may run on
# any host, so counting them could leave no host "other" by chance.
origin = [t for t in tasks if "src/p0.py" in tasks[t]["files"]]
if len(origin) != 1:
    print("FAIL: expected one task to make src/p0.py, got", origin); sys.exit(1)
maker = host(origin[0])
others = [t for t in tasks if not t.startswith("p0/") and host(t) != maker]
if not others:
    print("FAIL: every dependent ran on the host of src/p0.py:", maker); sys.exit(1)
print(f"ok: {len(others)} dependent tasks ran on hosts that never ran piece 0")
PY
if ip netns list | grep -q "^b$(printf %06d $((BR_NET_ID % 1000000)))w"; then echo "FAIL: namespaces left behind"; status=1; fi
exit $status
