"""A full disk is a 503 with a clear message from whichever store hits it; predictions go on; writes work again
once there is room. No answer names a server path.

The server runs in a mount namespace of its own with its state dir on a small tmpfs (`unshare --mount` as root,
`unshare --user --map-root-user --mount` otherwise), so the test fills a real filesystem that no other process
sees; it reaches that filesystem through /proc/PID/root. Where the machine allows neither kind of namespace,
the test is skipped, and the run's summary lists it among the tests that did not run (tests/support/not_run.py).

Run: .venv/bin/pytest tests/vertex_local/http/test_full_disk.py -s
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.own_servers import NO_MOUNT_NAMESPACE, inside, mount_namespace, serve_own
from tests.support.rest_client import (
    SERVING_IMAGE,
    Answer,
    Deployment,
    HttpClient,
    deploy_over_rest,
    google_error_problems,
    predict_body,
)
from tests.support.vertex_local_server import VertexLocal
from vertex_local.errors import FULL_DISK_MESSAGE

TMPFS_SIZE = "48m"  # the model and SQLite fit, with room to spare until the test fills it
FILL_CHUNKS = (1 << 20, 4096, 1)  # bytes per write: megabytes, then the last pages, then the last bytes
PREDICTIONS = 50


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    namespace = mount_namespace()
    if namespace is None:
        pytest.skip(NO_MOUNT_NAMESPACE)
    home = tmp_path_factory.mktemp("full-disk")
    mount = f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"'
    running = serve_own(home, prefix=[*namespace, "sh", "-c", mount, str(home / "state")])
    running.storage_client().create_bucket(running.bucket)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def target(server: VertexLocal, trained_model_dir: Path) -> Deployment:
    return deploy_over_rest(server, server.stage_model(trained_model_dir, "full-disk"), "full-disk")


def fill(path: Path) -> int:
    """Write to `path` until its filesystem has not a byte left; returns how many bytes that took."""
    written = 0
    with path.open("wb", buffering=0) as filler:
        for size in FILL_CHUNKS:
            try:
                while True:
                    written += filler.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return written


def writes(client: HttpClient, server: VertexLocal, name: str) -> dict[str, Answer]:
    """One request of each kind that has a store write to disk: Vertex documents, uploaded bytes, a model."""
    model = {"model": {"displayName": name, "artifactUri": f"gs://{server.bucket}/full-disk/model",
                       "containerSpec": {"imageUri": SERVING_IMAGE}}}  # fmt: skip
    upload = f"/upload/storage/v1/b/{server.bucket}/o?uploadType=media&name={name}"
    return {
        "endpoints.create": client.json("POST", f"/v1/{server.parent}/endpoints", {"displayName": name}),
        "models.upload": client.json("POST", f"/v1/{server.parent}/models:upload", model),
        "objects.insert": client.request("POST", upload, b"x" * 200_000, {"content-type": "text/plain"}),
    }


def test_a_full_disk_answers_503_keeps_serving_predictions_and_recovers(
    server: VertexLocal, target: Deployment, mnist_test_digits
) -> None:
    client, body = HttpClient(server.url), predict_body(mnist_test_digits[0][:2])
    filler = inside(server, "filler")
    print(f"tmpfs of {TMPFS_SIZE}: {fill(filler) / (1 << 20):.1f} MiB written to fill it")
    for kind, answer in writes(client, server, "full").items():
        assert answer.status == 503 and google_error_problems(answer) == [], (kind, answer.body)
        message = answer.json()["error"]["message"]
        assert message == FULL_DISK_MESSAGE, (kind, message)
        assert str(server.state_dir) not in answer.body.decode() and "/proc" not in answer.body.decode()
    for _ in range(PREDICTIONS):  # the model is in memory: serving needs no disk
        answer = client.request("POST", target.predict_path(server), body, {"content-type": "application/json"})
        assert answer.status == 200 and len(answer.json()["predictions"]) == 2, answer.body
    assert client.request("GET", f"/v1/{server.parent}/endpoints").status == 200  # reads go on too

    filler.unlink()  # room again, as when a user frees some
    for kind, answer in writes(client, server, "after").items():
        assert answer.status == 200, (kind, answer.body)
    log = server.log_tail(100_000)
    assert "Traceback" not in log and "503, the disk holding the state is full" in log
    client.close()
