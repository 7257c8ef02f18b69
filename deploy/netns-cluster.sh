#!/usr/bin/env bash
# A coordinator and K workers on one machine, each worker in its own network namespace with
# its own address behind a bridge, as if on K hosts. Needs root (ip netns, veth, bridge).
#
#   deploy/netns-cluster.sh run K SPEC CONFIG [STATE_DIR]   up, run to the end, tear down
#   deploy/netns-cluster.sh up K        /   deploy/netns-cluster.sh down
#
# Environment: BR_COORDINATOR and BR_WORKER (the binaries, default build/coordinator/
# br-coordinator and build/worker/br-worker), BR_TOKEN (default: a random one), BR_NET_ID
# (names and subnet, default this shell's pid, so parallel runs do not collide), BR_SLOTS
# (agents per worker, default 1).
set -euo pipefail

id="${BR_NET_ID:-$$}"
prefix="b$(printf %06d $((id % 1000000)))"  # interface and namespace names stay under 15 chars
subnet="10.$((100 + id % 100)).$(( (id / 100) % 250 )).0"
net="${subnet%.0}"
bridge="${prefix}br"

up() {
  local k="$1"
  ip link add "$bridge" type bridge
  ip addr add "$net.1/24" dev "$bridge"
  ip link set "$bridge" up
  for i in $(seq 1 "$k"); do
    ip netns add "${prefix}w$i"
    ip link add "${prefix}v$i" type veth peer name "${prefix}p$i"
    ip link set "${prefix}p$i" netns "${prefix}w$i"
    ip link set "${prefix}v$i" master "$bridge" up
    ip -n "${prefix}w$i" addr add "$net.$((10 + i))/24" dev "${prefix}p$i"
    ip -n "${prefix}w$i" link set "${prefix}p$i" up
    ip -n "${prefix}w$i" link set lo up
  done
}

down() {
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${prefix}w" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
                grep "^${prefix}" || true); do
    ip link del "$link" 2>/dev/null || true
  done
}

run() {
  local k="$1" spec="$2" config="$3" state="${4:-.br-netns}"
  local coordinator_bin="${BR_COORDINATOR:-build/coordinator/br-coordinator}"
  local worker_bin="${BR_WORKER:-build/worker/br-worker}"
  export BR_TOKEN="${BR_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
  trap 'kill $(jobs -p) 2>/dev/null || true; down' EXIT
  up "$k"
  "$coordinator_bin" --config "$config" --spec "$spec" --listen "$net.1:0" \
    --state-dir "$state" > "$state.coordinator.log" 2>&1 &
  local coordinator=$! port=""
  for _ in $(seq 1 300); do
    port=$(grep -o "listening on $net.1:[0-9]*" "$state.coordinator.log" 2>/dev/null | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$state.coordinator.log" >&2; echo "netns-cluster: coordinator did not listen" >&2; exit 3; }
  for i in $(seq 1 "$k"); do
    ip netns exec "${prefix}w$i" "$worker_bin" --connect "$net.1:$port" --config "$config" \
      --name "host$i" --slots "${BR_SLOTS:-1}" --workspace "$state.ws$i" --state-dir "$state.w$i" \
      > "$state.worker$i.log" 2>&1 &
  done
  local code=0
  wait "$coordinator" || code=$?
  echo "netns-cluster: coordinator exited $code; logs in $state.*.log"
  return "$code"
}

case "${1:-}" in
  up) up "${2:?K}" ;;
  down) down ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 run K SPEC CONFIG [STATE_DIR] | up K | down" >&2; exit 2 ;;
esac
