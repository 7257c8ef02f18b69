#!/usr/bin/env bash
# Durability edge cases of the state dir, on real file systems made here in a private mount
# namespace: a disk that is full at the start or fills up mid-run, a read-only state dir, and
# two br processes on one state dir. Each must give a clear error, exit 3, and leave no partial
# state; a run stopped by a full disk resumes once there is space again.
set -euo pipefail
source_dir="$1" br="$2"

if [ "${BR_IN_NAMESPACE:-}" != 1 ]; then
  if ! unshare -m true 2>/dev/null; then
    echo "SKIP: cannot create a mount namespace here (needs root or CAP_SYS_ADMIN)"
    exit 77
  fi
  exec env BR_IN_NAMESPACE=1 unshare -m --propagation private bash "$0" "$@"
fi

work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; umount -R "$work"/* 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
cp "$source_dir/examples/PROJECT_SPEC.md" spec.md
sed "s#\.\./deploy#$source_dir/deploy#" "$source_dir/examples/br.toml" > br.toml

fail() { echo "FAIL: $*"; exit 1; }
expect() {  # expect CODE TEXT LOG
  [ "$(cat "$3.code")" = "$1" ] || { cat "$3"; fail "$3: exit $(cat "$3.code"), expected $1"; }
  grep -qF -- "$2" "$3" || { cat "$3"; fail "$3: no '$2'"; }
}
br_to() {  # br_to LOG ARGS...: runs br, output in LOG, exit code in LOG.code
  local log=$1 code=0
  shift
  "$br" "$@" > "$log" 2>&1 || code=$?
  echo "$code" > "$log.code"
}

# 1. The disk is full from the start: nothing is left behind.
mkdir tiny
mount -t tmpfs -o size=16k tmpfs tiny
br_to full-start.log --state-dir tiny/state run --auto spec.md --config br.toml --plain
expect 3 "the disk is full" full-start.log
[ -z "$(ls -A tiny)" ] || { ls -laR tiny; fail "a failed start left files in the state dir"; }

# 2. The disk fills up mid-run: the run stops where its journal is durable, and resumes. On
#    8 MiB the journal cannot reserve its log, so what fails first is the journal or the next
#    prompt (case 6): either way exit 3, and a stopped run.
mkdir disk
mount -t tmpfs -o size=8m tmpfs disk
BR_DEMO_SLEEP_MS=400 "$br" --state-dir disk/state run --auto spec.md --config br.toml --plain \
  > full-mid.log 2>&1 &
run=$!
for _ in $(seq 1 300); do
  grep -q "done" full-mid.log 2>/dev/null && break
  sleep 0.05
done
grep -q "done" full-mid.log || { cat full-mid.log; fail "the run never finished a task"; }
dd if=/dev/zero of=disk/filler bs=64k 2>/dev/null || true  # until the disk is full
code=0
wait "$run" || code=$?
echo "$code" > full-mid.log.code
expect 3 "stop" full-mid.log
grep -qE "the journal failed, stopping|the run is stopped, no task failed" full-mid.log ||
  { cat full-mid.log; fail "full-mid.log: neither the journal nor a prompt failed"; }
rm disk/filler
br_to resumed.log --state-dir disk/state resume --config br.toml --plain
expect 0 "succeeded: 14 of 14" resumed.log
br_to status.log --state-dir disk/state status
expect 0 "succeeded" status.log

# 3. A read-only state dir: a new run cannot start there, an old one cannot resume, and
#    br status still reads it.
mkdir ro
mount --bind ro ro
mount -o remount,ro,bind ro
br_to ro-new.log --state-dir ro/state run --auto spec.md --config br.toml --plain
expect 3 "ro/state: cannot create the state dir: Read-only file system" ro-new.log
mount -o remount,ro,bind disk
br_to ro-resume.log --state-dir disk/state resume --config br.toml --plain
expect 3 "cannot write the state directory" ro-resume.log
br_to ro-status.log --state-dir disk/state status
expect 0 "tasks: 14 total, 14 succeeded" ro-status.log
mount -o remount,rw,bind disk

# 4. Two br processes on one state dir: the second is turned away by the journal's lock.
BR_DEMO_SLEEP_MS=5000 "$br" --state-dir two run --auto spec.md --config br.toml --plain \
  > first.log 2>&1 &
first=$!
for _ in $(seq 1 300); do
  grep -q "dispatch" first.log 2>/dev/null && break
  sleep 0.05
done
br_to second.log --state-dir two run --auto spec.md --config br.toml --plain
expect 3 "in use by another br process" second.log
kill -INT "$first"
wait "$first" || true

# 5. A journal that lost its CURRENT file: refused by run and status alike, and left as it is
#    (it used to be taken for no journal, replaced by a new run and its tables deleted).
rm disk/state/journal/CURRENT
before=$(cd disk/state/journal && ls -l --time-style=+%s.%N | sort)
br_to damaged-run.log --state-dir disk/state run --auto spec.md --config br.toml --plain
expect 3 "holds records but no readable journal (its CURRENT file is missing)" damaged-run.log
br_to damaged-status.log --state-dir disk/state status
expect 3 "holds records but no readable journal" damaged-status.log
after=$(cd disk/state/journal && ls -l --time-style=+%s.%N | sort)
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); fail "the damaged journal was changed"; }

# 6. The disk fills once the journal has reserved its log (~9 MiB, which a 32 MiB disk holds):
#    the next attempts' prompts cannot be written. That is no task's failure: the run stops
#    with exit 3 naming the file and the OS error, no task has failed or spent an attempt, and
#    `br resume` finishes the run once there is space. It used to fail every task for good
#    (exit 1), and resume found the run over. Without isolation the agents work outside the
#    full disk (a worktree would be on it, under the state dir), so only br's files meet it.
mkdir own
mount -t tmpfs -o size=32m tmpfs own
sed 's/^\[run\]$/[run]\nisolation = "none"/' br.toml > br-none.toml
BR_DEMO_SLEEP_MS=400 "$br" --state-dir own/state run --auto spec.md --config br-none.toml \
  --plain > own-full.log 2>&1 &
run=$!
for _ in $(seq 1 300); do
  grep -q "dispatch" own-full.log 2>/dev/null && break
  sleep 0.05
done
grep -q "dispatch" own-full.log || { cat own-full.log; fail "the run never dispatched"; }
dd if=/dev/zero of=own/filler bs=64k 2>/dev/null || true  # until the disk is full
code=0
wait "$run" || code=$?
echo "$code" > own-full.log.code
expect 3 "No space left on device; the run is stopped, no task failed: free space and run \`br --state-dir own/state resume --auto --config br-none.toml\`" own-full.log
grep -qE "^br: cannot write own/state/prompts/[^ ]+\.md: No space left on device; " own-full.log ||
  { cat own-full.log; fail "own-full.log: the prompt file is not named"; }
# Attempts in flight when the run stops are interrupted (not charged), as at any stop; whether
# one is in flight then depends on timing, so they are allowed here.
if grep "FAILED" own-full.log | grep -v -e "cannot write own/state/prompts/" \
    -e "interrupted: the run was stopped"; then
  fail "own-full.log: an attempt failed for something else than the full disk"
fi
br_to own-status.log --state-dir own/state status
expect 0 " 0 failed, 0 blocked, 0 cancelled" own-status.log
grep -q "stopped" own-status.log || { cat own-status.log; fail "own-status.log: not stopped"; }
rm own/filler
br_to own-resumed.log --state-dir own/state resume --config br-none.toml --plain
expect 0 "succeeded: 14 of 14" own-resumed.log
if grep "FAILED" own-resumed.log; then fail "own-resumed.log: an attempt failed"; fi

echo "ok: full disk at start and mid-run, read-only state dir, a second br on one state dir, a journal without CURRENT, br's own files unwritable"
