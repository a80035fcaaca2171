"""pytest plugin for Portico's Python suites (tests/e2e, tests/cluster,
tests/cluster_e2e): a test that did not run is not a pass.

pytest counts a skipped test (pytest.skip, skipif, importorskip, a skipped
module) and an xfail-marked one (xfailed or xpassed) apart from the failures
and exits 0. With this plugin each of them is listed with its reason at the
end of the run, and the run exits 1 unless PORTICO_ALLOW_SKIP=1 is set.

Each suite's conftest.py calls register(config) from pytest_configure, so the
rule holds however pytest is started.
"""

import os

import pytest

NAME = "portico-skip-policy"
ALLOW_ENV = "PORTICO_ALLOW_SKIP"


def allowed():
    return os.environ.get(ALLOW_ENV) == "1"


def _reason(report):
    if hasattr(report, "wasxfail"):
        return report.wasxfail or "(no reason given)"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, reason = longrepr
        return f"{reason.removeprefix('Skipped: ')} ({path}:{lineno + 1})"
    return str(longrepr)


class SkipPolicy:
    def __init__(self):
        self.untested = []  # (outcome, node id, reason)

    def _note(self, report):
        if hasattr(report, "wasxfail"):
            outcome = "XPASS" if report.passed else "XFAIL"
        elif report.skipped:
            outcome = "SKIPPED"
        else:
            return
        self.untested.append((outcome, report.nodeid, _reason(report)))

    def pytest_collectreport(self, report):
        self._note(report)

    def pytest_runtest_logreport(self, report):
        # an xpass is reported passed in the call phase only; a skip once, in the
        # phase that raised it
        if report.when == "call" or report.skipped:
            self._note(report)

    def pytest_sessionfinish(self, session, exitstatus):
        if self.untested and not allowed() and session.exitstatus in (
                pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not self.untested:
            return
        tr = terminalreporter
        tr.write_sep("=", f"{len(self.untested)} not run as a test")
        for outcome, nodeid, reason in self.untested:
            tr.write_line(f"{outcome} {nodeid}: {reason}")
        if allowed():
            tr.write_line(f"allowed by {ALLOW_ENV}=1")
        else:
            tr.write_line(f"a skipped or xfail test fails the run (set {ALLOW_ENV}=1 to allow)",
                          red=True, bold=True)


def register(config):
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(SkipPolicy(), NAME)
