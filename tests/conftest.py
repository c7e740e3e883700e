"""Shared fixtures: a real vertex-local process on a free port, the SDK pointed at it, a trained model.

    vertex_local       session: the running server (VertexLocal: url, port, state_dir, log_path, ...)
    vertex             per test: aiplatform.init(...) against it, STORAGE_EMULATOR_HOST set, fast job polling
    unique_name        per test: a display name no other test uses
    trained_model_dir  session: a SavedModel the real trainer trained (baseline, 3 epochs, mnist-sample)
    mnist_test_digits  session: real MNIST test digits and labels from trainer.data

Helpers: start_vertex_local(state_dir) starts another server (restart tests); VertexLocal.stage_model()
uploads a model directory through the storage API and returns its gs:// URI.

Tiers (tests/support/tiers.py): a test whose fixtures start a vertex-local process or hand over a trained model
(declared @tiers.live / @tiers.slow beside them) is marked `live`, one whose fixtures train `slow`, here at
collection; a test that does so itself carries @pytest.mark.live / slow; `make test-unit` runs the rest. The
guards below fail a test that starts such a process, or has the session server train, without the marker for it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.support import not_run, tiers
from tests.support.once import built_once

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "test-project"
LOCATION = "us-central1"  # the SDK checks regions against its own list, offline
BUCKET = "test-bucket"
START_TIMEOUT_S = 60.0  # a restart loads every deployed model before it answers /healthz
STOP_TIMEOUT_S = 20.0
JOB_POLL_S = 0.2  # google.cloud.aiplatform.jobs polls every 5 s by default
TRAINER_TIMEOUT_S = 300  # a few epochs of the small models take seconds; a hung trainer must not hang the run


@dataclasses.dataclass
class Running:
    """What the guards need to know about the test being run."""

    item: pytest.Item | None = None
    session_url: str | None = None  # the session's vertex-local, once a test has started it
    training_jobs: int = 0  # trainer jobs on it before the current test


RUNNING = Running()


def pytest_configure(config: pytest.Config) -> None:
    # An audit hook sees every subprocess this process starts, whoever starts it (our helpers, the demo's
    # daemon.start, a test's own subprocess.run), so no path around the tier guard is left.
    sys.addaudithook(refuse_untiered_processes)
    # The summary's list of tests this machine did not run.
    config.pluginmanager.register(not_run, "tests.support.not_run")


def refuse_untiered_processes(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen":
        tiers.refuse_process(RUNNING.item, args[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function):
            for tier in sorted(tiers.mark(item.path, item.fixturenames)):
                if item.get_closest_marker(tier) is None:
                    item.add_marker(tier)


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


def watches_jobs(item: pytest.Item) -> bool:
    """Tests on the session's server that may not train: the ones whose jobs are counted."""
    return "vertex_local" in getattr(item, "fixturenames", ()) and item.get_closest_marker(tiers.SLOW) is None


def count_training_jobs() -> int:
    if RUNNING.session_url is None:
        return 0
    answer = requests.get(f"{RUNNING.session_url}/v1/projects/{PROJECT}/locations/{LOCATION}/customJobs", timeout=10)
    answer.raise_for_status()
    return tiers.training_jobs(answer.json().get("customJobs", []))


def free_port() -> int:
    """A loopback port nothing listens on, held back from everyone else for about a minute.

    A port found free by binding and closing a socket is free for anyone: another worker, or the kernel picking
    an outgoing connection's port, could take it before the server that was meant to bind it does. This one is
    left in TIME_WAIT by a connection its listener accepted and closed first: while it lasts (60 s on Linux)
    the kernel hands the port to no one asking for any port (bind to port 0, connect), and a plain bind of it
    fails, but a server binding it by number with SO_REUSEADDR (uvicorn, asyncio) gets it. The technique of
    Yelp's ephemeral-port-reserve.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # this end closes first, so this end's side of the connection holds TIME_WAIT
    return port


@dataclasses.dataclass
class VertexLocal:
    """A `python -m vertex_local serve` process and how to reach it."""

    port: int
    state_dir: Path
    log_path: Path
    process: subprocess.Popen | None = None
    project: str = PROJECT
    location: str = LOCATION
    bucket: str = BUCKET

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def api(self, path: str) -> str:
        """The full URL of a Vertex v1 path under this project and location."""
        return f"{self.url}/v1/{self.parent}/{path}"

    def start(self) -> None:
        command = [sys.executable, "-m", "vertex_local", "serve", "--port", str(self.port)]
        command += ["--state-dir", str(self.state_dir)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vertex-local exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"vertex-local did not answer /healthz in {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> int:
        """Ctrl-C the server (graceful shutdown) and return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """Crash the server: SIGKILL, no shutdown code runs."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def init_sdk(self) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform

        aiplatform.init(
            project=self.project,
            location=self.location,
            staging_bucket=f"gs://{self.bucket}",
            api_endpoint=self.url,
            api_transport="rest",
            credentials=AnonymousCredentials(),
        )

    def storage_client(self):  # -> google.cloud.storage.Client
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        with pytest.MonkeyPatch.context() as patch:  # the client reads it when it is built
            patch.setenv("STORAGE_EMULATOR_HOST", self.url)
            return storage.Client(project=self.project, credentials=AnonymousCredentials())

    def stage_model(self, model_dir: Path, prefix: str) -> str:
        """Upload a model directory through the storage API; returns gs://BUCKET/<prefix>/model."""
        bucket = self.storage_client().bucket(self.bucket)
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                bucket.blob(f"{prefix}/model/{path.relative_to(model_dir)}").upload_from_filename(str(path))
        return f"gs://{self.bucket}/{prefix}/model"


def start_vertex_local(state_dir: Path, port: int | None = None) -> VertexLocal:
    """Start a vertex-local server with its own state dir; the caller stops it. Live tests only (tiers)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    server = VertexLocal(port=port or free_port(), state_dir=state_dir, log_path=state_dir.parent / "server.log")
    server.start()
    client = server.storage_client()
    if not client.bucket(server.bucket).exists():
        client.create_bucket(server.bucket)
    return server


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


def baseline_once(tmp_path_factory: pytest.TempPathFactory, name: str, *flags: str) -> Path:
    """`train_baseline` with these flags once per test run (tests/support/once.py); its model dir."""
    return built_once(tmp_path_factory, name, lambda folder: train_baseline(folder / "model", *flags)) / "model"


def train_in_subprocess(model_dir: Path, *flags: str) -> Path:
    """`python -m trainer.task FLAGS --model-dir MODEL_DIR`; its model dir. No AIP_* or PIPELINE_* variable of this
    process reaches it (a session fixture sets PIPELINE_TRAINING_*), so what it trains depends on the flags and
    pipeline.toml alone, whichever test asked first."""
    command = [sys.executable, "-m", "trainer.task", *flags, "--model-dir", str(model_dir)]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIP_", "PIPELINE_"))}
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TRAINER_TIMEOUT_S)
    assert done.returncode == 0, f"trainer failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (model_dir / "saved_model.pb").is_file()
    return model_dir


def train_baseline(model_dir: Path, *flags: str) -> Path:
    """The baseline model on mnist-sample, with these flags; its model dir."""
    return train_in_subprocess(model_dir, "--dataset", "mnist-sample", "--model", "baseline", *flags)


@pytest.fixture(scope="session")
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """Held-out real MNIST digits (float32 [n, 28, 28] in [0, 1]) and their labels."""
    from trainer.data import load_dataset

    _, (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    return x_test, y_test
