"""The Model Registry as the pipeline uses it: versions, the default alias, aliases, model ids, lists, deletes.

Rules from the v1 REST reference (projects.locations.models: upload, mergeVersionAliases, list, delete).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform

from tests.contract.vertex_calls import model_client, stage_model, status_of, upload


@pytest.fixture(scope="module")
def model_uri(contract_target, trained_model_dir: Path) -> str:
    return stage_model(contract_target, trained_model_dir)


def aliases_by_version(model: aiplatform.Model) -> dict[str, list[str]]:
    return {info.version_id: sorted(info.version_aliases) for info in model.versioning_registry.list_versions()}


def test_the_first_upload_is_version_1_with_the_default_alias_and_its_labels(target, model_uri) -> None:
    model = upload(target, model_uri, labels={"git_sha": "abc123"}, version_aliases=["sha-abc123"])
    assert model.version_id == "1"
    assert sorted(model.version_aliases) == ["default", "sha-abc123"]
    assert model.labels == {"git_sha": "abc123"}
    assert model.uri == model_uri
    assert model.resource_name.startswith(f"projects/{target.project}/locations/{target.location}/models/")
    assert model.supported_deployment_resources_types == [
        aiplatform.gapic.Model.DeploymentResourcesType.DEDICATED_RESOURCES
    ]


def test_a_new_version_leaves_the_default_alias_where_it_is_unless_asked(target, model_uri) -> None:
    first = upload(target, model_uri)
    second = upload(
        target, model_uri, parent_model=first.resource_name, is_default_version=False, version_aliases=["c1"]
    )
    assert (second.resource_name, second.version_id) == (first.resource_name, "2")
    assert aliases_by_version(first) == {"1": ["default"], "2": ["c1"]}
    assert aiplatform.Model(first.resource_name).version_id == "1"
    upload(target, model_uri, parent_model=first.resource_name, is_default_version=True)
    assert aliases_by_version(first) == {"1": [], "2": ["c1"], "3": ["default"]}
    assert aiplatform.Model(first.resource_name).version_id == "3"


def test_a_version_is_found_by_id_and_by_alias(target, model_uri) -> None:
    first = upload(target, model_uri)
    upload(target, model_uri, parent_model=first.resource_name, is_default_version=False, version_aliases=["canary"])
    assert aiplatform.Model(f"{first.resource_name}@canary").version_id == "2"
    assert aiplatform.Model(first.resource_name, version="1").version_id == "1"
    for missing in (f"{first.resource_name}@9", f"{first.resource_name}@nosuchalias"):
        with pytest.raises(exceptions.NotFound):
            aiplatform.Model(missing)


def test_adding_an_alias_moves_it_off_the_version_that_held_it(target, model_uri) -> None:
    first = upload(target, model_uri, version_aliases=["prod"])
    upload(target, model_uri, parent_model=first.resource_name, is_default_version=False)
    first.versioning_registry.add_version_aliases(["prod", "sha-2"], version="2")
    assert aliases_by_version(first) == {"1": ["default"], "2": ["prod", "sha-2"]}
    first.versioning_registry.remove_version_aliases(["sha-2"], version="2")
    assert aliases_by_version(first) == {"1": ["default"], "2": ["prod"]}
    first.versioning_registry.add_version_aliases(["default"], version="2")
    assert aiplatform.Model(first.resource_name).version_id == "2"


def test_uploading_a_version_with_an_alias_another_version_holds_moves_it(target, model_uri) -> None:
    """scripts.register gives `candidate` at upload, so the training identity needs no models.update."""
    first = upload(target, model_uri, version_aliases=["candidate", "sha-1"])
    upload(target, model_uri, parent_model=first.resource_name, version_aliases=["candidate", "sha-2"])
    assert aliases_by_version(first) == {"1": ["sha-1"], "2": ["candidate", "default", "sha-2"]}


@pytest.mark.parametrize("alias", ["1abc", "Prod", "has_underscore", "x"])
def test_an_alias_not_starting_with_a_lowercase_letter_or_too_short_is_refused(target, model_uri, alias) -> None:
    model = upload(target, model_uri)
    with pytest.raises(exceptions.BadRequest):
        model.versioning_registry.add_version_aliases([alias], version="1")
    with pytest.raises(exceptions.BadRequest):
        upload(target, model_uri, parent_model=model.resource_name, version_aliases=[alias])
    assert aliases_by_version(model) == {"1": ["default"]}


def test_an_alias_may_end_with_a_dash_when_merged_but_not_when_uploaded(target, model_uri) -> None:
    """Model.versionAliases: [a-z][a-zA-Z0-9-]{0,126}[a-z0-9]; MergeVersionAliases: ...[a-z-0-9]."""
    model = upload(target, model_uri)
    with pytest.raises(exceptions.BadRequest):
        upload(target, model_uri, parent_model=model.resource_name, version_aliases=["rc-"])
    model.versioning_registry.add_version_aliases(["rc-"], version="1")
    assert aiplatform.Model(f"{model.resource_name}@rc-").version_id == "1"


def test_adding_and_removing_the_same_alias_in_one_merge_cancels_out(target, model_uri) -> None:
    model = upload(target, model_uri, version_aliases=["kept"])
    client = model_client()
    changes = ["new", "-new", "-kept", "kept"]
    answer = client.merge_version_aliases(name=f"{model.resource_name}@1", version_aliases=changes)
    assert sorted(answer.version_aliases) == ["default", "kept"]
    assert aliases_by_version(model) == {"1": ["default", "kept"]}


def test_the_default_alias_cannot_be_removed_only_moved(target, model_uri) -> None:
    model = upload(target, model_uri)
    with pytest.raises(exceptions.BadRequest):
        model.versioning_registry.remove_version_aliases(["default"], version="1")
    assert aliases_by_version(model) == {"1": ["default"]}


def test_a_model_id_takes_lowercase_letters_digits_underscores_and_dashes_not_leading_digits(target, model_uri) -> None:
    """UploadModelRequest.modelId: up to 63 of [a-z0-9_-], the first not a number or hyphen."""
    model_id = f"my_model_id{uuid.uuid4().hex[:12]}"  # as the SDK's own system test names it
    model = upload(target, model_uri, model_id=model_id)
    assert model.resource_name.endswith(f"/models/{model_id}") and model.name == model_id
    for refused in (f"1{model_id}", f"-{model_id}", f"My{model_id}", "a" * 64):
        with pytest.raises(exceptions.BadRequest) as caught:
            upload(target, model_uri, model_id=refused)
        assert status_of(caught.value) == "INVALID_ARGUMENT"


def test_list_filters_on_display_name_labels_and_model_id(target, model_uri) -> None:
    name = target.name("listed")
    wanted = upload(target, model_uri, name=name, labels={"run": "r1"})
    other = upload(target, model_uri, name=name, labels={"run": "r2"})
    upload(target, model_uri, name=f"{name}-other", labels={"run": "r1"})
    found = aiplatform.Model.list(filter=f'labels.run="r1" AND display_name="{name}"')
    assert [model.resource_name for model in found] == [wanted.resource_name]
    assert len(aiplatform.Model.list(filter=f'display_name="{name}"')) == 2
    by_id = aiplatform.Model.list(filter=f"model={other.name}")
    assert [model.resource_name for model in by_id] == [other.resource_name]


def test_a_version_then_the_model_can_be_deleted_but_never_the_default_version(target, model_uri) -> None:
    model = upload(target, model_uri)
    upload(target, model_uri, parent_model=model.resource_name, is_default_version=False)
    with pytest.raises(exceptions.BadRequest):
        model.versioning_registry.delete_version("1")
    model.versioning_registry.delete_version("2")
    assert aliases_by_version(model) == {"1": ["default"]}
    model.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model(model.resource_name)


def test_a_display_name_over_128_characters_is_refused(target, model_uri) -> None:
    upload(target, model_uri, name="é" * 128)  # characters, not bytes
    with pytest.raises(exceptions.BadRequest):
        model_client().upload_model(
            parent=f"projects/{target.project}/locations/{target.location}",
            model={"display_name": "m" * 129, "artifact_uri": model_uri,
                   "container_spec": {"image_uri": target.serving_image}},
        )  # fmt: skip


@pytest.mark.parametrize("labels", [{"Team": "ml"}, {"1team": "ml"}, {"team": "ML"}, {"team": "x" * 65}, {"": "x"}])
def test_labels_outside_googles_label_format_are_refused(target, model_uri, labels) -> None:
    with pytest.raises(exceptions.BadRequest):
        model_client().upload_model(
            parent=f"projects/{target.project}/locations/{target.location}",
            model={"display_name": target.name("labels"), "artifact_uri": model_uri, "labels": labels,
                   "container_spec": {"image_uri": target.serving_image}},
        )  # fmt: skip
