"""Shared fixtures: a real vertex-local process on a free port, the SDK pointed at it, a trained model.

    vertex_local       session: the running server (VertexLocal: url, port, state_dir, log_path, ...)
    vertex             per test: aiplatform.init(...) against it, STORAGE_EMULATOR_HOST set, fast job polling
    unique_name        per test: a display name no other test uses
    trained_model_dir  session: a SavedModel the real trainer trained (baseline, 3 epochs, mnist-sample)
    mnist_test_digits  session: real MNIST test digits and labels from trainer.data

Helpers are in tests/support/: vertex_local_server.py (VertexLocal, start_vertex_local for a server of a test's
own, free_port), training.py (the trainer in a subprocess), tiers.py (the tiers and their guards).

Tiers (tests/support/tiers.py): a test whose fixtures start a vertex-local process or hand over a trained model
(declared @tiers.live / @tiers.slow beside them) is marked `live`, one whose fixtures train `slow`, here at
collection; a test that does so itself carries @pytest.mark.live / slow; `make test-unit` runs the rest. The
guards below fail a test that starts such a process, or has the session server train, without the marker for it.
"""

from __future__ import annotations

import gc
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support import not_run, tiers
from tests.support.tiers import RUNNING, count_training_jobs, refuse_untiered_processes, watches_jobs
from tests.support.training import baseline_once
from tests.support.vertex_local_server import JOB_POLL_S, VertexLocal, start_vertex_local


def pytest_configure(config: pytest.Config) -> None:
    # An audit hook sees every subprocess this process starts, whoever starts it (our helpers, the demo's
    # daemon.start, a test's own subprocess.run), so no path around the tier guard is left.
    sys.addaudithook(refuse_untiered_processes)
    # The summary's list of tests this machine did not run.
    config.pluginmanager.register(not_run, "tests.support.not_run")


def collects(config: pytest.Config) -> bool:
    """Whether this process collects the tests: an xdist worker, or pytest without workers (not xdist's controller)."""
    return hasattr(config, "workerinput") or not config.getoption("numprocesses", None)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Collecting imports TensorFlow, Keras and the SDKs: hundreds of thousands of objects that live as long as the
    # process, which set off full collections that free next to nothing (native_logs.collector_paused). The
    # collector is off until collection ends, then everything collected is frozen out of its later walks.
    if collects(session.config):
        gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    if collects(session.config):
        gc.freeze()
        gc.enable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function):
            for tier in sorted(tiers.mark(item.path, item.fixturenames)):
                if item.get_closest_marker(tier) is None:
                    item.add_marker(tier)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadscope` (make test): a module per work unit, SERVER_RUNS modules together (support/scheduling.py)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from tests.support.scheduling import ModuleScheduling

    return ModuleScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    RUNNING.item = item
    try:
        return (yield)
    finally:
        RUNNING.item = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    # Counted before the setup: a module-scoped fixture may train for its first test.
    RUNNING.training_jobs = count_training_jobs() if watches_jobs(item) else 0
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield
    if watches_jobs(item):
        tiers.new_training_jobs(RUNNING.training_jobs, count_training_jobs(), item)
    return result


@pytest.fixture(scope="session")
@tiers.live
def vertex_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    server = start_vertex_local(tmp_path_factory.mktemp("vertex-local") / "state")
    RUNNING.session_url = server.url
    yield server
    RUNNING.session_url = None
    server.stop()


@pytest.fixture
def vertex(vertex_local: VertexLocal, monkeypatch: pytest.MonkeyPatch) -> VertexLocal:
    """The SDK initialised against the session's server, with fast job polling."""
    from google.cloud.aiplatform import jobs

    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", JOB_POLL_S)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex_local.url)
    vertex_local.init_sdk()
    return vertex_local


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A display name no other test shares (resources outlive tests on the session's server)."""
    return f"{request.node.name[:40].strip('_[]')}-{uuid.uuid4().hex[:8]}".replace("_", "-").lower()


@pytest.fixture(scope="session")
@tiers.slow
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel + metrics.json from the real trainer: baseline, 3 epochs on mnist-sample (seconds)."""
    return baseline_once(tmp_path_factory, "trained", "--epochs", "3")


@pytest.fixture(scope="session")
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """Held-out real MNIST digits (float32 [n, 28, 28] in [0, 1]) and their labels."""
    from trainer.data import load_dataset

    _, (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    return x_test, y_test
