"""No write is lost: every read-modify-write happens after the request body is read, in one transaction.

Each test holds one request open halfway through its body while another client's request runs to the end,
then lets the first one finish, many rounds over; the second client's change must survive every time.
A read-before-body handler writes back the copy it read first, and the other change disappears.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.concurrency import HalfSent, endpoint_doc, operation_of, version_ids
from tests.support.rest_client import HttpClient, create_endpoint, deploy, upload_model

MODEL_ROUNDS = 20
DEPLOY_ROUNDS = 3  # each round loads a model: seconds


@pytest.fixture(scope="module")
def model_uri(vertex_local, trained_model_dir: Path) -> str:
    return vertex_local.stage_model(trained_model_dir, "lost-updates")


@pytest.fixture
def client(vertex_local):
    client = HttpClient(vertex_local.url)
    yield client
    client.close()


def name() -> str:
    return f"lost-{uuid.uuid4().hex[:8]}"


def test_a_version_registered_while_a_version_update_waits_for_its_body_is_kept(vertex_local, client) -> None:
    model = upload_model(client, vertex_local, name(), "gs://test-bucket/lost/model")
    model_path = f"/v1/{model}@1?updateMask=versionDescription"
    for round_ in range(MODEL_ROUNDS):
        update = HalfSent(vertex_local, "PATCH", model_path, {"versionDescription": f"round {round_}"})
        upload_model(client, vertex_local, "ignored", "gs://test-bucket/lost/model", parent=model)
        status, answer = update.finish()
        assert status == 200, answer
        assert version_ids(client, vertex_local, model) == [str(v) for v in range(1, round_ + 3)], f"round {round_}"


def test_a_version_registered_while_an_alias_merge_waits_for_its_body_is_kept(vertex_local, client) -> None:
    model = upload_model(client, vertex_local, name(), "gs://test-bucket/lost/model")
    for round_ in range(MODEL_ROUNDS):
        merge = HalfSent(vertex_local, "POST", f"/v1/{model}@1:mergeVersionAliases", {"versionAliases": [f"r{round_}"]})
        upload_model(client, vertex_local, "ignored", "gs://test-bucket/lost/model", parent=model)
        status, answer = merge.finish()
        assert status == 200, answer
        assert version_ids(client, vertex_local, model) == [str(v) for v in range(1, round_ + 3)], f"round {round_}"
    aliases = client.request("GET", f"/v1/{model}@1").json()["versionAliases"]
    assert {f"r{round_}" for round_ in range(MODEL_ROUNDS)} <= set(aliases)


def live_endpoint(vertex_local, client, uri: str) -> tuple[str, str, str]:
    """A model deployed alone on a new endpoint: (model, endpoint id, deployed model id)."""
    model = upload_model(client, vertex_local, name(), uri)
    endpoint_id = create_endpoint(client, vertex_local, name())
    return model, endpoint_id, deploy(client, vertex_local, endpoint_id, model, {"0": 100})


def undeploy(client, vertex_local, endpoint_id: str, deployed_id: str, split: dict[str, int]) -> None:
    path = f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:undeployModel"
    answer = client.json("POST", path, {"deployedModelId": deployed_id, "trafficSplit": split})
    assert answer.status == 200, answer.body
    operation = operation_of(client, answer.json())
    assert "error" not in operation, operation


def test_a_model_deployed_while_an_endpoint_patch_waits_for_its_body_stays_deployed(
    vertex_local, client, model_uri
) -> None:
    model, endpoint_id, live = live_endpoint(vertex_local, client, model_uri)
    patch_path = f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}?updateMask=trafficSplit"
    for round_ in range(DEPLOY_ROUNDS):
        patch = HalfSent(vertex_local, "PATCH", patch_path, {"trafficSplit": {live: 100}})
        canary = deploy(client, vertex_local, endpoint_id, f"{model}@1", {"0": 10, live: 90})
        status, answer = patch.finish()
        assert status == 200, answer
        endpoint = endpoint_doc(client, vertex_local, endpoint_id)
        assert {d["id"] for d in endpoint["deployedModels"]} == {live, canary}, f"round {round_}: {endpoint}"
        assert endpoint["trafficSplit"] == {live: 100}
        undeploy(client, vertex_local, endpoint_id, canary, {live: 100})


def test_a_model_deployed_while_an_undeploy_waits_for_its_body_stays_deployed(vertex_local, client, model_uri) -> None:
    model, endpoint_id, live = live_endpoint(vertex_local, client, model_uri)
    spare = deploy(client, vertex_local, endpoint_id, f"{model}@1", {live: 100})
    undeploy_path = f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:undeployModel"
    for round_ in range(DEPLOY_ROUNDS):
        retire = HalfSent(vertex_local, "POST", undeploy_path, {"deployedModelId": spare})
        canary = deploy(client, vertex_local, endpoint_id, f"{model}@1", {live: 100})  # deployed at 0 %
        status, answer = retire.finish()
        assert status == 200, answer
        assert "error" not in operation_of(client, answer), answer
        endpoint = endpoint_doc(client, vertex_local, endpoint_id)
        assert {d["id"] for d in endpoint["deployedModels"]} == {live, canary}, f"round {round_}: {endpoint}"
        assert endpoint["trafficSplit"] == {live: 100}
        spare = canary
