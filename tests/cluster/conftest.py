"""The harness tests: a skipped test fails the run unless PORTICO_ALLOW_SKIP=1
(tests/skip_policy.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skip_policy  # noqa: E402


def pytest_configure(config):
    skip_policy.register(config)
