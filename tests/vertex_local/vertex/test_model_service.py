"""ModelService behaviour specific to vertex-local (how Vertex behaves is in tests/contract/test_vertex_models.py
and test_vertex_labels.py): what it refuses that Vertex might take, request shapes, and older state."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform

from tests.support.rest_client import SERVING_IMAGE
from vertex_local.state import StateStore
from vertex_local.vertex.model_registry import ModelRegistry


def upload(name: str, **kwargs: object) -> aiplatform.Model:
    return aiplatform.Model.upload(
        display_name=name, artifact_uri=f"gs://test-bucket/{name}/model", serving_container_image_uri=SERVING_IMAGE,
        **kwargs,
    )  # fmt: skip


def test_the_sdk_sends_the_at_sign_of_a_version_name_encoded(vertex, unique_name) -> None:
    first = upload(unique_name)
    upload(unique_name, parent_model=first.resource_name, is_default_version=False, version_aliases=["canary"])
    model_id = first.resource_name.rsplit("/", 1)[1]
    raw = requests.get(vertex.api(f"models/{model_id}%40canary"), timeout=10)
    assert raw.status_code == 200 and raw.json()["versionId"] == "2"


def test_a_filter_vertex_local_cannot_honour_is_a_bad_request_not_ignored(vertex, unique_name) -> None:
    with pytest.raises(exceptions.BadRequest, match="filter"):
        aiplatform.Model.list(filter='display_name="a" OR display_name="b"')
    model = upload(unique_name)
    with pytest.raises(exceptions.BadRequest, match="filter"):  # ListModelVersions documents labels only
        model.versioning_registry.list_versions(filter=f'display_name="{unique_name}"')


def test_upload_needs_a_serving_image_a_gs_artifact_uri_and_a_display_name(vertex_local) -> None:
    container = {"imageUri": SERVING_IMAGE}
    cases = [
        ({"displayName": "m", "artifactUri": "/tmp/model", "containerSpec": container}, "gs://"),
        ({"containerSpec": container}, "displayName"),
        ({"displayName": "m", "artifactUri": "gs://test-bucket/m/model"}, "containerSpec.imageUri is required"),
    ]
    for model, problem in cases:
        answer = requests.post(vertex_local.api("models:upload"), json={"model": model}, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert problem in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "image",
    [
        "us-docker.pkg.dev/my-project/serving/mnist:latest",  # a custom container: Vertex runs it, vertex-local cannot
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15",  # no :latest tag
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:2024",
    ],
)
def test_an_image_it_cannot_run_registers_but_its_deploy_names_the_image_it_serves(vertex_local, image: str) -> None:
    model = {"displayName": "m", "artifactUri": "gs://test-bucket/m/model", "containerSpec": {"imageUri": image}}
    answer = requests.post(vertex_local.api("models:upload"), json={"model": model}, timeout=10)
    assert answer.status_code == 200, answer.text  # Vertex takes any image URI at upload; deploy pulls it
    model_name = answer.json()["response"]["model"]
    endpoint = requests.post(vertex_local.api("endpoints"), json={"displayName": "m"}, timeout=10).json()
    body = {"deployedModel": {"model": model_name, "dedicatedResources": {"machineSpec": {}, "minReplicaCount": 1}}}
    deployed = requests.post(f"{vertex_local.url}/v1/{endpoint['response']['name']}:deployModel", json=body, timeout=10)
    assert deployed.status_code == 400 and deployed.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert image in deployed.json()["error"]["message"] and "'mnist-serving'" in deployed.json()["error"]["message"]


def test_the_sdks_update_version_sends_the_model_name_so_it_is_a_failed_precondition(vertex, unique_name) -> None:
    """versioning_registry.update_version PATCHes `models/ID` (the Model's name, without @version) with a
    version_description mask: a model update naming a version field, refused as UpdateModelRequest documents."""
    model = upload(unique_name, labels={"stage": "candidate"})
    with pytest.raises(exceptions.BadRequest) as caught:
        model.versioning_registry.update_version("1", version_description="passed the gate")
    assert caught.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert aiplatform.Model(model.resource_name).labels == {"stage": "candidate"}


def test_a_malformed_body_is_a_bad_request_not_a_server_error(vertex_local) -> None:
    json_type = {"content-type": "application/json"}  # what the SDK sends; anything else is a 415
    answer = requests.post(vertex_local.api("models:upload"), data=b"{not json", headers=json_type, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("request body is not valid JSON")


def test_a_model_stored_before_display_names_moved_to_the_model_still_reads_whole(tmp_path) -> None:
    """Earlier vertex-local kept displayName and description on each version; such state must still load."""
    store = StateStore(tmp_path / "state.sqlite3")
    version = {"versionId": "1", "versionAliases": ["default"], "versionCreateTime": "t", "versionUpdateTime": "t",
               "displayName": "mnist", "description": "old", "labels": {"git_sha": "a"}}  # fmt: skip
    store.put("model", "7", {"id": "7", "parent": "p", "createTime": "t", "updateTime": "t", "nextVersionId": 2,
                             "versions": [version]})  # fmt: skip
    doc = ModelRegistry(store).model("p", "7")
    assert (doc["displayName"], doc["description"], doc["labels"]) == ("mnist", "old", {})


def test_base_model_name_filters_take_equals_only_as_the_reference_says(vertex_local) -> None:
    """models.list: "base_model_name only supports =" (v1 REST reference); != is refused, never ignored."""
    listed = requests.get(vertex_local.api("models"), params={"filter": 'base_model_name="gemini"'}, timeout=10)
    assert listed.status_code == 200 and listed.json().get("models", []) == []
    for text in ('base_model_name!="gemini"', 'display_name="m" AND base_model_name!="gemini"'):
        refused = requests.get(vertex_local.api("models"), params={"filter": text}, timeout=10)
        assert refused.status_code == 400 and "base_model_name supports only =" in refused.json()["error"]["message"]
    assert requests.get(vertex_local.api("models"), params={"filter": 'display_name!="m"'}, timeout=10).ok
