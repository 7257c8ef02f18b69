#!/usr/bin/env bash
# br-coordinator and br-worker over TLS (CAF's openssl module) on 127.0.0.1, with a throwaway
# CA made here: a TLS worker completes the run (checking the coordinator's certificate name);
# a worker speaking plain TCP, one whose certificate comes from another CA and one expecting
# another name get nowhere, and each side says why.
set -euo pipefail
source_dir="$1" br_coordinator="$2" br_worker="$3"
command -v openssl >/dev/null || { echo "SKIP: openssl command not found"; exit 77; }

work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
  -subj "/CN=br test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem \
  -days 1 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 1 \
  -subj "/CN=another CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj "/CN=localhost" 2>/dev/null
openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
  -out stranger.pem -days 1 2>/dev/null
{
  echo "# TLS"; echo "## Features"
  for i in 0 1 2; do echo "### Piece $i {#p$i}"; echo "Business logic."; done
} > spec.md
agent="[agent]
command = [\"$source_dir/deploy/demo-agent\"]
[verify]
file_wait = 0"
printf '%s\n[network]\ntls_cert = "node.pem"\ntls_key = "node.key"\ntls_ca = "ca.pem"\n' "$agent" > tls.toml
printf '%s\n' "$agent" > plain.toml
printf '%s\n[network]\ntls_cert = "node.pem"\ntls_key = "node.key"\ntls_ca = "ca.pem"\ntls_peer_name = "localhost"\n' "$agent" > named.toml
printf '%s\n[network]\ntls_cert = "node.pem"\ntls_key = "node.key"\ntls_ca = "ca.pem"\ntls_peer_name = "coordinator.example"\n' "$agent" > misnamed.toml
printf '%s\n[network]\ntls_cert = "stranger.pem"\ntls_key = "stranger.key"\ntls_ca = "other-ca.pem"\n' "$agent" > stranger.toml

"$br_coordinator" --config tls.toml --spec spec.md --listen 127.0.0.1:0 --state-dir state \
  > coordinator.log 2>&1 &
coordinator=$!
for _ in $(seq 1 300); do grep -q "listening on" coordinator.log && break; sleep 0.1; done
grep -q "(TLS)" coordinator.log || { cat coordinator.log; echo "FAIL: not listening with TLS"; exit 1; }
port=$(grep -o "listening on 127.0.0.1:[0-9]*" coordinator.log | cut -d: -f2)

code=0
timeout 20 "$br_worker" --connect "127.0.0.1:$port" --config plain.toml --name plain \
  --workspace ws-plain --state-dir plain --reconnect-for 1 > plain.log 2>&1 || code=$?
if [ "$code" -ne 3 ]; then cat plain.log; echo "FAIL: a plain-TCP worker got in (exit $code)"; exit 1; fi

# A certificate for another name than the worker expects: refused before CAF connects.
code=0
timeout 20 "$br_worker" --connect "127.0.0.1:$port" --config misnamed.toml --name misnamed \
  --workspace ws-misnamed --state-dir misnamed --reconnect-for 1 > misnamed.log 2>&1 || code=$?
if [ "$code" -ne 3 ] || ! grep -q "certificate was not accepted: hostname mismatch (it is not for coordinator.example, network.tls_peer_name)" misnamed.log; then
  cat misnamed.log; echo "FAIL: a worker expecting another name connected or did not say why (exit $code)"; exit 1
fi
# A certificate from another CA: the handshake fails, and both sides say so (CAF 0.17 tells
# neither: br-worker makes a handshake of its own to say why; the coordinator counts the
# connections that went before saying hello).
code=0
timeout 20 "$br_worker" --connect "127.0.0.1:$port" --config stranger.toml --name stranger \
  --workspace ws-stranger --state-dir stranger --reconnect-for 1 > stranger.log 2>&1 || code=$?
if [ "$code" -ne 3 ] || ! grep -q "certificate was not accepted\|TLS handshake failed" stranger.log; then
  cat stranger.log; echo "FAIL: a worker of another CA got in or did not say why (exit $code)"; exit 1
fi
for _ in $(seq 1 200); do grep -q "closed before saying hello" coordinator.log && break; sleep 0.1; done
grep -q "closed before saying hello (br-worker's reachability probe, another program, or a failed TLS handshake" coordinator.log ||
  { cat coordinator.log; echo "FAIL: the coordinator did not log the failed handshakes"; exit 1; }

# One after the other: two TLS workers connecting in the same instant sometimes lose one
# connection (CAF 0.17's TLS acceptor; see the issue note), which this test is not about.
"$br_worker" --connect "127.0.0.1:$port" --config named.toml --name named --workspace ws-named \
  --state-dir named > named.log 2>&1 &
named=$!
for _ in $(seq 1 300); do grep -q "worker named/0 joined" coordinator.log && break; sleep 0.1; done
"$br_worker" --connect "127.0.0.1:$port" --config tls.toml --name secure --workspace ws \
  --state-dir secure > secure.log 2>&1 &
secure=$!
wait "$named" || { cat named.log coordinator.log; exit 1; }
wait "$secure" || { cat secure.log coordinator.log; exit 1; }
wait "$coordinator" || { cat coordinator.log; echo "FAIL: coordinator failed"; exit 1; }
grep -q "succeeded: 9 of 9" coordinator.log || { cat coordinator.log; exit 1; }
grep -q "worker named/0 joined" coordinator.log ||
  { cat coordinator.log; echo "FAIL: the worker checking the name did not join"; exit 1; }
echo "ok: TLS workers ran the spec; plain, misnamed and other-CA workers did not get in"
