"""tests/support/once.py: a folder kept between runs is installed by one worker at a time, and once."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tests.support.once import installed_once, lock_path


def held_by_another(lock: Path) -> bool:
    """Whether another open file holds the lock: what a second worker's flock would wait on."""
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def test_the_install_runs_under_the_folders_lock_and_only_once(tmp_path: Path):
    folder, seen = tmp_path / ".venv-x", []

    def install() -> None:
        seen.append(held_by_another(lock_path(folder)))
        folder.mkdir()

    assert installed_once(folder, ".installed-1", install) == folder
    installed_once(folder, ".installed-1", install)
    assert seen == [True]  # a second worker would have waited, then found the stamp
    assert not held_by_another(lock_path(folder))  # and the lock is let go after


def test_a_failed_install_leaves_no_stamp_and_the_next_caller_installs_again(tmp_path: Path):
    folder, calls = tmp_path / ".venv-x", []

    def failing() -> None:
        calls.append("failed")
        folder.mkdir()
        raise RuntimeError("pip failed")

    with pytest.raises(RuntimeError):
        installed_once(folder, ".installed-1", failing)
    installed_once(folder, ".installed-1", lambda: calls.append("installed"))
    installed_once(folder, ".installed-2", lambda: calls.append("another version"))  # a new stamp: again
    assert calls == ["failed", "installed", "another version"]


def test_each_folder_has_its_own_lock(tmp_path: Path):
    assert lock_path(tmp_path / "a") != lock_path(tmp_path / "b")
    assert lock_path(tmp_path / "a") == lock_path(tmp_path / "x" / ".." / "a")
