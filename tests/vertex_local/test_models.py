"""The model registry through the real SDK: uploads, versions, aliases, lists, deletes."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform

SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"


def upload(name: str, **kwargs: object) -> aiplatform.Model:
    return aiplatform.Model.upload(
        display_name=name,
        artifact_uri=f"gs://test-bucket/{name}/model",
        serving_container_image_uri=SERVING_IMAGE,
        **kwargs,
    )


def aliases_by_version(model: aiplatform.Model) -> dict[str, list[str]]:
    versions = model.versioning_registry.list_versions()
    return {info.version_id: sorted(info.version_aliases) for info in versions}


def test_first_upload_is_version_1_with_the_default_alias_and_its_labels(vertex, unique_name) -> None:
    model = upload(unique_name, labels={"git-sha": "abc123"}, version_aliases=["sha-abc123"])
    assert model.version_id == "1"
    assert sorted(model.version_aliases) == ["default", "sha-abc123"]
    assert model.labels == {"git-sha": "abc123"}
    assert model.uri == f"gs://test-bucket/{unique_name}/model"
    assert model.resource_name.startswith(f"projects/{vertex.project}/locations/us-central1/models/")
    assert model.resource_name.rsplit("/", 1)[1].isdigit()


def test_upload_with_parent_model_adds_version_2_and_leaves_default_unless_asked(vertex, unique_name) -> None:
    first = upload(unique_name)
    second = upload(unique_name, parent_model=first.resource_name, is_default_version=False, version_aliases=["c1"])
    assert second.resource_name == first.resource_name
    assert second.version_id == "2"
    assert aliases_by_version(first) == {"1": ["default"], "2": ["c1"]}
    assert aiplatform.Model(first.resource_name).version_id == "1"


def test_uploading_a_default_version_moves_the_default_alias(vertex, unique_name) -> None:
    first = upload(unique_name)
    upload(unique_name, parent_model=first.resource_name, is_default_version=True)
    assert aliases_by_version(first) == {"1": [], "2": ["default"]}
    assert aiplatform.Model(first.resource_name).version_id == "2"


def test_a_model_is_found_by_version_id_and_by_alias(vertex, unique_name) -> None:
    first = upload(unique_name)
    upload(unique_name, parent_model=first.resource_name, is_default_version=False, version_aliases=["canary"])
    assert aiplatform.Model(f"{first.resource_name}@canary").version_id == "2"
    assert aiplatform.Model(first.resource_name, version="1").version_id == "1"
    model_id = first.resource_name.rsplit("/", 1)[1]
    raw = requests.get(vertex.api(f"models/{model_id}%40canary"), timeout=10)  # how the SDK sends '@'
    assert raw.status_code == 200 and raw.json()["versionId"] == "2"


def test_adding_an_alias_moves_it_off_the_version_that_held_it(vertex, unique_name) -> None:
    first = upload(unique_name, version_aliases=["prod"])
    upload(unique_name, parent_model=first.resource_name, is_default_version=False)
    first.versioning_registry.add_version_aliases(["prod", "sha-2"], version="2")
    assert aliases_by_version(first) == {"1": ["default"], "2": ["prod", "sha-2"]}
    first.versioning_registry.remove_version_aliases(["sha-2"], version="2")
    assert aliases_by_version(first) == {"1": ["default"], "2": ["prod"]}
    first.versioning_registry.add_version_aliases(["default"], version="2")
    assert aiplatform.Model(first.resource_name).version_id == "2"


@pytest.mark.parametrize("alias", ["1abc", "Prod", "ends-with-dash-", "has_underscore", "x"])
def test_an_invalid_alias_is_a_bad_request(vertex, unique_name, alias: str) -> None:
    model = upload(unique_name)
    with pytest.raises(exceptions.BadRequest, match="alias"):
        model.versioning_registry.add_version_aliases([alias], version="1")
    with pytest.raises(exceptions.BadRequest, match="alias"):
        upload(unique_name, parent_model=model.resource_name, version_aliases=[alias])
    assert aliases_by_version(model) == {"1": ["default"]}


def test_the_default_alias_cannot_be_removed_only_moved(vertex, unique_name) -> None:
    model = upload(unique_name)
    with pytest.raises(exceptions.BadRequest, match="default"):
        model.versioning_registry.remove_version_aliases(["default"], version="1")


def test_list_filters_on_labels_and_display_name(vertex, unique_name) -> None:
    wanted = upload(unique_name, labels={"run": "r1"})
    upload(unique_name, labels={"run": "r2"})
    upload(f"{unique_name}-other", labels={"run": "r1"})
    found = aiplatform.Model.list(filter=f'labels.run="r1" AND display_name="{unique_name}"')
    assert [model.resource_name for model in found] == [wanted.resource_name]
    assert len(aiplatform.Model.list(filter=f'display_name="{unique_name}"')) == 2


def test_a_filter_the_server_cannot_honour_is_a_bad_request(vertex) -> None:
    with pytest.raises(exceptions.BadRequest, match="filter"):
        aiplatform.Model.list(filter='display_name="a" OR display_name="b"')


def test_models_support_dedicated_resources_so_the_sdk_sends_machine_type(vertex, unique_name) -> None:
    model = upload(unique_name)
    assert model.supported_deployment_resources_types == [
        aiplatform.gapic.Model.DeploymentResourcesType.DEDICATED_RESOURCES
    ]


def test_unknown_models_versions_and_aliases_are_not_found(vertex, unique_name) -> None:
    model = upload(unique_name)
    for name in ("987654321", f"{model.resource_name}@9", f"{model.resource_name}@nosuchalias"):
        with pytest.raises(exceptions.NotFound):
            aiplatform.Model(name)
    with pytest.raises(exceptions.NotFound):
        upload(unique_name, parent_model="987654321")


def test_a_version_and_then_the_model_can_be_deleted(vertex, unique_name) -> None:
    model = upload(unique_name)
    upload(unique_name, parent_model=model.resource_name, is_default_version=False)
    with pytest.raises(exceptions.BadRequest, match="default"):
        model.versioning_registry.delete_version("1")
    model.versioning_registry.delete_version("2")
    assert aliases_by_version(model) == {"1": ["default"]}
    model.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model(model.resource_name)


def test_upload_needs_a_gs_artifact_uri_and_a_display_name(vertex_local) -> None:
    body = {"model": {"displayName": "m", "artifactUri": "/tmp/model"}}
    answer = requests.post(vertex_local.api("models:upload"), json=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT" and "gs://" in answer.json()["error"]["message"]
    answer = requests.post(vertex_local.api("models:upload"), json={"model": {}}, timeout=10)
    assert answer.status_code == 400 and "displayName" in answer.json()["error"]["message"]


def test_a_malformed_body_is_a_bad_request_not_a_server_error(vertex_local) -> None:
    json_type = {"content-type": "application/json"}  # what the SDK sends; anything else is a 415
    answer = requests.post(vertex_local.api("models:upload"), data=b"{not json", headers=json_type, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("request body is not valid JSON")


def test_a_versions_description_and_labels_can_be_updated(vertex, unique_name) -> None:
    model = upload(unique_name, labels={"stage": "candidate"})
    model.versioning_registry.update_version("1", version_description="passed the gate", labels={"stage": "prod"})
    updated = aiplatform.Model(model.resource_name, version="1")
    assert updated.version_description == "passed the gate" and updated.labels == {"stage": "prod"}
    renamed = updated.update(display_name=f"{unique_name}-renamed")
    assert aiplatform.Model(renamed.resource_name).display_name == f"{unique_name}-renamed"
