"""The upstream runners read the version they test from the project's pins, following `-r` as pip does (issue 22:
the google-cloud-storage pin moved to trainer/requirements.txt and `make test-upstream-storage` stopped at once).

Run: .venv/bin/pytest tests/upstream/test_pins.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.upstream.storage.run import pinned_version


def test_the_storage_suite_tests_the_client_version_the_project_installs() -> None:
    trainer_pins = Path(__file__).resolve().parents[2] / "trainer" / "requirements.txt"
    assert f"google-cloud-storage=={pinned_version('google-cloud-storage')}" in trainer_pins.read_text()


def test_pins_are_found_through_nested_and_relative_includes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "requirements.txt").write_text("# top\n-r sub/base.txt\nother==1.0\n")
    (tmp_path / "sub" / "base.txt").write_text("--requirement=more.txt\n")
    (tmp_path / "sub" / "more.txt").write_text("Google-Cloud-Storage == 3.1.4  # the client\n")
    assert pinned_version("google-cloud-storage", tmp_path / "requirements.txt") == "3.1.4"


def test_an_include_cycle_without_the_pin_stops_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\nnumpy==2.0\n")
    with pytest.raises(SystemExit, match=r"a\.txt pins no google-cloud-storage"):
        pinned_version("google-cloud-storage", tmp_path / "a.txt")
