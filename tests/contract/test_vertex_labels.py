"""Labels at two levels, as UpdateModelRequest documents them (v1 REST reference, models.patch):

"model.name with the @ value ... refers to a version specific update ... without the @ value ... refers to a
model update ... Labels are supported in both scenarios. Both the model labels and the version labels are
merged when a model is returned ... A model name or model version name fields update mismatch will cause a
precondition error." The SDK's Model.update sends the model's name (a model update); a version update is an
UpdateModel on `models/ID@VERSION`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform
from google.protobuf import field_mask_pb2

from tests.contract.vertex_calls import model_client, stage_model, status_of, upload


@pytest.fixture(scope="module")
def model_uri(contract_target, trained_model_dir: Path) -> str:
    return stage_model(contract_target, trained_model_dir)


def update(name: str, mask: list[str], **fields: object):  # -> aiplatform.gapic.Model
    model = aiplatform.gapic.Model(name=name, **fields)
    return model_client().update_model(model=model, update_mask=field_mask_pb2.FieldMask(paths=mask))


def labels_of(name: str) -> dict[str, str]:
    return dict(aiplatform.Model(name).labels)


def test_upload_labels_are_the_versions_and_model_labels_are_merged_into_every_version(target, model_uri) -> None:
    first = upload(target, model_uri, labels={"git_sha": "aaa"})
    upload(target, model_uri, parent_model=first.resource_name, labels={"git_sha": "bbb"})
    first.update(labels={"team": "ml"})  # no @version: the model's labels
    assert labels_of(f"{first.resource_name}@1") == {"git_sha": "aaa", "team": "ml"}
    assert labels_of(f"{first.resource_name}@2") == {"git_sha": "bbb", "team": "ml"}


def test_a_version_update_changes_that_versions_labels_and_description_only(target, model_uri) -> None:
    first = upload(target, model_uri, labels={"stage": "candidate"})
    upload(target, model_uri, parent_model=first.resource_name, labels={"stage": "candidate"})
    updated = update(f"{first.resource_name}@2", ["labels", "version_description"],
                     labels={"stage": "prod"}, version_description="passed the gate")  # fmt: skip
    assert updated.version_id == "2" and dict(updated.labels) == {"stage": "prod"}
    assert aiplatform.Model(f"{first.resource_name}@2").version_description == "passed the gate"
    assert labels_of(f"{first.resource_name}@1") == {"stage": "candidate"}


def test_a_model_update_renames_every_version(target, model_uri) -> None:
    first = upload(target, model_uri)
    upload(target, model_uri, parent_model=first.resource_name)
    renamed = target.name("renamed")
    first.update(display_name=renamed, description="the pipeline's model")
    for version in ("1", "2"):
        found = aiplatform.Model(f"{first.resource_name}@{version}")
        assert (found.display_name, found.description) == (renamed, "the pipeline's model")


@pytest.mark.parametrize(
    ("suffix", "mask", "fields"),
    [
        ("@1", ["display_name"], {"display_name": "renamed"}),
        ("@1", ["description"], {"description": "d"}),
        ("", ["version_description"], {"version_description": "d"}),
    ],
)
def test_updating_the_other_levels_fields_is_a_failed_precondition(target, model_uri, suffix, mask, fields) -> None:
    model = upload(target, model_uri)
    with pytest.raises(exceptions.BadRequest) as caught:
        update(model.resource_name + suffix, mask, **fields)
    assert status_of(caught.value) == "FAILED_PRECONDITION"
