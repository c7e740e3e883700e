"""How `make test` hands tests to its xdist workers: a module at a time, so a module's fixtures (a demo run, a
deployed model, a server of its own) are built once; and every module that uses the session server's training runs
(SERVER_RUNS below: custom jobs on a worker's own vertex-local, so not shareable through once.py) on the
same worker, so they are trained once.

pytest-xdist's `--dist loadgroup` cannot do this under pytest 9: it writes its group suffix to `Item._nodeid`, which
pytest 9 no longer reads (the node id lives in `Item._id`), so every `xdist_group` mark was silently ignored and a
module's tests were handed out one at a time, often to both workers (one run spent 150 s on such second builds).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScopeScheduling

# tests/scripts/conftest.py's runs, trained by CustomJobs on a worker's own session server, so not shareable between
# workers (tests/support/once.py): the modules that use them run on one worker. Named here, not imported from the
# fixtures' modules: the xdist controller loads this file, and they import the SDKs (seconds of CPU each run).
SERVER_RUNS = frozenset({"run_a"})  # run_b and bad_run are trained once per run and staged per worker
SERVER_RUNS_SCOPE = "server-runs"
USES_SERVER_RUNS = re.compile(r"\b(" + "|".join(sorted(SERVER_RUNS)) + r")\b")
# Packages whose conftest builds, once per worker, what all their modules use (the console's own vertex-local, its
# demo-like rollout with two deployed models, a browser): one unit, so they are built once per run, not on each worker.
SHARED_FIXTURE_PACKAGES = ("tests/vertex_local/console/",)
# The unit tier's longest modules (`--durations`, each a few to 30 s of a worker's time: TensorFlow imported in fresh
# interpreters, a venv linked, a property test), about longest first. Handed out before every other unit, so that at
# the run's end the workers share out short modules instead of one running a long one while the other sits idle (at the
# end of the collection's own order, test_instances.py and test_container_image.py kept one worker busy 80 s alone).
LONG_UNITS = (
    "tests/scripts/test_demo_quiet.py",
    # in-process, second: the two that import TensorFlow in fresh interpreters the most do not start together
    "tests/vertex_local/serving/test_instances.py",
    "tests/test_native_logs.py",
    "tests/vertex_local/serving/test_container_image.py",
    "tests/trainer/test_loop.py",
    "tests/test_not_run.py",
    "tests/trainer/test_task.py",
    "tests/test_cloud_run.py",
    "tests/test_scheduling.py",
    "tests/trainer/test_export.py",
)


@functools.cache
def module_scope(module: str, rootdir: Path) -> str:
    """A test module's work unit: its package for one in SHARED_FIXTURE_PACKAGES, SERVER_RUNS_SCOPE for one that
    names a SERVER_RUNS fixture, else the module."""
    for package in SHARED_FIXTURE_PACKAGES:
        if module.startswith(package):
            return package
    path = rootdir / module
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:  # not a file (a doctest id, a module collected from elsewhere): it is its own unit
        return module
    return SERVER_RUNS_SCOPE if USES_SERVER_RUNS.search(text) else module


class ModuleScheduling(LoadScopeScheduling):
    """LoadScopeScheduling whose work unit is a whole module, modules using SERVER_RUNS together, and a package of
    SHARED_FIXTURE_PACKAGES whole."""

    def _split_scope(self, nodeid: str) -> str:
        return module_scope(nodeid.split("::", 1)[0], self.config.rootpath)

    def _assign_work_unit(self, node: Any) -> None:
        self.workqueue.move_to_end(next_unit(self.workqueue), last=False)
        super()._assign_work_unit(node)

    def _reschedule(self, node: Any) -> None:
        # xdist's own checks (a node shutting down, an empty queue), but a unit only for a node blocked on its last test
        if node.shutting_down or not self.workqueue or wants_another_unit(self._pending_of(self.assigned_work[node])):
            super()._reschedule(node)


def next_unit(queued: Iterable[str]) -> str:
    """The work unit to hand out next: the first of LONG_UNITS still queued, else the first queued."""
    units = list(queued)
    return next((unit for unit in LONG_UNITS if unit in units), units[0])


def wants_another_unit(pending: int) -> bool:
    """Whether a worker with `pending` tests not yet reported gets another unit now. A worker runs a test only once it
    knows the next (its teardown depends on it), so one with a single test left is blocked until it gets more or is
    shut down; xdist's own threshold, 2, hands a unit to a worker still running its second-last test, where it waits
    out that test and the last (one long test: a minute) while the other worker may be idle."""
    return pending <= 1
