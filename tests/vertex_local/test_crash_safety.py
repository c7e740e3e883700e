"""kill -9 in the middle of a deploy and of uploads, then a restart on the same state dir.

After each restart: the state loads, the endpoint serves the last committed traffic split, no half-written
resource is visible (no model version without its artifact, no traffic for a model not deployed, no
partial object) and every operation is done, failed or succeeded, never stuck.

Run: .venv/bin/pytest tests/vertex_local/test_crash_safety.py
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from tests.support import tiers
from tests.support.rest_client import HttpClient, deploy_over_rest, predict_body, upload_model
from tests.support.vertex_local_server import START_TIMEOUT_S, VertexLocal, start_vertex_local
from vertex_local.vertex.operations import TYPE_PREFIX

POLL_S = 0.002
ABORTED = 10  # google.rpc.Code


@pytest.fixture
@tiers.live
def server(tmp_path: Path) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path / "state")
    yield running
    running.stop()


def documents(server: VertexLocal, kind: str) -> list[dict]:
    """The stored documents of one kind, read beside the server (read-only; WAL lets readers in)."""
    with sqlite3.connect(f"file:{server.state_dir / 'state.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT body FROM documents WHERE kind = ?", (kind,)).fetchall()
    return [json.loads(body) for (body,) in rows]


def wait_for_unfinished_operation(server: VertexLocal, known: set[str], deadline_s: float = 30.0) -> dict:
    """The first operation that exists but is not done, other than `known` ones."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for operation in documents(server, "operation"):
            if operation["name"] not in known and not operation.get("done"):
                return operation
        time.sleep(POLL_S)
    raise AssertionError("no unfinished operation appeared")


def check_consistent(server: VertexLocal) -> None:
    """What the restarted server shows holds together: splits, deployed models, versions, artifacts, operations."""
    for endpoint in requests.get(server.api("endpoints"), timeout=10).json()["endpoints"]:
        deployed = {d["id"]: d for d in endpoint.get("deployedModels", [])}
        split = endpoint.get("trafficSplit", {})
        assert set(split) <= set(deployed), endpoint
        assert sum(split.values()) in ((100,) if deployed else (0,)), endpoint
        for entry in deployed.values():
            version = requests.get(f"{server.url}/v1/{entry['model']}@{entry['modelVersionId']}", timeout=10)
            assert version.status_code == 200, entry
    for model in requests.get(server.api("models"), timeout=10).json()["models"]:
        model_id = model["name"].rsplit("/", 1)[1]
        for version in requests.get(server.api(f"models/{model_id}:listVersions"), timeout=10).json()["models"]:
            bucket, _, prefix = version.get("artifactUri", "").removeprefix("gs://").partition("/")
            graph = f"{server.url}/storage/v1/b/{bucket}/o/{quote(prefix + '/saved_model.pb', safe='')}"
            assert not bucket or requests.get(graph, timeout=10).status_code == 200, version
    assert all(operation.get("done") for operation in documents(server, "operation"))


def post_through_a_crash(url: str, body: dict) -> None:
    """POST, ignoring the connection the kill breaks."""
    with contextlib.suppress(requests.ConnectionError):
        requests.post(url, json=body, timeout=30)


def test_a_kill_mid_deploy_leaves_the_last_committed_split_serving(
    server: VertexLocal, trained_model_dir: Path, mnist_test_digits
) -> None:
    uri = server.stage_model(trained_model_dir, "crash-deploy")
    production = deploy_over_rest(server, uri, "crash-deploy")
    endpoint_url = server.api(f"endpoints/{production.endpoint_id}")
    before = requests.get(endpoint_url, timeout=10).json()
    client = HttpClient(server.url, timeout=START_TIMEOUT_S)  # its predicts after the restart wait for the reload
    version_2 = upload_model(client, server, "crash-deploy", uri, parent=production.model)
    known = {operation["name"] for operation in documents(server, "operation")}
    resources = {"machineSpec": {"machineType": "n1-standard-2"}, "minReplicaCount": 1}
    body = {"deployedModel": {"model": f"{version_2}@2", "dedicatedResources": resources},
            "trafficSplit": {production.deployed_model_id: 90, "0": 10}}  # fmt: skip
    deploying = threading.Thread(target=post_through_a_crash, args=(f"{endpoint_url}:deployModel", body))
    deploying.start()
    interrupted = wait_for_unfinished_operation(server, known)  # the canary is loading
    server.kill()
    killed_at = time.monotonic()
    deploying.join()
    server.start()
    print(f"killed mid-deploy, restarted and serving again in {time.monotonic() - killed_at:.1f} s")

    operation = requests.get(f"{server.url}/v1/{interrupted['name']}", timeout=10).json()
    assert operation["done"] is True
    print(
        f"the interrupted deploy reads {'failed: ' + operation['error']['message'] if 'error' in operation else 'done'}"
    )
    after = requests.get(endpoint_url, timeout=10).json()
    if "error" in operation:  # interrupted before the commit: production alone, as before
        assert operation["error"]["code"] == ABORTED
        assert (after["deployedModels"], after["trafficSplit"]) == (before["deployedModels"], before["trafficSplit"])
    else:  # the commit and the operation's answer landed together
        assert operation["response"]["@type"] == TYPE_PREFIX + "google.cloud.aiplatform.v1.DeployModelResponse"
        assert len(after["deployedModels"]) == 2 and sorted(after["trafficSplit"].values()) == [10, 90]
    check_consistent(server)
    serving = {d["id"]: d["modelVersionId"] for d in after["deployedModels"] if after["trafficSplit"].get(d["id"])}
    path, digit = production.predict_path(server), predict_body(mnist_test_digits[0][:1])
    answers = [client.request("POST", path, digit, {"content-type": "application/json"}) for _ in range(50)]
    assert all(a.status == 200 and serving[a.json()["deployedModelId"]] == a.json()["modelVersionId"] for a in answers)
    client.close()


