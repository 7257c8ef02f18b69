#!/usr/bin/env bash
# What users see after a run, for real: `br report` opened in headless Chromium (one timeline
# bar per attempt, drawn by the page's own script; a screenshot is kept as a test artifact),
# `br graph` as DOT, JSON and SVG, and `br init` followed by `br plan`.
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
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

# A run with a failure: 'notes' fails every attempt (2), so what depends on it is blocked.
cp "$source_dir/examples/PROJECT_SPEC.md" spec.md
sed -e "s#\.\./deploy#$source_dir/deploy#" -e 's/^max_attempts = .*/max_attempts = 2/' \
  "$source_dir/examples/br.toml" > br.toml
failing=$("$br" plan spec.md --json | python3 -c \
  "import json,sys; t=json.load(sys.stdin)['tasks']; print(next(x['id'] for x in t if x['depends_on']))")
code=0
BR_DEMO_FAIL_TASKS="$failing" "$br" --state-dir state run --auto spec.md --config br.toml \
  --plain > run.log 2>&1 || code=$?
[ "$code" = 1 ] || { cat run.log; fail "br run exited $code, expected 1 (a task failed)"; }

# --- br report: JSON, then the HTML in a real browser ---
"$br" --state-dir state report --json > attempts.json
attempts=$(json attempts.json "len(d['attempts'])")
failed=$(json attempts.json "sum(1 for a in d['attempts'] if a['outcome']=='failed')")
[ "$(json attempts.json "d['version']")" = 1 ] || fail "report --json has no version 1"
[ "$failed" = 2 ] || fail "expected 2 failed attempts of $failing, got $failed"
"$br" --state-dir state report --output report.html > report.log
grep -q "wrote report.html ($attempts attempts" report.log || fail "$(cat report.log)"
grep -q "<pre>\[br\] \$ .*demo-agent" report.html || fail "the report quotes no log excerpt of the failure"

browse() {
  timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$work/profile" "$@" 2>/dev/null
}
browse --dump-dom "file://$work/report.html" > dom.html
bars=$(grep -o 'class="bar"' dom.html | wc -l)
[ "$bars" = "$attempts" ] || fail "the timeline shows $bars bars for $attempts attempts"
grep -q "data-task=\"$failing\" data-attempt=\"2\" data-outcome=\"failed\"" dom.html ||
  fail "no bar for the second failed attempt of $failing"
mkdir -p "$artifacts"
browse --screenshot="$artifacts/report.png" --window-size=1400,1000 "file://$work/report.html"
[ -s "$artifacts/report.png" ] || fail "no screenshot"
echo "report: $attempts attempts, $bars bars; screenshot in $artifacts/report.png"

# --- br graph ---
"$br" graph spec.md --dot > plan.dot
levels=$("$br" plan spec.md --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['levels']))")
[ "$(grep -c 'rank=same' plan.dot)" = "$levels" ] || fail "plan.dot: not one rank per level"
grep -q 'penwidth=3' plan.dot || fail "plan.dot: no critical path"
"$br" --state-dir state graph --json > graph.json
[ "$(json graph.json "[t['status'] for t in d['tasks'] if t['id']=='$failing'][0]")" = failed ] ||
  fail "graph --json: $failing is not failed"
planned=$("$br" plan spec.md --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)['tasks']))")
[ "$(json graph.json "len(d['tasks'])")" = "$planned" ] || fail "graph --json: not every task"
"$br" --state-dir state graph --svg run.svg > svg.log
grep -q '<svg' run.svg || fail "run.svg is not an SVG"
cp run.svg "$artifacts/run.svg"

# --- br init ---
"$br" init project > init.log
"$br" plan project/PROJECT_SPEC.md > init-plan.log || fail "the starter spec does not plan"
code=0
"$br" init project > init-again.log 2>&1 || code=$?
[ "$code" = 2 ] || fail "br init over existing files exited $code"
grep -q "already exists; br init does not overwrite it" init-again.log || fail "$(cat init-again.log)"
echo "graph and init: ok"
