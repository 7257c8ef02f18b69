#!/usr/bin/env python3
"""Issue 16 point 3's measurement: a br-coordinator at `ulimit -n 1024` while 1,100 silent TCP
connections are opened against its port and held, and a real br-worker joins and finishes a
run; against the same run with no such connections, and with a flood that re-opens each
connection the coordinator closes (a stronger attack than the issue's), from another loopback
address than the worker's (127.0.0.2) and from the same. Prints whether the run
succeeded, how long the worker took to be admitted, the run's wall time and the coordinator's
CPU time, for each.

    python3 tests/bench/idle_connections_bench.py BUILD_DIR [--tasks-per-feature-count N]
"""
import os, resource, socket, subprocess, sys, tempfile, threading, time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
source = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
coordinator_bin = os.path.join(build, "coordinator", "br-coordinator")
worker_bin = os.path.join(build, "worker", "br-worker")
TOKEN = "idle-bench-token-0123456789"
FEATURES = 40


def run(flood, reopen, from_address):
    work = tempfile.mkdtemp(prefix="br-idle-bench-")
    with open(os.path.join(work, "spec.md"), "w") as f:
        f.write("# Idle\n## Features\n")
        for i in range(FEATURES):
            f.write(f"### Piece {i} {{#p{i}}}\nBusiness logic.\n**Files:**\n- src/p{i}.py\n")
    with open(os.path.join(work, "br.toml"), "w") as f:
        f.write(f'[agent]\ncommand = ["{source}/deploy/demo-agent"]\n[verify]\nfile_wait = 0\n')
    env = dict(os.environ, BR_TOKEN=TOKEN, BR_DEMO_SLEEP_MS="0")
    log = open(os.path.join(work, "coordinator.log"), "w+")
    coordinator = subprocess.Popen(
        ["/usr/bin/prlimit", "--nofile=1024:1024", coordinator_bin, "--config", "br.toml",
         "--spec", "spec.md", "--listen", "127.0.0.1:0", "--state-dir", "state"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    port = None
    deadline = time.time() + 30
    while port is None and time.time() < deadline:
        log.seek(0)
        for line in log.read().splitlines():
            if line.startswith("listening on 127.0.0.1:"):
                port = int(line.split(":")[-1].split()[0])
        time.sleep(0.02)
    assert port, "the coordinator never listened"
    held, stop, opened = [], threading.Event(), [False]

    def hold():
        # Keeps 1,100 silent connections open: each one the coordinator closes is replaced.
        while not stop.is_set():
            alive = []
            for s in held:
                try:
                    s.setblocking(False)
                    if s.recv(65536) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            held[:] = alive
            while len(held) < 1100 and not stop.is_set() and (reopen or not opened[0]):
                s = socket.socket()
                s.bind((from_address, 0))
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", port))
                except (BlockingIOError, OSError):
                    pass
                held.append(s)
            opened[0] = True
            time.sleep(0.05)

    holder = threading.Thread(target=hold)
    if flood:
        holder.start()
        while not opened[0]:
            time.sleep(0.01)
    start = time.time()
    worker_log = open(os.path.join(work, "worker.log"), "w+")
    worker = subprocess.Popen(
        [worker_bin, "--connect", f"127.0.0.1:{port}", "--config", "br.toml", "--workspace",
         "ws", "--name", "w", "--state-dir", "w-state", "--slots", "4"],
        cwd=work, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    admitted = None
    while coordinator.poll() is None and time.time() - start < 120:
        if admitted is None:
            worker_log.seek(0)
            if "connected to" in worker_log.read():
                admitted = time.time() - start
        time.sleep(0.01)
    wall = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped: the coordinator (and prlimit)
    stop.set()
    if flood:
        holder.join()
    for s in held:
        s.close()
    worker.wait(30)
    log.seek(0)
    text = log.read()
    ok = coordinator.returncode == 0 and f"{FEATURES * 3} of {FEATURES * 3} tasks succeeded" in text
    summary = [l for l in text.splitlines() if "connections" in l and l.startswith("br: closed")]
    if not ok:
        print(text[-3000:])
        worker_log.seek(0)
        print(worker_log.read()[-2000:])
    subprocess.run(["rm", "-rf", work])
    return ok, admitted, wall, usage.ru_utime + usage.ru_stime, summary


resource.setrlimit(resource.RLIMIT_NOFILE, (8192, max(8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
base_cpu = 0.0
for flood, reopen, from_address, name in (
        (False, False, "127.0.0.1", "no other connections"),
        (True, False, "127.0.0.1", "1,100 silent, held"),
        (True, True, "127.0.0.2", "1,100 re-opened, other address"),
        (True, True, "127.0.0.1", "1,100 re-opened, same address")):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ok, admitted, wall, cpu, summary = run(flood, reopen, from_address)
    cpu -= before.ru_utime + before.ru_stime
    print(f"{name:32} "
          f"run ok={ok} admitted after {admitted if admitted is None else round(admitted * 1000)} ms, "
          f"run {wall:.2f} s, coordinator CPU {cpu:.2f} s")
    for line in summary[:3]:
        print("   ", line)