def half_sent(server: VertexLocal, method: str, path: str, headers: dict[str, str], body: bytes) -> socket.socket:
    """A request whose head and first half of body are sent; the rest never is."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


def wait_until_mid_upload(server: VertexLocal, upload_id: str, chunk: int, deadline_s: float = 30.0) -> None:
    """Until the state dir shows every storage upload part-way: the resumable session holds bytes past its first
    chunk, and the media and multipart uploads each a scratch file with bytes in it. (The half models:upload body
    leaves no trace to wait for: a JSON body is read whole into memory before anything is done with it.)"""
    scratch_dir = server.state_dir / "gcs" / ".uploads"
    deadline = time.monotonic() + deadline_s
    while True:
        sizes = {path.name: path.stat().st_size for path in scratch_dir.iterdir() if "." not in path.name}
        others = [size for name, size in sizes.items() if name != upload_id]
        if sizes.get(upload_id, 0) > chunk and len(others) == 2 and all(others):
            return
        assert time.monotonic() < deadline, f"the uploads never got under way: {sizes}"
        time.sleep(POLL_S)


def spans(start: int, end: int, total: int) -> dict[str, str]:
    return {"content-range": f"bytes {start}-{end}/{total}"}


def multipart_body(name: str, media: bytes, boundary: str) -> bytes:
    metadata = json.dumps({"name": name})
    return (
        (
            f"--{boundary}\r\ncontent-type: application/json\r\n\r\n{metadata}\r\n--{boundary}\r\n"
            "content-type: application/octet-stream\r\n\r\n"
        ).encode()
        + media
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_a_kill_mid_uploads_leaves_no_partial_object_or_model_and_resumable_uploads_resume(
    server: VertexLocal,
) -> None:
    data, chunk = os.urandom(3 * 1024 * 1024), 1024 * 1024  # a model's variables; chunks: multiples of 256 KiB
    bucket = server.storage_client().bucket(server.bucket)
    session = bucket.blob("crash/model/variables/variables.data").create_resumable_upload_session(size=len(data))
    first = requests.put(session, data=data[:chunk], headers=spans(0, chunk - 1, len(data)), timeout=10)
    assert first.status_code == 308 and first.headers["range"] == f"bytes=0-{chunk - 1}"
    upload = f"/upload/storage/v1/b/{server.bucket}/o"
    model = {"model": {"displayName": "crash-upload", "artifactUri": f"gs://{server.bucket}/crash/model"}}
    hanging = [  # each stops halfway through its body
        half_sent(server, "PUT", session.removeprefix(server.url), spans(chunk, 2 * chunk - 1, len(data)),
                  data[chunk : 2 * chunk]),
        half_sent(server, "POST", f"{upload}?uploadType=multipart",
                  {"content-type": "multipart/related; boundary=crash"},
                  multipart_body("crash/multi.bin", data[:200_000], "crash")),
        half_sent(server, "POST", f"{upload}?uploadType=media&name=crash/media.bin", {}, data[:500_000]),
        half_sent(server, "POST", f"/v1/{server.parent}/models:upload", {"content-type": "application/json"},
                  json.dumps(model).encode()),
    ]  # fmt: skip
    wait_until_mid_upload(server, parse_qs(urlsplit(session).query)["upload_id"][0], chunk)
    server.kill()
    for sock in hanging:
        sock.close()
    server.start()

    assert [blob.name for blob in server.storage_client().list_blobs(server.bucket, prefix="crash/")] == []
    for name in ("crash/multi.bin", "crash/media.bin", "crash/model/variables/variables.data"):
        assert not bucket.blob(name).exists()  # no partial object, from any kind of upload
    assert requests.get(server.api("models"), timeout=10).json()["models"] == []  # no half-registered model
    check_consistent(server)
    scratch = sorted(p.name for p in (server.state_dir / "gcs" / ".uploads").iterdir())
    assert len(scratch) == 2 and scratch[1] == f"{scratch[0]}.json"  # only the resumable session is kept

    status = requests.put(session, headers={"content-range": f"bytes */{len(data)}"}, timeout=10)
    assert status.status_code == 308  # the session survived the crash, holding what it had received
    held = int(status.headers["range"].rsplit("-", 1)[1]) + 1
    assert chunk < held <= chunk + chunk // 2  # killed mid-chunk: what it had taken in is kept
    print(f"after the crash the resumable session holds {held:,} of {len(data):,} bytes")
    rest = requests.put(session, data=data[held:], headers=spans(held, len(data) - 1, len(data)), timeout=30)
    assert rest.status_code == 200 and rest.json()["size"] == str(len(data))
    assert bucket.blob("crash/model/variables/variables.data").download_as_bytes() == data
