"""br run without --auto asks before each batch, on a terminal (a pseudo-terminal here); br
resume and br retry ask as the run was started.

The first batch is skipped (its task is cancelled, what depends on it blocked), the second has
its prompt edited (through $EDITOR) and runs with the edited text, the rest run on Enter. Off a
terminal, br run without --auto is refused with the fix. Then that run (started asking) is
retried and resumed: off a terminal both are refused with the fix; at the terminal br retry
asks and quits on q, the "resume with:" command it prints asks and skips on s, and --auto
overrides the mode and is remembered. A run started with --auto retries off a terminal without
asking. Every wait has a deadline.
"""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

from specs import ALPHA_BETA_GAMMA as SPEC


def fail(message, output=""):
    print("FAIL: " + message)
    if output:
        print(output)
    return 1


def drive(br, work, env, args, answer, seconds=120):
    """Runs br with `args` on a pseudo-terminal in `work`; each time it asks, writes what
    answer(n, text) returns (n: questions answered so far). Returns (exit code or None on
    timeout, output, questions answered)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(work)
        os.execve(br, [br] + args, env)
    output = b""
    answered = 0
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            output += chunk
        text = output.decode("utf-8", "replace")
        if text.count("Run this batch?") > answered:
            os.write(fd, answer(answered, text))
            answered += 1
        done, code = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            status = code
            break
    os.close(fd)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return None, output.decode("utf-8", "replace"), answered
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace"), answered


def off_terminal(br, work, args, env=None):
    return subprocess.run([br] + args, cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120, env=env)


def tasks_of(br, work, state):
    listed = subprocess.run([br, "--state-dir", state, "task", "list", "--json"], cwd=work,
                            capture_output=True, text=True, timeout=60)
    return {t["id"]: t for t in json.loads(listed.stdout)["tasks"]}


def last_header(text):
    return re.findall(r"--- batch \S+ \[\w+\]: (.+) ---", text)[-1]


def resume_and_retry(br, work, env):
    """The run in work/state was started asking and ended with a skipped task."""
    refusal = "this run was started asking before each batch"
    off = off_terminal(br, work, ["--state-dir", "state", "retry", "--failed"])
    if off.returncode != 2 or refusal not in off.stderr or "pass --auto" not in off.stderr:
        return fail("br retry of an asking run off a terminal was not refused with the fix",
                    off.stdout + off.stderr)

    code, text, asked = drive(br, work, env, ["--state-dir", "state", "retry", "--failed"],
                              lambda n, text: b"q\n")
    if code != 130 or asked != 1:
        return fail("br retry at a terminal did not ask once and stop on q (exit %s, %d "
                    "questions)" % (code, asked), text)
    hint = re.search(r"^resume with: (.+?)\r?$", text, re.M)
    if hint is None:
        return fail("br retry, quit at its prompt, printed no resume command", text)
    # The printed command, word for word (its "br" is the binary under test).
    resume = hint.group(1).split()
    if resume[0] != "br" or "--auto" in resume:
        return fail("the resume command of an asking run is not `br … resume` without --auto",
                    hint.group(1))

    off = off_terminal(br, work, resume[1:])
    if off.returncode != 2 or refusal not in off.stderr:
        return fail("br resume of an asking run off a terminal was not refused with the fix",
                    off.stdout + off.stderr)

    skipped = []

    def skip_first(n, text):
        if n == 0:
            skipped.append(last_header(text))
            return b"s\n"
        return b"\n"
    code, text, asked = drive(br, work, env, resume[1:], skip_first)
    if code != 1 or asked < 1:
        return fail("br resume at a terminal did not ask and end failed after a skip (exit %s, "
                    "%d questions)" % (code, asked), text)
    tasks = tasks_of(br, work, "state")
    if tasks[skipped[0]]["status"] != "cancelled":
        return fail("the task skipped at br resume's prompt is not cancelled", text)

    done = off_terminal(br, work, ["--state-dir", "state", "retry", "--failed", "--auto"])
    if done.returncode != 0:
        return fail("br retry --auto off a terminal did not run to the end",
                    done.stdout + done.stderr)
    if not all(t["status"] == "succeeded" for t in tasks_of(br, work, "state").values()):
        return fail("br retry --auto left tasks unfinished", done.stdout)
    # --auto is now the run's mode: a retry without it goes on off a terminal.
    again = off_terminal(br, work, ["--state-dir", "state", "retry", "--failed"])
    if again.returncode != 0:
        return fail("br retry after a --auto retry did not keep --auto", again.stdout +
                    again.stderr)

    # A run started with --auto (one task failing for good) retries off a terminal unasked.
    failing = dict(env, BR_DEMO_FAIL_TASKS="gamma/01-backend")
    first = off_terminal(br, work, ["--state-dir", "auto", "run", "--auto", "spec.md",
                                    "--config", "auto.toml"], failing)
    if first.returncode != 1:
        return fail("the --auto run with a failing task did not end failed (exit %d)" %
                    first.returncode, first.stdout + first.stderr)
    retried = off_terminal(br, work, ["--state-dir", "auto", "retry", "--failed"], env)
    if retried.returncode != 0 or "Run this batch?" in retried.stdout:
        return fail("br retry of a run started with --auto did not run unasked off a terminal",
                    retried.stdout + retried.stderr)
    # --ask overrides it, and off a terminal that is the refusal.
    asked_off = off_terminal(br, work, ["--state-dir", "auto", "retry", "--failed", "--ask"])
    if asked_off.returncode != 2 or "pass --auto" not in asked_off.stderr:
        return fail("br retry --ask off a terminal was not refused", asked_off.stdout +
                    asked_off.stderr)
    print("ok: resume and retry asked as the run was started (q stopped, s skipped), --auto "
          "overrode it and was remembered; a --auto run retried unasked")
    return 0


def colours(br, work):
    """On a terminal the summary is coloured (failed red, succeeded green), unless NO_COLOR or
    --color=never says otherwise; off a terminal only --color=always colours."""
    env = dict(os.environ, TERM="xterm", BR_DEMO_FAIL_TASKS="alpha/01-backend")
    env.pop("NO_COLOR", None)
    red, green = "\x1b[31m", "\x1b[32m"
    args = ["run", "--auto", "spec.md", "--config", "auto.toml"]
    code, text, _ = drive(br, work, env, ["--state-dir", "colour-tty"] + args,
                          lambda n, text: b"\n")
    if code != 1 or red + "failed" not in text:
        return fail("a failed run on a terminal has no red 'failed' (exit %s)" % code, text)
    for name, extra_env, flags in [("NO_COLOR=1", {"NO_COLOR": "1"}, []),
                                   ("--color=never", {}, ["--color=never"])]:
        code, text, _ = drive(br, work, dict(env, **extra_env),
                              ["--state-dir", "colour-" + name[2:6]] + flags + args,
                              lambda n, text: b"\n")
        if code != 1 or red in text or green in text:
            return fail("%s on a terminal still coloured the output (exit %s)" % (name, code),
                        text)
    env.pop("BR_DEMO_FAIL_TASKS")
    always = subprocess.run([br, "--state-dir", "colour-always", "--color=always"] + args,
                            cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=120, env=env)
    if always.returncode != 0 or green + "succeeded" not in always.stdout:
        return fail("--color=always off a terminal did not colour 'succeeded' green",
                    always.stdout + always.stderr)
    print("ok: colours on a terminal, none with NO_COLOR or --color=never, --color=always "
          "off one")
    return 0


def main():
    source_dir, br = sys.argv[1], os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="br-approve-")
    try:
        os.makedirs(os.path.join(work, "ws"))
        with open(os.path.join(work, "spec.md"), "w") as f:
            f.write(SPEC)
        with open(os.path.join(work, "br.toml"), "w") as f:
            f.write('[run]\nworkers = 1\nworkspace = "ws"\nbatch_max_tasks = 1\n'
                    'keep_succeeded = "all"\n[agent]\ncommand = ["%s"]\n[verify]\n'
                    'file_wait = "200ms"\n' % os.path.join(source_dir, "deploy", "demo-agent"))
        editor = os.path.join(work, "editor.sh")
        with open(editor, "w") as f:
            f.write("#!/bin/sh\necho 'EDITED-BY-THE-TEST' >> \"$1\"\n")
        os.chmod(editor, 0o755)
        with open(os.path.join(work, "auto.toml"), "w") as f:
            f.write('[run]\nworkers = 1\nworkspace = "ws-auto"\nmax_attempts = 1\n[agent]\n'
                    'command = ["%s"]\nenv = ["BR_DEMO_FAIL_TASKS"]\n[verify]\n'
                    'file_wait = "200ms"\n' % os.path.join(source_dir, "deploy", "demo-agent"))
        os.makedirs(os.path.join(work, "ws-auto"))

        # Off a terminal: refused, nothing journaled.
        off = subprocess.run([br, "--state-dir", "off", "run", "spec.md"], cwd=work,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=60)
        if off.returncode != 2 or "pass --auto" not in off.stderr:
            return fail("br run without --auto off a terminal was not refused with the fix",
                        off.stdout + off.stderr)
        if os.path.exists(os.path.join(work, "off")):
            return fail("the refused run left a state dir")

        env = dict(os.environ, EDITOR=editor, VISUAL="", NO_COLOR="1")
        skipped = None

        def skip_edit_run(n, text):
            nonlocal skipped
            if n == 0:
                skipped = last_header(text)
            return [b"s\n", b"e\n", b"r\n"][n] if n < 3 else b"\n"
        code, text, answered = drive(br, work, env, ["--state-dir", "state", "run", "spec.md"],
                                     skip_edit_run)
        if code is None:
            return fail("br run did not end in time", text)
        if "prompt edited" not in text:
            return fail("the edit was not taken", text)
        if code != 1:  # a skipped task: not everything built
            return fail("exit code %d, expected 1" % code, text)

        tasks = tasks_of(br, work, "state")
        if skipped is None or tasks[skipped]["status"] != "cancelled":
            return fail("the skipped batch's task %s is not cancelled" % skipped, text)
        if "skipped at br run's prompt" not in tasks[skipped]["reason"]:
            return fail("the skipped task's reason does not say why", tasks[skipped]["reason"])
        others = [t for t in tasks.values() if t["id"] != skipped]
        if not all(t["status"] in ("succeeded", "blocked") for t in others):
            return fail("tasks other than the skipped one neither ran nor were blocked",
                        json.dumps(tasks))
        if not any(t["status"] == "succeeded" for t in others):
            return fail("nothing ran after the skip", json.dumps(tasks))
        prompts = os.path.join(work, "state", "prompts")
        edited = [p for p in os.listdir(prompts) if not p.startswith("edit-") and
                  "EDITED-BY-THE-TEST" in open(os.path.join(prompts, p)).read()]
        if len(edited) != 1:
            return fail("the agent did not get the edited prompt (prompts: %s)" %
                        os.listdir(prompts), text)
        print("ok: %d questions answered; skipped %s; one attempt ran the edited prompt"
              % (answered, skipped))
        if resume_and_retry(br, work, env) != 0:
            return 1
        return colours(br, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
