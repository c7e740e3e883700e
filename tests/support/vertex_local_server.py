"""A real vertex-local process for tests: VertexLocal (url, port, state_dir, log_path; init_sdk, storage_client,
stage_model, stop, kill), start_vertex_local(state_dir) for a server of a test's own (live tests only: the fixture
that calls it is declared @tiers.live), free_port(), and the project, location and bucket every server serves."""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


PROJECT = "test-project"


LOCATION = "us-central1"  # the SDK checks regions against its own list, offline


BUCKET = "test-bucket"


START_TIMEOUT_S = 60.0  # a start on a busy machine; also what a predict after a restart may wait (models load later)


STOP_TIMEOUT_S = 20.0


JOB_POLL_S = 0.2  # google.cloud.aiplatform.jobs polls every 5 s by default


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
    args: tuple[str, ...] = ()  # more `serve` flags, e.g. ("--today", "2026-06-01")

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
        command += ["--state-dir", str(self.state_dir), *self.args]
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
            except requests.Timeout:
                pass  # listening, but slow to answer (a restart's model reload holds the CPU): asked again
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

    def log_through(self, marker: str, timeout_s: float = 10.0) -> str:
        """The server's log once it holds `marker`. The access log writes a request's line after the answer has
        left, and in order: once one request's line is there, so is every earlier request's."""
        deadline = time.monotonic() + timeout_s
        while marker not in (text := self.log_path.read_text(errors="replace")):
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker!r} is not in the server's log after {timeout_s} s")
            time.sleep(0.02)
        return text

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


def start_vertex_local(state_dir: Path, port: int | None = None, args: tuple[str, ...] = ()) -> VertexLocal:
    """Start a vertex-local server with its own state dir (and more `serve` flags); the caller stops it. Live
    tests only (tiers)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    server = VertexLocal(port=port or free_port(), state_dir=state_dir, log_path=state_dir.parent / "server.log",
                         args=args)  # fmt: skip
    server.start()
    client = server.storage_client()
    if not client.bucket(server.bucket).exists():
        client.create_bucket(server.bucket)
    return server
