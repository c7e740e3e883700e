"""tests/support/not_run.py: a test this machine cannot run is named in the run's summary, and as a GitHub warning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.not_run import NOT_RUN_HERE, SECTION

REPO = Path(__file__).resolve().parent.parent


def run_pytest(tmp_path: Path, workers: str, github: bool) -> str:
    """A run of its own (plugin alone, no conftest) on a module with one test that cannot run and one other skip."""
    (tmp_path / "test_some.py").write_text(
        textwrap.dedent(f"""
        import pytest

        def test_needs_a_namespace():
            pytest.skip({NOT_RUN_HERE + " no namespace here"!r})

        def test_skipped_for_another_reason():
            pytest.skip("not today")

        def test_runs():
            pass
    """)
    )
    env = {key: value for key, value in os.environ.items() if key != "GITHUB_ACTIONS"}
    env |= {"GITHUB_ACTIONS": "true"} if github else {}
    command = [sys.executable, "-m", "pytest", "-p", "tests.support.not_run", "-p", "no:cacheprovider", "-n", workers]
    command += ["--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("workers", ["0", "2"])  # a skip's report crosses from an xdist worker as a list
def test_a_test_that_could_not_run_is_listed_in_a_section_of_its_own(tmp_path: Path, workers: str):
    out = run_pytest(tmp_path, workers, github=False)
    section = out[out.index(SECTION) :]
    assert f"test_some.py::test_needs_a_namespace: {NOT_RUN_HERE} no namespace here" in section
    assert "test_skipped_for_another_reason" not in section.split("short test summary")[0]
    assert "::warning" not in out


def test_on_github_actions_it_is_also_a_warning_annotation(tmp_path: Path):
    out = run_pytest(tmp_path, "0", github=True)
    assert f"::warning title={SECTION}::1 tests did not run: no namespace here" in out.splitlines()


def test_a_run_without_such_a_test_has_no_section(tmp_path: Path):
    (tmp_path / "test_some.py").write_text("def test_runs():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.support.not_run", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and SECTION not in done.stdout
