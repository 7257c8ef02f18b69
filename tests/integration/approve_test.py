"""br run without --auto asks before each batch, on a terminal (a pseudo-terminal here).

The first batch is skipped (its task is cancelled, what depends on it blocked), the second has
its prompt edited (through $EDITOR) and runs with the edited text, the rest run on Enter. Off a
terminal, br run without --auto is refused with the fix. Every wait has a deadline.
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

SPEC = """# P
## Features
### Alpha {#alpha}
Business logic.
**Files:**
- src/a.py
### Beta {#beta}
Business logic.
**Depends on:** #alpha
**Files:**
- src/b.py
### Gamma {#gamma}
Business logic.
**Files:**
- src/g.py
"""


def fail(message, output=""):
    print("FAIL: " + message)
    if output:
        print(output)
    return 1


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
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(work)
            os.execve(br, [br, "--state-dir", "state", "run", "spec.md"], env)
        output = b""
        answered = 0
        skipped = None
        deadline = time.monotonic() + 120
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
            questions = text.count("Run this batch?")
            if questions > answered:
                headers = re.findall(r"--- batch \S+ \[\w+\]: (.+) ---", text)
                if answered == 0:
                    skipped = headers[-1]
                    os.write(fd, b"s\n")
                elif answered == 1:
                    os.write(fd, b"e\n")
                elif answered == 2:
                    os.write(fd, b"r\n")
                else:
                    os.write(fd, b"\n")
                answered += 1
            done, code = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                status = code
                break
        text = output.decode("utf-8", "replace")
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return fail("br run did not end in time", text)
        if "prompt edited" not in text:
            return fail("the edit was not taken", text)
        if os.waitstatus_to_exitcode(status) != 1:  # a skipped task: not everything built
            return fail("exit code %d, expected 1" % os.waitstatus_to_exitcode(status), text)

        listed = subprocess.run([br, "--state-dir", "state", "task", "list", "--json"], cwd=work,
                                capture_output=True, text=True, timeout=60)
        tasks = {t["id"]: t for t in json.loads(listed.stdout)["tasks"]}
        if skipped is None or tasks[skipped]["status"] != "cancelled":
            return fail("the skipped batch's task %s is not cancelled" % skipped, text)
        if "skipped at br run's prompt" not in tasks[skipped]["reason"]:
            return fail("the skipped task's reason does not say why", tasks[skipped]["reason"])
        others = [t for t in tasks.values() if t["id"] != skipped]
        if not all(t["status"] in ("succeeded", "blocked") for t in others):
            return fail("tasks other than the skipped one neither ran nor were blocked",
                        listed.stdout)
        if not any(t["status"] == "succeeded" for t in others):
            return fail("nothing ran after the skip", listed.stdout)
        prompts = os.path.join(work, "state", "prompts")
        edited = [p for p in os.listdir(prompts) if not p.startswith("edit-") and
                  "EDITED-BY-THE-TEST" in open(os.path.join(prompts, p)).read()]
        if len(edited) != 1:
            return fail("the agent did not get the edited prompt (prompts: %s)" %
                        os.listdir(prompts), text)
        print("ok: %d questions answered; skipped %s; one attempt ran the edited prompt"
              % (answered, skipped))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
