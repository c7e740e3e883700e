"""A full disk under the object store: 503 with a clear message (never a 500), nothing half-written left behind,
and uploads work again once there is room (issue 10, item 14).

The server runs in its own mount namespace with its state dir on an 8 MiB tmpfs (`unshare --mount`, or
`unshare --user --map-root-user --mount` when not root), so the test fills a real filesystem and no other
process sees it; the test reads that filesystem through /proc/PID/root. Where the machine allows neither kind of
namespace the test is skipped, and the run's summary lists it among the tests that did not run
(tests/support/not_run.py).

Run: .venv/bin/pytest tests/vertex_local/gcs/test_disk_full.py -s
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from benchmarks.gcs_uploads import multipart_body
from tests.support import tiers
from tests.support.own_servers import NO_MOUNT_NAMESPACE
from tests.support.rest_client import Answer, HttpClient, google_error_problems
from tests.support.vertex_local_server import REPO_ROOT, START_TIMEOUT_S, VertexLocal, free_port

TMPFS_SIZE = "8m"
OBJECT_BYTES = 1 << 20


def namespace_prefix() -> list[str] | None:
    """The unshare command that gives a process its own mounts on this machine, or None."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        if prefix == ["unshare", "--mount"] and os.geteuid() != 0:
            continue
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


@pytest.fixture
@tiers.live
def server(tmp_path: Path) -> Iterator[VertexLocal]:
    prefix = namespace_prefix()
    if prefix is None:
        pytest.skip(NO_MOUNT_NAMESPACE)
    state = tmp_path / "state"
    state.mkdir()
    running = VertexLocal(port=free_port(), state_dir=state, log_path=tmp_path / "server.log")
    mount = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"'
    command = [*prefix, "sh", "-c", mount, str(state), sys.executable, "-m", "vertex_local", "serve"]
    command += ["--port", str(running.port), "--state-dir", str(state)]
    with running.log_path.open("ab") as log:
        running.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    wait_for_health(running)
    running.storage_client().create_bucket(running.bucket)
    yield running
    running.stop()


def wait_for_health(server: VertexLocal) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log_tail()
        try:
            if requests.get(f"{server.url}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)  # polling with a deadline
    raise AssertionError(f"vertex-local did not start:\n{server.log_tail()}")


def inside(server: VertexLocal, relative: str) -> Path:
    """A path in the server's own view of the filesystem (its tmpfs), from outside its mount namespace."""
    return Path(f"/proc/{server.process.pid}/root") / server.state_dir.relative_to("/") / relative


def upload(client: HttpClient, server: VertexLocal, kind: str, name: str, data: bytes) -> Answer:
    path = f"/upload/storage/v1/b/{server.bucket}/o?uploadType="
    if kind == "media":
        return client.request("POST", f"{path}media&name={name}", data, {"content-type": "application/octet-stream"})
    body, content_type = multipart_body(name, data)
    return client.request("POST", f"{path}multipart", body, {"content-type": content_type})


def check_nothing_half_written(server: VertexLocal) -> list[str]:
    """Every stored object downloads whole with its checksums, and no file on disk is anything else."""
    bucket = server.storage_client().bucket(server.bucket)
    names = [blob.name for blob in bucket.list_blobs()]
    for name in names:
        assert len(bucket.blob(name).download_as_bytes()) == OBJECT_BYTES  # the client checks the checksums
    scratch = {path.name for path in inside(server, "gcs/.uploads").iterdir()}
    orphans = {name for name in scratch if not name.endswith(".json") and f"{name}.json" not in scratch}
    assert not orphans, f"scratch files outlived their uploads: {orphans}"  # an open resumable session may stay
    contents = [p for p in inside(server, "gcs/.objects").glob("*/*")]
    assert len(contents) == len(names), f"{len(contents)} content files for {len(names)} objects"
    return names


def test_a_full_disk_answers_503_leaves_nothing_behind_and_recovers(server: VertexLocal) -> None:
    client, data = HttpClient(server.url), os.urandom(OBJECT_BYTES)
    answers = [upload(client, server, "multipart", f"fill-{i}", data) for i in range(12)]
    statuses = [answer.status for answer in answers]
    assert set(statuses) == {200, 503} and statuses.index(503) > 0, statuses  # some fit, then the disk is full
    for kind in ("multipart", "media"):
        full = upload(client, server, kind, f"full-{kind}", data)
        assert full.status == 503 and google_error_problems(full) == [], full.body
        message = full.json()["error"]["message"]
        assert "space" in message and str(server.state_dir) not in message and "/proc" not in message
    session = server.storage_client().bucket(server.bucket).blob("full-resumable").create_resumable_upload_session()
    chunk = requests.put(session, data=data, headers={"content-range": f"bytes 0-{len(data) - 1}/*"}, timeout=30)
    assert chunk.status_code == 503, chunk.text
    stored = check_nothing_half_written(server)
    print(f"tmpfs of {TMPFS_SIZE}: {len(stored)} objects of 1 MiB stored, then 503 for every upload kind")

    for name in stored[:3]:  # make room, as a user would
        server.storage_client().bucket(server.bucket).blob(name).delete()
    again = upload(client, server, "multipart", "after-room", data)
    assert again.status == 200, again.body
    resumed = requests.put(session, data=data, headers={"content-range": f"bytes 0-{len(data) - 1}/{len(data)}"},
                           timeout=30)  # fmt: skip
    assert resumed.status_code == 200, resumed.text
    assert check_nothing_half_written(server).count("after-room") == 1
    client.close()
    assert "Traceback" not in server.log_path.read_text()
