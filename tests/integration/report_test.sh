#!/usr/bin/env bash
# What users see after a run, for real: `br report` of a run that failed a task and was stopped
# and resumed, opened in headless Chromium (failures first, one timeline bar per attempt and a
# band for the stop, drawn by the page's own script), `br graph` as DOT, JSON and SVG (feature
# boxes, a legend), and `br init` followed by `br plan`. Screenshots of the report and the graph
# are kept as test artifacts (report.png, graph.png) and checked to show what they should.
#
#   report_test.sh SOURCE_DIR BR ARTIFACT_DIR
set -euo pipefail
source_dir="$1" br="$2" artifacts="$3"

chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium_bin" ]; then
  echo "SKIP: chromium is not installed (deploy/install-deps.sh installs it)"
  exit 77
fi

work=$(mktemp -d)
run_pid=""
trap '[ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}
succeeded_some() {
  [ "$("$br" --state-dir state status --json 2>/dev/null | python3 -c \
    "import json,sys; print(json.load(sys.stdin)['counts']['succeeded'])" 2>/dev/null)" -ge 1 ] 2>/dev/null
}
# png_check FILE COLOUR...: FILE is a real picture (not one flat colour) and shows every COLOUR
# ("#rrggbb", within a small tolerance for antialiasing). Plain python3: no PIL on a Debian base.
png_check() {
  python3 - "$@" <<'PY'
import struct, sys, zlib
path, want = sys.argv[1], sys.argv[2:]
data = open(path, 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), f'unexpected PNG type {depth}/{ctype}'
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours = bytearray(stride), set()
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
    prev = line
if len(colours) < 16:
    sys.exit(f'{path}: only {len(colours)} colours, not a rendered page')
for hexcolour in want:
    rgb = bytes.fromhex(hexcolour.lstrip('#'))
    if not any(all(abs(x - y) <= 3 for x, y in zip(c, rgb)) for c in colours):
        sys.exit(f'{path}: no pixel of {hexcolour}')
print(f'{path}: {w}x{h}, {len(colours)} colours')
PY
}

# A run with a failure and a stop: the first task with a dependency fails every charged attempt
# (2), so what depends on it is blocked; the run is stopped with `br stop` once a task has passed and resumed later, so
# the journal has a stop/resume gap. The slow agent keeps attempts in flight for the stop: after
# the first pass, the failing task's two attempts take at least 6 s, time enough to stop it.
cp "$source_dir/examples/PROJECT_SPEC.md" spec.md
sed -e "s#\.\./deploy#$source_dir/deploy#" -e 's/^max_attempts = .*/max_attempts = 2/' \
  "$source_dir/examples/br.toml" > br.toml
failing=$("$br" plan spec.md --json | python3 -c \
  "import json,sys; t=json.load(sys.stdin)['tasks']; print(next(x['id'] for x in t if x['depends_on']))")
BR_DEMO_SLEEP_MS=3000 BR_DEMO_FAIL_TASKS="$failing" "$br" --state-dir state run --auto spec.md \
  --config br.toml --plain > run.log 2>&1 &
run_pid=$!
wait_for 120 succeeded_some || { cat run.log; fail "no task passed within 120 s"; }
"$br" --state-dir state stop > stop.log 2>&1 || { cat stop.log; fail "br stop failed"; }
code=0
wait "$run_pid" || code=$?
run_pid=""
[ "$code" = 130 ] || { cat run.log; fail "the stopped run exited $code, expected 130"; }
code=0
BR_DEMO_FAIL_TASKS="$failing" "$br" --state-dir state resume --config br.toml --plain \
  > resume.log 2>&1 || code=$?
[ "$code" = 1 ] || { cat resume.log; fail "br resume exited $code, expected 1 (a task failed)"; }

# --- br report: JSON, then the HTML in a real browser ---
"$br" --state-dir state report --json > attempts.json
attempts=$(json attempts.json "len(d['attempts'])")
failed=$(json attempts.json "sum(1 for a in d['attempts'] if a['outcome']=='failed' and not a['interrupted'])")
last_failed=$(json attempts.json "max(a['attempt'] for a in d['attempts'] if a['task']=='$failing')")
[ "$(json attempts.json "d['version']")" = 1 ] || fail "report --json has no version 1"
[ "$failed" = 2 ] || fail "expected 2 failed attempts of $failing, got $failed"
"$br" --state-dir state report --output report.html > report.log
grep -q "wrote report.html ($attempts attempts" report.log || fail "$(cat report.log)"
grep -q "<pre>\[br\] \$ .*demo-agent" report.html || fail "the report quotes no log excerpt of the failure"
# Final failures first: the Failed section, with the failing task and what it blocked, comes
# before the timeline; the stop is said in words.
python3 - "$failing" <<'PY' || fail "report.html: the failures do not come first"
import sys
html, failing = open('report.html').read(), sys.argv[1]
at = lambda s: html.find(s) if s in html else sys.exit(f'missing: {s}')
first = at('<h2 id="failed">Failed: ')
assert first < at(f'<div class="failure" data-task="{failing}">') < at('<h2>Timeline'), 'order'
# What it blocked: listed alone, or as a group folded under a count.
assert first < at(f"dependency '{failing}' failed</") < at('<h2>Timeline'), 'blocked order'
PY
grep -q '<p class="stopped">stopped .* then resumed</p>' report.html ||
  fail "report.html does not mark the stop/resume gap"

