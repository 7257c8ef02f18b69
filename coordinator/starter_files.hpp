// What `br init` writes: a commented starter br.toml (every section, with the defaults) and a
// starter PROJECT_SPEC.md that plans as it is, so `br plan PROJECT_SPEC.md` works at once.
#pragma once

namespace br {

inline constexpr const char* kStarterConfig = R"(# br.toml: how br runs this project. Every key is optional; the values shown are the
# defaults unless marked "example". Reference: docs/config.md. Paths are relative to this file.

[run]
workers = 2                  # agents running at once on this machine
workspace = "."              # where the agents build the project
strategy = "critical-path"   # or "priority", "shortest"
max_attempts = 3             # a task that fails this many times blocks what depends on it
backoff_base = "1s"          # first retry delay, doubled each time up to backoff_max
backoff_max = "60s"

[agent]
# The coding agent, as an argv array (no shell). It reads the prompt on stdin (also in
# $BR_PROMPT_FILE) and edits files in the workspace. Example: Claude Code, headless.
command = ["claude", "-p", "--permission-mode", "acceptEdits"]
timeout = "30m"              # the agent's whole process group is killed after this
env = ["ANTHROPIC_API_KEY"]  # variables passed through; agents get a clean environment

[verify]
# Run after each batch in the workspace; a task succeeds only if both exit 0. Examples:
# check_command = ["make", "lint"]
# test_command = ["pytest", "-q"]
timeout = "10m"
file_wait = "10s"            # how long to wait for expected files after the agent exits
require_checks = false       # true: refuse a plan with a task nothing machine-checks
# `run:` criteria are commands from the spec, run as your user. Unset: they run here; a
# br-worker runs them only if its own config says allow_run_criteria = true.
# allow_run_criteria = true

[context]
token_budget = 4000          # the prompt never exceeds this many tokens (about bytes / 4)

[journal]
snapshot_every = 10000       # records between run-state snapshots (faster restarts)
)";

inline constexpr const char* kStarterSpec = R"(# My Project

A one-paragraph overview: what this project is, for whom, and the stack it uses. Agents see
it with every task.

## Features

### User accounts {#accounts}
**Description:** People sign up with an email and a password, log in, and log out.
**Priority:** high
**Complexity:** medium
**Requirements:**
- Store users with a unique email and a password hash
- Sign-up, log-in and log-out endpoints
**Acceptance criteria:**
- Signing up twice with the same email is refused
- file: src/accounts.py

### Notes {#notes}
**Description:** A logged-in user writes, lists and deletes short notes.
**Priority:** medium
**Depends on:** accounts
**Acceptance criteria:**
- A user sees only their own notes
- file: src/notes.py
)";

}  // namespace br
