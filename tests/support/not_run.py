"""Tests that could not run on this machine, said loudly at the end of the run, and as a GitHub Actions warning.

Some tests need what a machine may refuse: the full-disk tests a mount namespace for their tmpfs (root's
`unshare --mount`, or an unprivileged user namespace, which Ubuntu 24.04 and so GitHub's runners restrict
through AppArmor). Such a test skips with a reason that starts with NOT_RUN_HERE, and the run's summary lists
each of them in a section of its own, so a green run that tested no full disk says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

NOT_RUN_HERE = "not run on this machine:"
SECTION = "tests that did NOT run on this machine"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    not_run = [
        (report.nodeid, reason)
        for report in terminalreporter.stats.get("skipped", [])
        if (reason := skip_reason(report)).startswith(NOT_RUN_HERE)
    ]
    if not not_run:
        return
    terminalreporter.section(SECTION, sep="!", red=True, bold=True)
    for nodeid, reason in not_run:
        terminalreporter.line(f"{nodeid}: {reason}", red=True, bold=True)
    if os.environ.get("GITHUB_ACTIONS") == "true":  # an annotation on the run's page, not only in its log
        reasons = "; ".join(sorted({reason.removeprefix(NOT_RUN_HERE).strip() for _, reason in not_run}))
        terminalreporter.line(f"::warning title={SECTION}::{len(not_run)} tests did not run: {reasons}")


def skip_reason(report: pytest.TestReport) -> str:
    """A skip's reason; its longrepr is (path, line, 'Skipped: reason'), a list once it has crossed from a worker."""
    longrepr = report.longrepr
    if isinstance(longrepr, Sequence) and not isinstance(longrepr, str) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return ""
