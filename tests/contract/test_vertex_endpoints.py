"""Endpoints as the pipeline uses them: deploy with a split, predict, canaries, undeploy rules, deploy checks.

Tests that deploy say so in their names (test_*deploy*): on Google Cloud each costs minutes of an n1-standard-2.
Rules from the v1 REST reference (endpoints.deployModel, undeployModel, predict, rawPredict; DedicatedResources;
MachineSpec) and https://cloud.google.com/vertex-ai/docs/predictions/configure-compute.
"""

from __future__ import annotations

import json
from pathlib import Path

import google.auth
import numpy as np
import pytest
import requests
from google.api_core import exceptions
from google.auth.transport.requests import AuthorizedSession
from google.cloud import aiplatform
from google.cloud.aiplatform_v1.types import DeploymentStage, endpoint_service

from tests.contract.vertex_calls import MACHINE, endpoint_client, quietly, stage_model, status_of, upload


@pytest.fixture(scope="module")
def model_uri(contract_target, trained_model_dir: Path) -> str:
    return stage_model(contract_target, trained_model_dir)


def new_endpoint(target) -> aiplatform.Endpoint:
    endpoint = aiplatform.Endpoint.create(display_name=target.name("endpoint"))
    target.created(quietly(lambda: endpoint.delete(force=True)))
    return endpoint


def deployed_ids(endpoint: aiplatform.Endpoint) -> list[str]:
    return [deployed.id for deployed in endpoint.list_models()]


def rest_post(target, path: str, body: bytes) -> requests.Response:
    """POST a raw body to a Vertex v1 path: vertex-local's URL, or Google's with Application Default Credentials."""
    if target.api_endpoint:
        return requests.post(f"{target.api_endpoint}/v1/{path}", data=body, timeout=60,
                             headers={"content-type": "application/json"})  # fmt: skip
    session = AuthorizedSession(google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0])
    return session.post(f"https://{target.location}-aiplatform.googleapis.com/v1/{path}", data=body, timeout=60,
                        headers={"content-type": "application/json"})  # fmt: skip


