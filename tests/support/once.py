"""Built once per test run, whichever xdist worker asks first: a trained model folder every worker reads.

`make test` runs the tests on several workers (pytest-xdist), each a process with its own session fixtures. A
session fixture that trains would train once per worker; `built_once` trains once per run instead, under a file
lock in the run's shared temporary folder, and every later caller, on any worker, gets the finished folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DONE = ".built"  # written last: a folder without it was left by a build that failed, and is built again


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's temporary folder: a worker's own basetemp is a child of the one the controller made."""
    basetemp = tmp_path_factory.getbasetemp()
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or when the process dies
        yield


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """`<run root>/once/<name>`, filled by `build(folder)` the first time any worker asks for it."""
    root = run_root(tmp_path_factory) / "once"
    root.mkdir(exist_ok=True)
    folder = root / name
    with file_lock(root / f"{name}.lock"):
        if not (folder / DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / DONE).touch()
    return folder


def lock_path(folder: Path) -> Path:
    """The lock of a folder kept between runs: beside no file of the repository, one per folder on this machine."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"installed-once-{digest}.lock"


def installed_once(folder: Path, stamp: str, install: Callable[[], None]) -> Path:
    """`folder`, filled by `install()` unless `folder/stamp` says an earlier install finished. Two workers asking at
    once would otherwise both install into it (`venv --clear` under the other's pip); here the second waits for
    the first and then finds its stamp."""
    with file_lock(lock_path(folder)):
        if not (folder / stamp).exists():
            install()
            (folder / stamp).touch()
    return folder
