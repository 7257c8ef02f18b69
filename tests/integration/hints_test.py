"""Every command br prints for the user to run next works as printed.

Each hint is parsed out of br's own output (never written here) and run through a shell, in the
directory its br ran in, with `br` on PATH as the binary under test, off a terminal. Covered:

  br init                 "next: ... `br plan …` and `br run --auto …`" (after editing br.toml
                          to the demo agent, as the line says to), and "(pass --force to)"
  br stop                 "continue it with: br … resume"; when no run is going on,
                          "(br … status says where it stands)"
  Ctrl-C                  the summary's "resume with: br … resume …"
  br cancel (not live)    "(br … retry --failed reopens them)", "br … resume runs the rest"
  br cancel, br task show of no such task   "(br … task list shows them / its tasks)"
  a failed run            "run what failed again with: br … retry --failed …", the folded
                          blocked tasks' "all N blocked: br … task list --status blocked",
                          "… and N more failed (br … task list --status failed)", and
                          "report: br … report"
  br logs, not dispatched "(br … task show ID says what it waits for)"
  br resume of it         "this run is already over … run what did not finish again with: …"
  br run without --auto   "pass --auto" (off a terminal)
  br retry without tasks  "pass --failed"
  a changed spec          "run `br … resume …` to finish that run", "pass --replan"

Not run here, and why: a resume that would ask off a terminal ("pass --auto") needs a run
started at a terminal (approve_test.py runs it); "free space and run `br … resume`" needs a
full disk (durability_test.sh checks it); the max_cost_usd stop needs an agent that reports
costs; the live `br cancel`'s retry hint is the offline one's text, to run once the run is over;
"`br run --auto SPEC`" (no run here) names a placeholder, not a command; "`br resume`
continues" on the interrupt line is a pointer whose full command follows in the summary.

Waits are on conditions with deadlines; the agent waits for the test's go file (bounded), so a
run is surely mid-way when it is stopped.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from specs import ALPHA_BETA_GAMMA as SPEC

failures = []


def check(ok, what, output=""):
    if not ok:
        failures.append(what)
        print("FAIL: " + what + ("\n" + output if output else ""))
    return ok


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Hints:
    def __init__(self, source_dir, br, work):
        self.source_dir, self.work = source_dir, work
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        os.symlink(br, os.path.join(bin_dir, "br"))
        # NO_COLOR: hints are parsed from plain text. The demo agent's failure switch passes
        # through [agent] env only when a config names it.
        self.env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], NO_COLOR="1")
        self.env.pop("BR_DEMO_FAIL_TASKS", None)
        self.go = os.path.join(work, "go")
        self.gate = os.path.join(work, "gated-agent")
        with open(self.gate, "w") as f:
            f.write("#!/bin/sh\n# Waits (at most 60 s) for the test's go, then works.\n"
                    "for i in $(seq 600); do [ -e '%s' ] && exec '%s' \"$@\"; sleep 0.1; done\n"
                    "exit 1\n" % (self.go, os.path.join(source_dir, "deploy", "demo-agent")))
        os.chmod(self.gate, 0o755)
        self.processes = []

    def project(self, name, agent=None, extra="", spec=SPEC):
        """A directory with spec.md and a br.toml running `agent` (default: the demo agent)."""
        cwd = os.path.join(self.work, name)
        os.makedirs(os.path.join(cwd, "ws"))
        with open(os.path.join(cwd, "spec.md"), "w") as f:
            f.write(spec)
        agent = agent or os.path.join(self.source_dir, "deploy", "demo-agent")
        with open(os.path.join(cwd, "br.toml"), "w") as f:
            f.write('[run]\nworkers = 2\nworkspace = "ws"\nbackoff_base = "50ms"\n%s[agent]\n'
                    'command = ["%s"]\nenv = ["BR_DEMO_FAIL_TASKS"]\n[verify]\n'
                    'file_wait = "200ms"\n' % (extra, agent))
        return cwd

    def br(self, cwd, args, env=None):
        return subprocess.run(["br"] + args, cwd=cwd, env=env or self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=180)

    def run_hint(self, cwd, hint, expected, what, env=None):
        """Runs `hint` as a user would paste it; True when it exits `expected`."""
        if not check(hint is not None and hint.startswith("br "), what + ": no hint found"):
            return None
        done = subprocess.run(["bash", "-c", hint], cwd=cwd, env=env or self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=180)
        allowed = expected if isinstance(expected, tuple) else (expected,)
        check(done.returncode in allowed,
              "%s: `%s` exited %d, expected %s" % (what, hint, done.returncode, expected),
              done.stdout + done.stderr)
        print("ran %-22s %s" % (what + ":", hint))
        return done

    def start_stalled_run(self, cwd):
        """A br run whose agents wait for the go file; returns once a task has started."""
        log = open(os.path.join(cwd, "run.log"), "w")
        process = subprocess.Popen(["br", "--state-dir", "state", "run", "--auto", "spec.md",
                                    "--config", "br.toml", "--plain"], cwd=cwd, env=self.env,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        started = wait_until(lambda: "start   " in read(os.path.join(cwd, "run.log")), 60)
        check(started, "the run in %s never started a task" % cwd,
              read(os.path.join(cwd, "run.log")))
        return process

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def found(pattern, text):
    match = re.search(pattern, text, re.M)
    return match.group(1) if match else None


def with_flag(command_line, text):
    """The command the user ran, with the flag an error said to pass ("pass --x")."""
    flag = found(r"pass (--[a-z-]+)", text)
    return command_line + " " + flag if flag else None


def init_hints(h):
    cwd = os.path.join(h.work, "init")
    os.makedirs(cwd)
    first = h.br(cwd, ["init"])
    check(first.returncode == 0, "br init failed", first.stdout + first.stderr)
    again = h.br(cwd, ["init"])
    h.run_hint(cwd, with_flag("br init", again.stderr), 0, "init: pass --force")
    line = found(r"^next: (.+)$", first.stdout)
    commands = re.findall(r"`([^`]+)`", line or "")
    check(len(commands) == 2, "br init's next: line does not name two commands", first.stdout)
    # "edit both": the agent becomes the offline demo agent; the rest is the starter as written.
    config = os.path.join(cwd, "br.toml")
    text = read(config)
    text = re.sub(r"^command = .*$", 'command = ["%s"]' %
                  os.path.join(h.source_dir, "deploy", "demo-agent"), text, count=1, flags=re.M)
    with open(config, "w") as f:
        f.write(text)
    # The starter spec, as written, plans and runs to success: its file: criteria are files
    # the tasks are asked for, so even the demo agent passes them.
    for command in commands:
        h.run_hint(cwd, command, 0, "init: next")


def stop_and_interrupt_hints(h):
    stopped = h.project("stopped", agent=h.gate)
    run = h.start_stalled_run(stopped)
    said = h.br(stopped, ["--state-dir", "state", "stop"])
    check(run.wait(60) == 130, "br stop did not stop the run", said.stdout + said.stderr)
    stop_hint = found(r"continue it with: (.+)$", said.stdout)
    # Stopped, so no run is going on: br stop says so and points at br status.
    said = h.br(stopped, ["--state-dir", "state", "stop"])
    h.run_hint(stopped, found(r"\((br --state-dir \S+ status) says", said.stdout), 0,
               "stop: not going on")

    interrupted = h.project("interrupted", agent=h.gate)
    run = h.start_stalled_run(interrupted)
    run.send_signal(signal.SIGINT)
    check(run.wait(60) == 130, "Ctrl-C did not stop the run")
    resume_hint = found(r"^resume with: (.+)$", read(os.path.join(interrupted, "run.log")))

    cancelled = h.project("cancelled", agent=h.gate)
    run = h.start_stalled_run(cancelled)
    run.send_signal(signal.SIGINT)
    check(run.wait(60) == 130, "Ctrl-C did not stop the run")
    said = h.br(cancelled, ["--state-dir", "state", "cancel", "alpha/01-backend"])
    check(said.returncode == 0, "br cancel of a stopped run failed", said.stdout + said.stderr)
    retry_hint = found(r"\((br --state-dir \S+ retry --failed) reopens them\)", said.stdout)
    rest_hint = found(r"not going on: (br --state-dir \S+ resume) runs the rest", said.stdout)
    # A name that is no task of the run: both commands point at the list of its tasks.
    typo = h.br(cancelled, ["--state-dir", "state", "cancel", "alpha/99-nope"])
    check(typo.returncode == 2, "br cancel of no such task did not exit 2", typo.stderr)
    cancel_list_hint = found(r"\((br --state-dir \S+ task list) shows them\)", typo.stderr)
    typo = h.br(cancelled, ["--state-dir", "state", "task", "show", "alpha/99-nope"])
    check(typo.returncode != 0, "br task show of no such task succeeded", typo.stdout)
    show_list_hint = found(r"\((br --state-dir \S+ task list) shows its tasks\)", typo.stderr)
    for what, hint in (("cancel: no such task", cancel_list_hint),
                       ("task show: no such task", show_list_hint)):
        listed = h.run_hint(cancelled, hint, 0, what)
        if listed is not None:
            check("alpha/01-backend" in listed.stdout, what + ": the list lacks the run's tasks",
                  listed.stdout)

    open(h.go, "w").close()  # the agents work from now on
    h.run_hint(stopped, stop_hint, 0, "br stop")
    h.run_hint(interrupted, resume_hint, 0, "Ctrl-C")
    h.run_hint(cancelled, rest_hint, 1, "cancel: resume")  # 1: the cancelled task failed the run
    h.run_hint(cancelled, retry_hint, 0, "cancel: retry")


def failure_hints(h):
    failing = dict(h.env, BR_DEMO_FAIL_TASKS="gamma/01-backend")
    # A failed run's summary, with the cause then fixed (the agent no longer fails).
    failed = h.project("failed", extra="max_attempts = 1\n")
    said = h.br(failed, ["--state-dir", "state", "run", "--auto", "spec.md", "--config",
                         "br.toml", "--plain"], failing)
    check(said.returncode == 1, "the failing run did not end failed", said.stdout + said.stderr)
    retry_hint = found(r"run what failed again with: (.+)$", said.stdout)
    report_hint = found(r"^report: (.+?)   \(", said.stdout)
    # br logs of a task never dispatched (blocked by the failure) says what to look at instead.
    said = h.br(failed, ["--state-dir", "state", "logs", "gamma/02-tests"])
    h.run_hint(failed, found(r"\((br --state-dir \S+ task show \S+) says what it waits for\)",
                             said.stderr), 0, "logs: not dispatched")
    h.run_hint(failed, retry_hint, 0, "failed run")
    h.run_hint(failed, report_hint, 0, "summary: report")
    # More failures than the summary lists point at the list of them all.
    wide = "# W\n## Features\n" + "".join("### Piece %d {#w%d}\nBusiness logic.\n**Files:**\n"
                                           "- src/w%d.py\n" % (i, i, i) for i in range(22))
    all_fail = dict(h.env, BR_DEMO_FAIL_TASKS=" ".join("w%d/01-backend" % i for i in range(22)))
    wide_run = h.project("wide", extra="max_attempts = 1\n", spec=wide)
    said = h.br(wide_run, ["--state-dir", "state", "run", "--auto", "spec.md", "--config",
                           "br.toml", "--plain"], all_fail)
    listed = h.run_hint(wide_run, found(r"… and \d+ more failed \((.+)\)$", said.stdout), 0,
                        "summary: more failed")
    if listed is not None:
        check(len(re.findall(r"\bfailed\b", listed.stdout)) == 22,
              "the pointer does not list the 22 failed tasks", listed.stdout)
    # A summary too long to list every blocked task points at the list of the rest.
    fanned_out = SPEC + "".join("### Dependent %d {#dep%d}\nBusiness logic.\n**Depends on:** "
                                "#gamma\n**Files:**\n- src/dep%d.py\n" % (i, i, i)
                                for i in range(12))
    many = h.project("many", extra="max_attempts = 1\n", spec=fanned_out)
    said = h.br(many, ["--state-dir", "state", "run", "--auto", "spec.md", "--config", "br.toml",
                       "--plain"], failing)
    check(said.returncode == 1, "the fanned-out run did not end failed", said.stdout + said.stderr)
    listed = h.run_hint(many, found(r"^  all \d+ blocked: (.+)$", said.stdout), 0,
                        "summary: all blocked")
    blocked = found(r"(\d+) blocked,", said.stdout)
    if listed is not None and blocked is not None:
        check(len(re.findall(r"\bblocked\b", listed.stdout)) == int(blocked),
              "the pointer does not list the %s blocked tasks" % blocked, listed.stdout)

    # br retry with nothing named says which flag to pass.
    said = h.br(failed, ["--state-dir", "state", "retry"])
    h.run_hint(failed, with_flag("br --state-dir state retry", said.stderr), 0,
               "retry: pass --failed")

    # br run without --auto off a terminal says to pass it; the run it starts fails; br resume
    # of that says it is over and how to go on.
    over = h.project("over", extra="max_attempts = 1\n")
    said = h.br(over, ["--state-dir", "state", "run", "spec.md", "--config", "br.toml"])
    h.run_hint(over, with_flag("br --state-dir state run spec.md --config br.toml", said.stderr),
               1, "run: pass --auto", failing)
    said = h.br(over, ["--state-dir", "state", "resume"])
    h.run_hint(over, found(r"run what did not finish again with: (.+)$", said.stdout), 0,
               "resume of a failed run")

    # The spec changed since the run began: resume it as planned, or replan.
    with open(os.path.join(over, "spec.md"), "a") as f:
        f.write("### Delta {#delta}\nBusiness logic.\n**Files:**\n- src/d.py\n")
    rerun = "br --state-dir state run --auto spec.md --config br.toml"
    said = h.br(over, rerun.split()[1:])
    h.run_hint(over, found(r"run `([^`]+)` to finish that run", said.stderr), 0,
               "changed spec: resume")
    h.run_hint(over, with_flag(rerun, said.stderr), 0, "changed spec: --replan")


def main():
    source_dir, br = sys.argv[1], os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="br-hints-")
    h = Hints(source_dir, br, work)
    try:
        init_hints(h)
        stop_and_interrupt_hints(h)
        failure_hints(h)
    finally:
        h.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d hint(s) do not work as printed" % len(failures))
        return 1
    print("ok: every hint ran as printed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
