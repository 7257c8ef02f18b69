#!/usr/bin/env python3
"""Runs every `br` command shown in a sh block of README.md and docs/*.md, as a reader would.

Each command runs in a fresh copy of a project that has had one run of the example spec
(PROJECT_SPEC.md, br.toml with the demo agent, the run in .br), so `br status` or `br report`
have something to show; `br init` runs in an empty directory. Pipes to jq are replaced by a
JSON parse, `> file` is honoured, `a && b` runs both. A command passes when it exits 0.
br-coordinator and br-worker lines start servers: integration.distributed runs them with
the same flags. Then every `br ... --help` must show an example.

    docs_test.py SOURCE_DIR BR
"""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile


def commands(source_dir):
    for path in ["README.md"] + sorted(glob.glob(os.path.join(source_dir, "docs", "*.md"))):
        text = open(os.path.join(source_dir, path)).read()
        for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("#"):
                    continue
                line = re.sub(r"\s+#.*$", "", line)
                if line.startswith("br "):
                    yield os.path.relpath(os.path.join(source_dir, path), source_dir), line


def help_commands(br, path):
    """The commands `br PATH --help` lists under Subcommands, with theirs, as "task show"."""
    done = subprocess.run([br] + path + ["--help"], capture_output=True, text=True, timeout=60)
    names = []
    if "Subcommands:" in done.stdout:
        for line in done.stdout.split("Subcommands:", 1)[1].splitlines()[1:]:
            if not line.startswith("  ") or not line.strip():
                break
            names.append(line.split()[0])
    out = []
    for name in names:
        out.append(" ".join(path + [name]))
        out += help_commands(br, path + [name])
    return out


def run_part(br, part, cwd):
    """Runs one `br ...` command line; returns (ok, what happened)."""
    check_json = False
    if "|" in part:
        part, consumer = part.split("|", 1)
        check_json = "jq" in consumer
    out_file = None
    if ">" in part:
        part, out_file = part.split(">", 1)
        out_file = out_file.strip()
    argv = shlex.split(part)
    if argv[0] != "br":
        return True, "skipped " + part
    done = subprocess.run([br] + argv[1:], cwd=cwd, capture_output=True, text=True, timeout=300)
    if out_file:
        with open(os.path.join(cwd, out_file), "w") as f:
            f.write(done.stdout)
    if done.returncode != 0:
        return False, f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    if check_json:
        json.loads(done.stdout)
    return True, "ok"


def main():
    source_dir, br = sys.argv[1], os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="br-docs-")
    try:
        base = os.path.join(work, "base")
        shutil.copytree(os.path.join(source_dir, "examples"), os.path.join(base, "examples"))
        shutil.copy(os.path.join(source_dir, "examples", "PROJECT_SPEC.md"), base)
        config = open(os.path.join(source_dir, "examples", "br.toml")).read()
        config = config.replace("../deploy", os.path.join(source_dir, "deploy"))
        for name in ("br.toml", os.path.join("examples", "br.toml")):
            with open(os.path.join(base, name), "w") as f:
                f.write(config)
        first = subprocess.run([br, "run", "--auto", "PROJECT_SPEC.md", "--config", "br.toml",
                                "--quiet"], cwd=base, capture_output=True, text=True, timeout=300)
        if first.returncode != 0:
            print("FAIL: the example run itself failed:\n" + first.stdout + first.stderr)
            return 1
        failures, ran = 0, 0
        for n, (doc, line) in enumerate(commands(source_dir)):
            cwd = os.path.join(work, f"c{n}")
            if line.startswith("br init"):
                os.makedirs(cwd)
            else:
                shutil.copytree(base, cwd, symlinks=True)
            for part in line.split("&&"):
                ok, what = run_part(br, part.strip(), cwd)
                ran += 1
                if not ok:
                    failures += 1
                    print(f"FAIL: {doc}: `{line}`: {what}")
                    break
        # Every command's help shows an example: the commands as br --help lists them.
        for sub in [""] + help_commands(br, []):
            done = subprocess.run([br] + sub.split() + ["--help"], capture_output=True,
                                  text=True, timeout=60)
            ran += 1
            if done.returncode != 0 or "Example" not in done.stdout:
                failures += 1
                print(f"FAIL: `br {sub} --help` shows no example:\n{done.stdout}{done.stderr}")
        print(f"docs: {ran} commands from README.md and docs/ and every --help, {failures} failed")
        return 1 if failures or ran < 10 else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