browse() {
  timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$work/profile" "$@" 2>/dev/null
}
browse --dump-dom "file://$work/report.html" > dom.html
bars=$(grep -o 'class="bar"' dom.html | wc -l)
[ "$bars" = "$attempts" ] || fail "the timeline shows $bars bars for $attempts attempts"
grep -q "data-task=\"$failing\" data-attempt=\"$last_failed\" data-outcome=\"failed\"" dom.html ||
  fail "no bar for the last failed attempt of $failing"
# What the page's script drew: a labelled band for the stop, one row per task with its full id
# as tooltip, and an axis in human units.
grep -q '<div class="gap-label"[^>]*>stopped [^<]*[0-9][^<]*–[^<]*[0-9][^<]*</div>' dom.html ||
  fail "the timeline draws no labelled band for the stop"
grep -q 'class="gap"' dom.html || fail "the timeline draws no gap band"
grep -q "<div class=\"who\" title=\"$failing\">$failing</div>" dom.html ||
  fail "the timeline has no row labelled $failing"
grep -Eq '<span class="tick"[^>]*>[0-9.]+ (s|min|h)</span>' dom.html ||
  fail "the timeline's axis has no ticks in s, min or h"
mkdir -p "$artifacts"
browse --screenshot="$artifacts/report.png" --window-size=1400,2000 "file://$work/report.html"
# The stop's hatching: its colour is used for nothing else.
png_check "$artifacts/report.png" "#c7d2fe" || fail "report.png shows no stop band"
echo "report: $attempts attempts, $bars bars; screenshot in $artifacts/report.png"

# --- br graph ---
"$br" graph spec.md --dot > plan.dot
levels=$("$br" plan spec.md --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['levels']))")
[ "$(grep -c 'rank=same' plan.dot)" = "$levels" ] || fail "plan.dot: not one rank per level"
grep -q 'penwidth=3' plan.dot || fail "plan.dot: no critical path"
dot -Tsvg plan.dot > plan.svg 2> plan-dot.log || fail "dot rejects plan.dot: $(cat plan-dot.log)"
[ ! -s plan-dot.log ] || fail "dot warns about plan.dot: $(cat plan-dot.log)"
"$br" --state-dir state graph --json > graph.json
[ "$(json graph.json "[t['status'] for t in d['tasks'] if t['id']=='$failing'][0]")" = failed ] ||
  fail "graph --json: $failing is not failed"
planned=$("$br" plan spec.md --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['tasks']))")
[ "$(json graph.json "len(d['tasks'])")" = "$planned" ] || fail "graph --json: not every task"
features=$(json graph.json "len({t['feature'] for t in d['tasks']})")
[ "$(grep -c '^  subgraph cluster_[0-9]* {' plan.dot)" = "$features" ] ||
  fail "plan.dot: not one box per feature ($features)"
"$br" --state-dir state graph --svg run.svg > svg.log
grep -q '<svg' run.svg || fail "run.svg is not an SVG"
grep -q '>Legend</text>' run.svg || fail "run.svg has no legend"
cp run.svg "$artifacts/run.svg"
# The SVG fitted to the window, so the screenshot shows all of it.
printf '<!DOCTYPE html><body style="margin:0"><img src="run.svg" style="max-width:100%%">\n' \
  > graph.html
browse --screenshot="$artifacts/graph.png" --window-size=1600,1000 "file://$work/graph.html"
# A passed task's fill and the failed one's (both also in the legend).
png_check "$artifacts/graph.png" "#fca5a5" "#bbf7d0" || fail "graph.png"
echo "graph: $features feature boxes; screenshot in $artifacts/graph.png"

# --- br init ---
"$br" init project > init.log
"$br" plan project/PROJECT_SPEC.md > init-plan.log || fail "the starter spec does not plan"
code=0
"$br" init project > init-again.log 2>&1 || code=$?
[ "$code" = 2 ] || fail "br init over existing files exited $code"
grep -q "already exists; br init does not overwrite it" init-again.log || fail "$(cat init-again.log)"
echo "graph and init: ok"
