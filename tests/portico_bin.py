"""The Portico binary the Python suites run: PORTICO_BIN, else the
repository's ./portico. A missing one fails the run, never skips it."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def portico_binary():
    p = Path(os.environ.get("PORTICO_BIN") or REPO / "portico")
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(f"portico binary not found or not executable at {p} "
                    f"(build it with `make -C {REPO}` or set PORTICO_BIN)", pytrace=False)
    return p
