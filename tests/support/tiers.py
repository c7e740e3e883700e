"""Test tiers: `live` (a vertex-local process or a trained model) and `slow` (trains).

A test is live when its fixture closure (`item.fixturenames`) holds a fixture declared live here, and slow and
live when it holds one declared slow (a fixture that trains hands its users a trained model). The declaration
sits beside the fixture:

    @pytest.fixture(scope="session")
    @tiers.live
    def vertex_local(...): ...

A test that starts a server or runs the trainer itself, without such a fixture, says so:
`@pytest.mark.live`, `@pytest.mark.slow`. tests/conftest.py marks the rest at collection.

The guards make a miss loud: a test not marked for it that starts a vertex-local or trainer process
(refuse_process) or has the session server run a training job (new_training_jobs) fails.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from tests.support.vertex_local_server import LOCATION, PROJECT

LIVE, SLOW = "live", "slow"
MODULE_TIERS = {"vertex_local": LIVE, "trainer.task": SLOW}  # what `python -m <module>` needs
TRAINER_ENTRYPOINT = "trainer.task"

# Fixture name -> where it is defined and the tiers it gives; filled by the decorators below.
FIXTURE_TIERS: dict[str, list[Declared]] = {}

Fixture = TypeVar("Fixture", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Declared:
    """A fixture's tiers, and the file that defines it: a name means this fixture only where it is visible."""

    path: Path
    tiers: frozenset[str]

    def visible_from(self, test: Path) -> bool:
        """pytest's own rule: a test module's fixture is its own, a conftest's serves the folder under it."""
        if self.path.name == "conftest.py":
            return test.is_relative_to(self.path.parent)
        return self.path == test


class TierError(RuntimeError):
    """A test did something its tier markers do not allow: a fixture or test is missing its declaration."""


def declare(fixture: Fixture, tiers: frozenset[str]) -> Fixture:
    """Record the tiers of a fixture under the name tests ask for it by; put it below @pytest.fixture."""
    if not inspect.isfunction(fixture):
        raise TypeError(f"put the @tiers declaration below @pytest.fixture, on the function itself: {fixture!r}")
    code = fixture.__code__
    FIXTURE_TIERS.setdefault(fixture.__name__, []).append(Declared(Path(code.co_filename).resolve(), tiers))
    return fixture


def live(fixture: Fixture) -> Fixture:
    """A fixture that starts a vertex-local process (or hands over one): its users are live."""
    return declare(fixture, frozenset({LIVE}))


def slow(fixture: Fixture) -> Fixture:
    """A fixture that trains: its users are slow, and live, since they get a trained model."""
    return declare(fixture, frozenset({LIVE, SLOW}))


def mark(test: Path, fixturenames: Iterable[str]) -> set[str]:
    """The tiers the fixture closure of a test in this file gives it."""
    return {
        tier
        for name in fixturenames
        for declared in FIXTURE_TIERS.get(name, ())
        if declared.visible_from(test.resolve())
        for tier in declared.tiers
    }


def process_tier(argv: Sequence[Any] | str | bytes) -> tuple[str, str] | None:
    """(tier, module) a command line needs when it is `... -m vertex_local ...` or `... -m trainer.task ...`."""
    if isinstance(argv, str | bytes):
        return None  # a shell string: the project never starts its processes that way
    words = [str(word) for word in argv]
    for flag, module in itertools.pairwise(words):
        if flag == "-m" and module in MODULE_TIERS:
            return MODULE_TIERS[module], module
    return None


def refuse_process(item: pytest.Item | None, argv: Sequence[Any] | str | bytes) -> None:
    """Raise TierError when the running test starts a vertex-local or trainer process it is not marked for."""
    needed = process_tier(argv)
    if item is not None and needed is not None and item.get_closest_marker(needed[0]) is None:
        raise TierError(
            f"{item.nodeid} runs `python -m {needed[1]}` but is not marked {needed[0]}: mark the test "
            f"@pytest.mark.{needed[0]}, or declare the fixture that starts it @tiers.{needed[0]} "
            "(tests/support/tiers.py)"
        )


def new_training_jobs(before: int, after: int, item: pytest.Item) -> None:
    """Raise TierError when the session server ran training jobs for a test not marked slow."""
    if after > before and item.get_closest_marker(SLOW) is None:
        raise TierError(
            f"{item.nodeid} had vertex-local run {after - before} training job(s) but is not marked slow: mark the "
            "test @pytest.mark.slow, or declare the fixture that trains @tiers.slow (tests/support/tiers.py)"
        )


def training_jobs(jobs: list[dict[str, Any]]) -> int:
    """How many of a customJobs listing run the trainer."""
    return sum(
        TRAINER_ENTRYPOINT in pool.get("containerSpec", {}).get("command", [])
        for job in jobs
        for pool in job.get("jobSpec", {}).get("workerPoolSpecs", [])
    )


@dataclasses.dataclass
class Running:
    """What the guards need to know about the test being run."""

    item: pytest.Item | None = None
    session_url: str | None = None  # the session's vertex-local, once a test has started it
    training_jobs: int = 0  # trainer jobs on it before the current test


RUNNING = Running()


def refuse_untiered_processes(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen":
        refuse_process(RUNNING.item, args[1])


def watches_jobs(item: pytest.Item) -> bool:
    """Tests on the session's server that may not train: the ones whose jobs are counted."""
    return "vertex_local" in getattr(item, "fixturenames", ()) and item.get_closest_marker(SLOW) is None


def count_training_jobs() -> int:
    if RUNNING.session_url is None:
        return 0
    answer = requests.get(f"{RUNNING.session_url}/v1/projects/{PROJECT}/locations/{LOCATION}/customJobs", timeout=10)
    answer.raise_for_status()
    return training_jobs(answer.json().get("customJobs", []))
