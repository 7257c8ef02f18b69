#!/usr/bin/env bash
# A worker host cut off mid-batch (its link goes down: no FIN, no RST, just silence) is
# detected by the coordinator's heartbeats, its batch runs again on another host, and the run
# completes. Skips (exit 77) only where namespaces cannot be made.
set -euo pipefail
source_dir="$1" br_coordinator="$2" br_worker="$3"

if [ "$(id -u)" -ne 0 ] || ! ip netns add "brprobe$$" 2>/dev/null; then
  echo "SKIP: creating network namespaces needs root and iproute2 (ip netns)"
  exit 77
fi
ip netns del "brprobe$$"

export BR_NET_ID=$$ BR_TOKEN=cutoff-test-token-16
cluster="$source_dir/deploy/netns-cluster.sh"
prefix="b$(printf %06d $((BR_NET_ID % 1000000)))"
net="10.$((100 + BR_NET_ID % 100)).$(( (BR_NET_ID / 100) % 250 ))"
work=$(mktemp -d)
cleanup() { pkill -P $$ 2>/dev/null || true; bash "$cluster" down; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
{
  echo "# Cut"; echo "## Features"
  for i in $(seq 0 5); do echo "### Piece $i {#p$i}"; echo "Business logic."; done
} > spec.md
printf '[agent]\ncommand = ["%s/deploy/demo-agent"]\nenv = ["BR_DEMO_SLEEP_MS"]\n[verify]\nfile_wait = 0\n' \
  "$source_dir" > br.toml

bash "$cluster" up 2
"$br_coordinator" --config br.toml --spec spec.md --listen "$net.1:0" --state-dir state \
  > coordinator.log 2>&1 &
coordinator=$!
wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}
wait_for 30 grep -q "listening on" coordinator.log
port=$(grep -o "listening on $net.1:[0-9]*" coordinator.log | cut -d: -f2)

BR_DEMO_SLEEP_MS=60000 ip netns exec "${prefix}w1" "$br_worker" --connect "$net.1:$port" \
  --config br.toml --name victim --workspace ws1 --state-dir w1 > victim.log 2>&1 &
wait_for 30 grep -q "on victim/0" coordinator.log || { cat coordinator.log; exit 1; }
ip -n "${prefix}w1" link set "${prefix}p1" down          # the host falls silent
wait_for 20 grep -q "worker victim/0 lost" coordinator.log || {
  echo "FAIL: the cut-off worker was not detected"; cat coordinator.log; exit 1; }

BR_DEMO_SLEEP_MS=50 ip netns exec "${prefix}w2" "$br_worker" --connect "$net.1:$port" \
  --config br.toml --name rescuer --slots 2 --workspace ws2 --state-dir w2 > rescuer.log 2>&1 &
code=0
wait_for 60 bash -c "! kill -0 $coordinator 2>/dev/null" || { echo "FAIL: run did not end"; exit 1; }
wait "$coordinator" || code=$?
cat coordinator.log
[ "$code" -eq 0 ] || { echo "FAIL: coordinator exited $code"; exit 1; }
grep -q "attempt 2" coordinator.log || { echo "FAIL: the lost batch was not retried"; exit 1; }
echo "ok: cut-off worker detected, its work redone elsewhere, run complete"
