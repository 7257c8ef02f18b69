#!/usr/bin/env bash
# br-coordinator's /metrics scraped by a real Prometheus server (Debian's `prometheus`) on
# 127.0.0.1: a br-worker runs the spec, and once Prometheus has scraped a sample taken after the
# run ended (br_run_over 1, while [metrics] linger keeps the coordinator up), the task counts it
# holds, asked through its HTTP API, are the journal's (`br status --json`), status by status.
set -euo pipefail
source_dir="$1" br="$2" br_coordinator="$3" br_worker="$4"
prometheus=$(command -v prometheus || true)
[ -n "$prometheus" ] || { echo "SKIP: the prometheus server is not installed (apt-get install prometheus)"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not found"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# Polls `condition` (a command) every 0.1 s for up to `seconds`; false if it never held.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}
fail() { echo "FAIL: $*"; for f in coordinator.log worker.log prometheus.log; do [ -f "$f" ] && { echo "--- $f"; tail -40 "$f"; }; done; exit 1; }

{
  echo "# Metrics"; echo "## Features"
  for i in 0 1 2; do echo "### Piece $i {#p$i}"; echo "Business logic."; done
} > spec.md
cat > br.toml <<EOF
[agent]
command = ["$source_dir/deploy/demo-agent"]
[verify]
file_wait = 0
[metrics]
listen = "127.0.0.1:0"
linger = "120s"
EOF

"$br_coordinator" --config br.toml --spec spec.md --listen 127.0.0.1:0 --state-dir state \
  > coordinator.log 2>&1 &
coordinator=$!
pids+=("$coordinator")
wait_for 30 grep -q "listening on" coordinator.log || fail "the coordinator is not listening"
port=$(grep -o "listening on 127.0.0.1:[0-9]*" coordinator.log | cut -d: -f2)
metrics_port=$(grep -o "metrics on http://127.0.0.1:[0-9]*" coordinator.log | cut -d: -f3)
[ -n "$metrics_port" ] || fail "the coordinator does not say where /metrics is"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" > first.txt || fail "no /metrics"
grep -q '^br_tasks{status="pending"} [0-9]' first.txt || fail "/metrics has no br_tasks before the run"

# Prometheus takes no port 0: pick a free one, and pick again if another process took it first.
cat > prometheus.yml <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: br
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
EOF
prom_port=""
for _ in 1 2 3 4 5; do
  candidate=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$prometheus" --config.file=prometheus.yml --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$candidate" > prometheus.log 2>&1 &
  prom=$!
  if wait_for 30 curl -fs -o /dev/null "http://127.0.0.1:$candidate/-/ready"; then
    pids+=("$prom"); prom_port=$candidate; break
  fi
  kill "$prom" 2>/dev/null || true; wait "$prom" 2>/dev/null || true
done
[ -n "$prom_port" ] || fail "prometheus did not start"

# The value of a PromQL instant query with one result, or nothing.
query() {
  curl -fsS -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "")'
}
scraped() { [ "$(query 'up{job="br"}')" = "1" ]; }
wait_for 30 scraped || fail "prometheus does not scrape the coordinator"

timeout 120 "$br_worker" --connect "127.0.0.1:$port" --config br.toml --name w1 --workspace ws \
  --state-dir worker > worker.log 2>&1 || fail "the worker failed"
wait_for 60 grep -q "succeeded: 9 of 9" coordinator.log || fail "the run did not succeed"

over() { [ "$(query 'br_run_over')" = "1" ]; }
wait_for 30 over || fail "prometheus has no sample taken after the run ended"
# The latest sample of each series, all from a scrape after the end (the run's numbers do not
# change once br_run_over is 1).
curl -fsS -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode 'query=br_tasks' > scraped.json
for name in br_attempts_total br_dispatch_latency_seconds_count br_journal_append_seconds_count; do
  value=$(query "$name")
  [ -n "$value" ] && [ "${value%.*}" -gt 0 ] || fail "prometheus has no $name above 0 (got '$value')"
done
# SIGTERM ends the linger; the run is over and journaled, so the coordinator exits 0.
kill -TERM "$coordinator"
code=0; wait "$coordinator" || code=$?
[ "$code" -eq 0 ] || fail "the coordinator exited with $code"

"$br" --state-dir state status --json > journal.json
python3 - <<'EOF' || fail "the scraped task counts differ from the journal's"
import json
scraped = {r["metric"]["status"]: int(float(r["value"][1]))
           for r in json.load(open("scraped.json"))["data"]["result"]}
counts = json.load(open("journal.json"))["counts"]
statuses = ["pending", "ready", "dispatched", "running", "succeeded", "failed", "retrying",
            "blocked", "cancelled"]
wrong = [(s, scraped.get(s), counts.get(s)) for s in statuses if scraped.get(s) != counts.get(s)]
print("scraped:", scraped)
print("journal:", {s: counts.get(s) for s in statuses})
if wrong or counts.get("succeeded") != 9:
    raise SystemExit(f"differ (status, scraped, journal): {wrong}")
EOF
echo "ok: Prometheus scraped br_tasks equal to the journal's counts after the run"