def test_deploy_with_all_traffic_then_predict_answers_with_vertexs_fields(target, model_uri, mnist_test_digits) -> None:
    model = upload(target, model_uri)
    endpoint = new_endpoint(target)
    model.deploy(endpoint=endpoint, machine_type=MACHINE, traffic_percentage=100)
    (deployed_id,) = deployed_ids(endpoint)
    assert endpoint.traffic_split == {deployed_id: 100}
    images, labels = mnist_test_digits
    prediction = endpoint.predict([image.tolist() for image in images[:20]])
    probabilities = np.array(prediction.predictions)
    assert probabilities.shape == (20, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert (probabilities.argmax(axis=1) == labels[:20]).mean() >= 0.8
    assert prediction.deployed_model_id == deployed_id
    assert prediction.model_resource_name == model.resource_name and prediction.model_version_id == "1"
    body = json.dumps({"instances": [images[0].tolist()]}).encode()
    answer = rest_post(target, f"{endpoint.resource_name}:predict", body)
    assert set(answer.json()) >= {"predictions", "deployedModelId", "model", "modelVersionId", "modelDisplayName"}
    assert answer.json()["modelDisplayName"] == model.display_name
    raw = rest_post(target, f"{endpoint.resource_name}:rawPredict", body)
    assert raw.status_code == 200, raw.text
    assert raw.headers["X-Vertex-AI-Deployed-Model-Id"] == deployed_id
    assert raw.headers["X-Vertex-AI-Endpoint-Id"] == endpoint.name
    # The SDK's predict(use_raw_predict=True) reads these two from every answer, the model as required.
    assert raw.headers["X-Vertex-AI-Model"] == answer.json()["model"] == model.resource_name
    assert raw.headers["X-Vertex-AI-Model-Version-Id"] == answer.json()["modelVersionId"] == "1"
    assert list(raw.json()) == ["predictions"] and len(raw.json()["predictions"][0]) == 10


def test_a_canary_deploy_splits_the_traffic_and_undeploy_refuses_to_leave_traffic_on_its_model(
    target, model_uri
) -> None:
    first = upload(target, model_uri)
    endpoint = new_endpoint(target)
    first.deploy(endpoint=endpoint, machine_type=MACHINE, traffic_percentage=100)
    canary = upload(target, model_uri, parent_model=first.resource_name)
    canary.deploy(endpoint=endpoint, machine_type=MACHINE, traffic_percentage=10)
    split = endpoint.traffic_split
    old_id = next(key for key, share in split.items() if share == 90)
    new_id = next(key for key, share in split.items() if share == 10)
    with pytest.raises(exceptions.BadRequest) as caught:
        endpoint_client().undeploy_model(endpoint=endpoint.resource_name, deployed_model_id=old_id).result(timeout=900)
    assert status_of(caught.value) == "FAILED_PRECONDITION"
    endpoint.update(traffic_split={old_id: 0, new_id: 100})
    endpoint.undeploy(old_id, traffic_split={old_id: 0, new_id: 100})
    assert deployed_ids(endpoint) == [new_id] and endpoint.traffic_split == {new_id: 100}


def test_a_deploy_whose_split_does_not_sum_to_100_or_names_no_deployed_model_is_refused(target, model_uri) -> None:
    model = upload(target, model_uri)
    endpoint = new_endpoint(target)
    deployed = {"model": model.versioned_resource_name,
                "dedicated_resources": {"machine_spec": {"machine_type": MACHINE}, "min_replica_count": 1}}  # fmt: skip
    for split in ({"0": 60}, {"0": 50, "424242": 50}):  # the SDK itself refuses the first before sending it
        with pytest.raises(exceptions.BadRequest) as caught:
            endpoint_client().deploy_model(endpoint=endpoint.resource_name, deployed_model=deployed,
                                           traffic_split=split).result(timeout=900)  # fmt: skip
        assert status_of(caught.value) == "INVALID_ARGUMENT"
    assert deployed_ids(endpoint) == [] and endpoint.traffic_split == {}


@pytest.mark.parametrize(
    "resources",
    [
        {"machine_spec": {"machine_type": "n1-standard-3"}, "min_replica_count": 1},
        {"machine_spec": {"machine_type": "e2-standard-2", "accelerator_type": "NVIDIA_TESLA_T4",
                          "accelerator_count": 1}, "min_replica_count": 1},
        {"machine_spec": {"machine_type": "n1-standard-16", "accelerator_type": "NVIDIA_TESLA_V100",
                          "accelerator_count": 1}, "min_replica_count": 1},
        {"machine_spec": {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4",
                          "accelerator_count": 3}, "min_replica_count": 1},
        {"machine_spec": {"machine_type": "g2-standard-4", "accelerator_type": "NVIDIA_TESLA_T4",
                          "accelerator_count": 1}, "min_replica_count": 1},
        {"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 0},
        {"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 3, "max_replica_count": 2},
    ],
)  # fmt: skip
def test_a_deploy_on_machines_vertex_does_not_offer_is_refused(target, model_uri, resources) -> None:
    model = upload(target, model_uri)
    endpoint = new_endpoint(target)
    deployed = {"model": model.versioned_resource_name, "dedicated_resources": resources}
    with pytest.raises(exceptions.BadRequest) as caught:
        endpoint_client().deploy_model(endpoint=endpoint.resource_name, deployed_model=deployed,
                                       traffic_split={"0": 100}).result(timeout=900)  # fmt: skip
    assert status_of(caught.value) == "INVALID_ARGUMENT"
    assert deployed_ids(endpoint) == []


def test_deploy_and_undeploy_answer_operations_with_their_own_metadata(target, model_uri) -> None:
    model = upload(target, model_uri)
    endpoint = new_endpoint(target)
    client = endpoint_client()
    deployed = {"model": model.versioned_resource_name,
                "dedicated_resources": {"machine_spec": {"machine_type": MACHINE}, "min_replica_count": 1}}  # fmt: skip
    deploying = client.deploy_model(endpoint=endpoint.resource_name, deployed_model=deployed, traffic_split={"0": 100})
    deployed_id = deploying.result(timeout=1800).deployed_model.id
    assert isinstance(deploying.metadata, endpoint_service.DeployModelOperationMetadata)
    assert deploying.metadata.generic_metadata.create_time <= deploying.metadata.generic_metadata.update_time
    # Output only; v1 carries it on the operation, not on DeployedModel (aiplatform_v1/types/endpoint_service.py).
    # The final stage's value on Vertex: unverified (the enum names SUCCESSFULLY_DEPLOYED as "has succeeded").
    assert deploying.metadata.deployment_stage == DeploymentStage.SUCCESSFULLY_DEPLOYED
    dedicated = aiplatform.Endpoint(endpoint.resource_name).list_models()[0].dedicated_resources
    assert (dedicated.machine_spec.machine_type, dedicated.min_replica_count, dedicated.max_replica_count) == (
        MACHINE, 1, 1)  # fmt: skip
    undeploying = client.undeploy_model(endpoint=endpoint.resource_name, deployed_model_id=deployed_id)
    undeploying.result(timeout=1800)
    assert isinstance(undeploying.metadata, endpoint_service.UndeployModelOperationMetadata)


def test_a_deployed_model_and_its_endpoint_cannot_be_deleted_until_undeployed(target, model_uri) -> None:
    model = upload(target, model_uri)
    endpoint = new_endpoint(target)
    model.deploy(endpoint=endpoint, machine_type=MACHINE)
    for delete in (endpoint.delete, model.delete):
        with pytest.raises(exceptions.BadRequest) as caught:
            delete()
        assert status_of(caught.value) == "FAILED_PRECONDITION"
    endpoint.undeploy_all()
    endpoint.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.Endpoint(endpoint.resource_name).list_models()
