"""tests/support/tiers.py: the tiers a test's fixtures give it, and the guards that fail a test its markers miss.

The example fixtures below are declared, never requested: a test here asks for none of them, so none of them runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import tiers

LIVE, SLOW = {tiers.LIVE}, {tiers.SLOW}
HERE = Path(__file__).resolve()


@pytest.fixture
@tiers.live
def example_server() -> None:
    raise AssertionError("declared for the tests below, never requested")


@pytest.fixture
@tiers.slow
def example_trained_model() -> None:
    raise AssertionError("declared for the tests below, never requested")


@pytest.mark.parametrize(
    ("fixturenames", "expected"),
    [
        (["tmp_path", "example_server"], LIVE),
        (["example_trained_model"], LIVE | SLOW),  # a fixture that trains hands over a trained model
        (["example_server", "example_trained_model", "monkeypatch"], LIVE | SLOW),
        (["tmp_path", "monkeypatch", "request"], set()),
        (["vertex_local"], LIVE),  # tests/conftest.py's: seen from every test module
        (["trained_model_dir"], LIVE | SLOW),
    ],
)
def test_the_fixture_closure_gives_the_tiers(fixturenames: list[str], expected: set[str]) -> None:
    assert tiers.mark(HERE, fixturenames) == expected


def test_a_test_modules_fixture_gives_its_tier_to_that_modules_tests_only() -> None:
    assert tiers.mark(HERE, ["example_server"]) == LIVE
    elsewhere = HERE.parent / "vertex_local" / "test_app.py"
    assert tiers.mark(elsewhere, ["example_server"]) == set()  # a `server` fixture elsewhere is another fixture


def test_a_conftests_fixture_gives_its_tier_to_the_folder_under_it() -> None:
    declared = tiers.Declared(HERE.parent / "scripts" / "conftest.py", frozenset(LIVE))
    assert declared.visible_from(HERE.parent / "scripts" / "report" / "test_x.py")
    assert not declared.visible_from(HERE.parent / "trainer" / "test_x.py")
    assert not declared.visible_from(HERE)


def test_the_declaration_stays_on_a_plain_function_under_pytest_fixture() -> None:
    def some_fixture() -> None: ...

    with pytest.raises(TypeError, match=r"below @pytest\.fixture"):
        tiers.live(pytest.fixture(some_fixture))
    assert tiers.FIXTURE_TIERS.get("some_fixture") is None


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
    """Declaring fixtures does not make the tests beside them live or slow: only asking for them does. The
    collection hook (tests/conftest.py) reads item.fixturenames, pytest's public closure."""
    assert tiers.mark(request.node.path, request.node.fixturenames) == set()
    assert request.node.get_closest_marker(tiers.LIVE) is None and request.node.get_closest_marker(tiers.SLOW) is None
