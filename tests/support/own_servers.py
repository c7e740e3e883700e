"""A vertex-local of a test's own with what tests/conftest.py's cannot give it: flags, environment, its own mounts.

serve_own(tmp_path, args=[...], env={...})      started with extra `serve` flags and environment variables
mount_namespace()                               the unshare prefix that gives a process mounts of its own, or None
inside(server, relative)                        a path in the server's own view of its state dir, from outside
raw_request(port, head, body)                   one request written to a socket as given, every byte
Trickler(port, head, body, interval)            a thread sending a body one byte per interval until answered

The http tests check what a client sees on the wire: raw sockets where a library would hide it.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from tests.support.not_run import NOT_RUN_HERE
from tests.support.rest_client import Answer
from tests.support.vertex_local_server import REPO_ROOT, START_TIMEOUT_S, VertexLocal, free_port

POLL_S = 0.05  # between health checks while the server starts (polling with a deadline)
NO_MOUNT_NAMESPACE = (
    f"{NOT_RUN_HERE} this machine allows neither `unshare --mount` (root) nor an unprivileged user namespace "
    "(on Ubuntu 24.04: sysctl kernel.apparmor_restrict_unprivileged_userns=0 allows it)"
)


def serve_own(
    tmp_path: Path,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    token: str | None = None,
) -> VertexLocal:
    """`python -m vertex_local serve` on a free port with its own state dir; returns once /healthz answers.
    `prefix` runs it under another command (unshare ... sh -c ...), `token` is what the health check sends."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    server = VertexLocal(port=free_port(), state_dir=state, log_path=tmp_path / "server.log")
    command = [*prefix, sys.executable, "-m", "vertex_local", "serve", "--port", str(server.port)]
    command += ["--state-dir", str(state), *args]
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
        )
    headers = {"authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"vertex-local exited:\n{server.log_tail()}"
        try:
            if requests.get(f"{server.url}/healthz", headers=headers, timeout=1).ok:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(POLL_S)
    server.stop()
    raise AssertionError(f"vertex-local did not answer /healthz in {START_TIMEOUT_S} s:\n{server.log_tail()}")


def mount_namespace() -> list[str] | None:
    """`unshare --mount` (root) or `unshare --user --map-root-user --mount`, whichever this machine allows."""
    if shutil.which("unshare") is None:
        return None
    candidates = [["unshare", "--user", "--map-root-user", "--mount"]]
    if os.geteuid() == 0:
        candidates.insert(0, ["unshare", "--mount"])
    for prefix in candidates:
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def inside(server: VertexLocal, relative: str = "") -> Path:
    """A path as the server sees it (its own mounts), reached from outside through /proc/PID/root."""
    assert server.process is not None
    return Path(f"/proc/{server.process.pid}/root") / server.state_dir.relative_to("/") / relative


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 30.0) -> bytes:
    """Send one request exactly as written, then read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a reset after its answer ends the answer."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


class Trickler(threading.Thread):
    """A slow client: its head at once, then its body one byte per `interval`, never silent for longer, until
    the body is sent or the server answers; `answer` is what the server sent, `closed` when it closed (monotonic).
    """

    def __init__(self, port: int, head: str, body: bytes, interval: float) -> None:
        super().__init__(daemon=True)
        self.body, self.interval, self.sent = body, interval, 0
        self.answer, self.closed = b"", 0.0
        self.started = time.monotonic()  # before the connection: no deadline of the server's can start earlier
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(head.encode())

    def run(self) -> None:
        with self.sock:
            while self.sent < len(self.body):
                if select.select([self.sock], [], [], self.interval)[0]:
                    break  # the server answered before the body was whole
                try:
                    self.sock.sendall(self.body[self.sent : self.sent + 1])
                except OSError:
                    break  # it closed on us: what it said is still to be read
                self.sent += 1
            self.sock.settimeout(30)
            self.answer = read_all(self.sock)
            self.closed = time.monotonic()


def send_everything_first(url: str, body: bytes, content_type: str) -> Answer:
    """A POST through urllib: the whole body goes out, then the answer is read."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return Answer(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())
