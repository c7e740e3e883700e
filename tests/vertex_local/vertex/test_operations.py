"""Long-running operations: polled under /v1 and /ui, and never left unfinished by a restart."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.rest_client import SERVING_IMAGE
from vertex_local.state import StateStore
from vertex_local.vertex.operations import DEPLOY_MODEL, UNDEPLOY_MODEL, Operations, typed

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


def test_operations_are_named_under_their_resource_as_vertex_names_them(vertex_local) -> None:
    """Issue 22: Vertex nests an upload's operation under the model and an endpoint's under the endpoint; only
    deletes stay location-level. Each is found at its own name and nowhere else."""
    model = {"displayName": "op-nesting", "artifactUri": "gs://test-bucket/op-test/model"}
    upload = requests.post(
        vertex_local.api("models:upload"),
        json={"model": {**model, "containerSpec": {"imageUri": SERVING_IMAGE}}},
        timeout=10,
    ).json()
    model_name, op_id = upload["response"]["model"], upload["name"].rsplit("/", 1)[1]
    assert upload["name"] == f"{model_name}/operations/{op_id}"
    created = requests.post(vertex_local.api("endpoints"), json={"displayName": "op-nesting"}, timeout=10).json()
    endpoint_name = created["response"]["name"]
    assert created["name"].startswith(f"{endpoint_name}/operations/")
    deleted = requests.delete(f"{vertex_local.url}/v1/{model_name}", timeout=10).json()
    assert deleted["name"].startswith(f"{vertex_local.parent}/operations/")
    for operation in (upload, created, deleted):
        for prefix in ("v1", "ui"):
            polled = requests.get(f"{vertex_local.url}/{prefix}/{operation['name']}", timeout=10)
            assert polled.status_code == 200 and polled.json()["name"] == operation["name"]
    elsewhere = [f"{vertex_local.parent}/operations/{op_id}", f"{endpoint_name}/operations/{op_id}"]
    for name in elsewhere:
        assert requests.get(f"{vertex_local.url}/ui/{name}", timeout=10).status_code == 404


def test_deploy_operations_carry_their_deployment_stage_and_other_kinds_none(tmp_path: Path) -> None:
    operations = Operations(StateStore(tmp_path / "state.sqlite3"))
    endpoint = f"{PARENT}/endpoints/1"
    started = operations.start(endpoint, DEPLOY_MODEL)
    assert started["metadata"]["deploymentStage"] == "STARTING_DEPLOYMENT"
    done = operations.finish(started, typed("google.protobuf.Empty"))
    assert done["metadata"]["deploymentStage"] == "SUCCESSFULLY_DEPLOYED"
    failed = operations.fail(operations.start(endpoint, DEPLOY_MODEL), "FAILED_PRECONDITION", "no artifact")
    assert failed["metadata"]["deploymentStage"] == "FAILED_TO_DEPLOY"
    undeployed = operations.completed(endpoint, typed("google.protobuf.Empty"), UNDEPLOY_MODEL)
    assert "deploymentStage" not in undeployed["metadata"]
