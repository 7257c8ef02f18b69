"""Specs shared by the Python integration tests (approve_test.py, hints_test.py)."""

# Three features, each with its file: beta waits on alpha, gamma on nothing.
ALPHA_BETA_GAMMA = """# P
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
