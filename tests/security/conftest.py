"""pytest setup of the hostile-input corpus (README.md here).

A skipped test fails the run unless PORTICO_ALLOW_SKIP=1 (tests/skip_policy.py),
and the corpus totals are printed at the end of every run, -q or not.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skip_policy  # noqa: E402

TOTALS = []  # lines test_corpus.py leaves for the summary


def pytest_configure(config):
    skip_policy.register(config)


def pytest_terminal_summary(terminalreporter):
    if TOTALS:
        terminalreporter.section("hostile-input corpus")
        for line in TOTALS:
            terminalreporter.write_line(line)
