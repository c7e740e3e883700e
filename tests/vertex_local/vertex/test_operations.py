"""Long-running operations: polled under /v1 and /ui, and never left unfinished by a restart."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.vertex_local.live import SERVING_IMAGE
from vertex_local.state import StateStore
from vertex_local.vertex.operations import Operations, typed

PARENT = "projects/p/locations/us-central1"


def test_operations_are_served_under_v1_and_ui(vertex_local) -> None:
    model = {"displayName": "op-test", "artifactUri": "gs://test-bucket/op-test/model"}
    body = {"model": {**model, "containerSpec": {"imageUri": SERVING_IMAGE}}}
    operation = requests.post(vertex_local.api("models:upload"), json=body, timeout=10).json()
    assert operation["done"] is True
    assert operation["response"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse"
    assert operation["metadata"]["@type"].endswith("google.cloud.aiplatform.v1.UploadModelOperationMetadata")
    for prefix in ("v1", "ui"):
        polled = requests.get(f"{vertex_local.url}/{prefix}/{operation['name']}", timeout=10)
        assert polled.status_code == 200 and polled.json() == operation
    missing = requests.get(f"{vertex_local.url}/ui/{vertex_local.parent}/operations/987654321", timeout=10)
    assert missing.status_code == 404


def test_recovery_finishes_committed_operations_and_fails_the_rest(tmp_path: Path) -> None:
    operations = Operations(StateStore(tmp_path / "state.sqlite3"))
    interrupted = operations.start(PARENT)
    committed = operations.set_pending_response(operations.start(PARENT), typed("google.protobuf.Empty"))
    finished = operations.completed(PARENT, typed("google.protobuf.Empty"))
    reopened = Operations(StateStore(tmp_path / "state.sqlite3"))
    assert reopened.recover() == 2
    by_name = {op["name"]: op for op in reopened.store.list("operation")}
    assert by_name[interrupted["name"]]["done"] is True
    assert by_name[interrupted["name"]]["error"]["code"] == 10  # ABORTED
    assert by_name[committed["name"]] == {
        "name": committed["name"],
        "done": True,
        "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
    }
    assert by_name[finished["name"]] == finished
