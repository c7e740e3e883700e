"""tests/tiers.py: what makes a test live or slow, and the guards that fail a test its markers do not cover.

The example functions are never called (they would start servers and train); reached() only reads them.
The tests look them up in EXAMPLES by name, so that the tests themselves do not reach them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import demo
from tests import tiers
from tests.conftest import start_vertex_local

LIVE, SLOW = {tiers.LIVE}, {tiers.SLOW}


def starts_a_server(tmp_path: Path) -> object:
    return start_vertex_local(tmp_path)


def calls_a_helper_that_starts_a_server(tmp_path: Path) -> object:
    return [starts_a_server(tmp_path)]


def runs_the_trainer() -> object:
    return subprocess.run([sys.executable, "-m", "trainer.task", "--epochs", "1"], check=False)


def spells_out_a_server() -> object:
    return subprocess.Popen([sys.executable, "-m", "vertex_local", "serve"])


def starts_the_demos_server(url: str, state_dir: Path) -> object:
    return demo.start_server(url, state_dir)


def runs_the_demo() -> int:
    return demo.main([])


def only_reads_the_demo() -> object:
    return lambda: demo.demo_identity(None, None)  # type: ignore[arg-type]


def trains_in_a_lambda() -> object:
    return lambda: [sys.executable, "-m", "trainer.task"]


def runs_something_else() -> object:
    return subprocess.run([sys.executable, "-m", "scripts.gate", "--help"], check=False)


class Helper:
    """A test helper class: its methods count too."""

    def start(self, tmp_path: Path) -> object:
        return start_vertex_local(tmp_path)


def uses_a_helper_class(tmp_path: Path) -> object:
    return Helper().start(tmp_path)


EXAMPLES = {function.__name__: function for function in [
    starts_a_server, calls_a_helper_that_starts_a_server, runs_the_trainer, spells_out_a_server,
    starts_the_demos_server, runs_the_demo, only_reads_the_demo, trains_in_a_lambda, runs_something_else,
    uses_a_helper_class,
]}  # fmt: skip


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("starts_a_server", LIVE),
        ("calls_a_helper_that_starts_a_server", LIVE),
        ("runs_the_trainer", SLOW),
        ("spells_out_a_server", LIVE),
        ("starts_the_demos_server", LIVE),
        ("runs_the_demo", LIVE | SLOW),  # the demo starts its own vertex-local and trains
        ("only_reads_the_demo", set()),
        ("trains_in_a_lambda", SLOW),
        ("runs_something_else", set()),
        ("uses_a_helper_class", LIVE),
    ],
)
def test_reached_finds_servers_and_training_through_helpers_modules_and_lambdas(example: str, expected: set) -> None:
    assert tiers.reached(EXAMPLES[example]) == expected


@pytest.mark.parametrize(
    ("argv", "needed"),
    [
        (["/venv/bin/python", "-m", "vertex_local", "serve", "--port", "1"], ("live", "vertex_local")),
        (["python", "-m", "vertex_local", "start"], ("live", "vertex_local")),
        ([Path("python"), "-m", "trainer.task", "--epochs", "1"], ("slow", "trainer.task")),
        (["python", "-m", "scripts.gate"], None),
        (["python", "-c", "import trainer.task"], None),
        ("python -m trainer.task", None),
    ],
)
def test_process_tier_reads_the_module_a_command_runs(argv: object, needed: tuple[str, str] | None) -> None:
    assert tiers.process_tier(argv) == needed  # type: ignore[arg-type]


def test_an_unmarked_test_that_starts_the_trainer_is_stopped_before_the_process_starts(
    request: pytest.FixtureRequest,
) -> None:
    assert request.node.get_closest_marker(tiers.SLOW) is None
    module = ".".join(["trainer", "task"])  # assembled at run time, so the detection misses it: the guard must not
    with pytest.raises(tiers.TierError, match=r"runs `python -m trainer\.task` but is not marked slow"):
        subprocess.run([sys.executable, "-m", module, "--help"], check=False)


def test_an_unmarked_test_that_starts_vertex_local_is_stopped_before_the_process_starts(
    request: pytest.FixtureRequest,
) -> None:
    assert request.node.get_closest_marker(tiers.LIVE) is None
    module = "_".join(["vertex", "local"])
    with pytest.raises(tiers.TierError, match=r"runs `python -m vertex_local` but is not marked live"):
        subprocess.Popen([sys.executable, "-m", module, "serve", "--port", "9"])


def test_other_processes_are_let_through(request: pytest.FixtureRequest) -> None:
    done = subprocess.run([sys.executable, "-c", "print('fine')"], capture_output=True, text=True, check=True)
    assert done.stdout == "fine\n"


def test_training_jobs_on_the_server_fail_an_unmarked_test(request: pytest.FixtureRequest) -> None:
    tiers.new_training_jobs(3, 3, request.node)  # none new: nothing to say
    with pytest.raises(tiers.TierError, match=r"had vertex-local run 2 training job\(s\) but is not marked slow"):
        tiers.new_training_jobs(3, 5, request.node)


def test_training_jobs_are_the_jobs_whose_command_runs_the_trainer() -> None:
    def job(*commands: list[str]) -> dict:
        return {"jobSpec": {"workerPoolSpecs": [{"containerSpec": {"command": command}} for command in commands]}}

    listing = [
        job(["python", "-m", "trainer.task"]),
        job(["python", "-c", "print(1)"]),
        job(["python", "-m", "trainer.task"], ["python", "-m", "trainer.task"]),  # chief and workers
        {"displayName": "no spec"},
    ]
    assert tiers.training_jobs(listing) == 3


def test_this_module_is_unit_tier(request: pytest.FixtureRequest) -> None:
    """Reading the examples does not make the tests that read them live or slow."""
    assert tiers.mark(request.node) == set()
    assert request.node.get_closest_marker(tiers.LIVE) is None and request.node.get_closest_marker(tiers.SLOW) is None
