"""Long-running operations carry the call's own metadata type, with the create and update times.

The SDK unpacks `metadata` as the type each call names (google/cloud/aiplatform_v1/services/*/client.py,
`metadata_type=`): UploadModelOperationMetadata, CreateEndpointOperationMetadata, DeleteOperationMetadata, ...
Deploy and undeploy operations are checked in test_vertex_endpoints.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.cloud.aiplatform_v1.types import endpoint_service, model_service, operation

from tests.contract.vertex_calls import endpoint_client, model_client, stage_model


@pytest.fixture(scope="module")
def model_uri(contract_target, trained_model_dir: Path) -> str:
    return stage_model(contract_target, trained_model_dir)


def parent(target) -> str:
    return f"projects/{target.project}/locations/{target.location}"


def generic_times(metadata) -> tuple:
    generic = metadata.generic_metadata
    assert generic.create_time and generic.update_time
    assert generic.update_time >= generic.create_time
    return generic.create_time, generic.update_time


def test_an_upload_answers_an_operation_with_upload_metadata_and_the_new_model(target, model_uri) -> None:
    model = {"display_name": target.name("op"), "artifact_uri": model_uri}
    model["container_spec"] = {"image_uri": target.serving_image}
    uploading = model_client().upload_model(parent=parent(target), model=model)
    result = uploading.result(timeout=600)
    target.created(lambda: model_client().delete_model(name=result.model).result(timeout=600))
    assert isinstance(uploading.metadata, model_service.UploadModelOperationMetadata)
    generic_times(uploading.metadata)
    assert result.model.startswith(f"{parent(target)}/models/") and result.model_version_id == "1"
    assert uploading.operation.name.startswith(f"{parent(target)}/")


def test_creating_and_deleting_an_endpoint_answer_their_own_metadata(target) -> None:
    client = endpoint_client()
    creating = client.create_endpoint(parent=parent(target), endpoint={"display_name": target.name("op")})
    endpoint = creating.result(timeout=600)
    assert isinstance(creating.metadata, endpoint_service.CreateEndpointOperationMetadata)
    generic_times(creating.metadata)
    deleting = client.delete_endpoint(name=endpoint.name)
    deleting.result(timeout=600)
    assert isinstance(deleting.metadata, operation.DeleteOperationMetadata)
    generic_times(deleting.metadata)
