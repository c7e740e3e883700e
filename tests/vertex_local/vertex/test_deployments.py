"""EndpointService serving real models through the SDK: answers equal to in-process TF, canary shares, bad bodies,
no failed prediction during rollouts (how Vertex behaves is in tests/contract/test_vertex_endpoints.py)."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform
from prometheus_client.parser import text_string_to_metric_families

from tests.support.rest_client import SERVING_IMAGE, HttpClient, upload_model
from tests.support.vertex_local_server import start_vertex_local
from vertex_local.errors import ApiError
from vertex_local.vertex.deploy_requests import split_without

JSON = {"content-type": "application/json"}  # a predict body's type; anything else is a 415

CANARY_PREDICTS = 400  # at 10 %, about 40 go to the canary; fewer than 15 or more than 80 is a broken split


@pytest.fixture(scope="module")
def model_uri(vertex_local, trained_model_dir: Path) -> str:
    """The trainer's SavedModel, uploaded once through the storage API."""
    return vertex_local.stage_model(trained_model_dir, "deployments-test")


@pytest.fixture(scope="module")
def local_probabilities(trained_model_dir: Path, mnist_test_digits) -> np.ndarray:
    """What the SavedModel answers for the first 50 test digits when run here, in-process."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(trained_model_dir)).signatures["serving_default"]
    return serve(image=tf.constant(mnist_test_digits[0][:50]))["probabilities"].numpy()


def upload(name: str, uri: str, parent: str | None = None) -> aiplatform.Model:
    return aiplatform.Model.upload(
        display_name=name, artifact_uri=uri, serving_container_image_uri=SERVING_IMAGE, parent_model=parent
    )


def deployed_ids(endpoint: aiplatform.Endpoint) -> list[str]:
    return [deployed.id for deployed in endpoint.list_models()]


def raw_predict(vertex, endpoint: aiplatform.Endpoint, body: object, session=requests) -> requests.Response:
    endpoint_id = endpoint.resource_name.rsplit("/", 1)[1]
    return session.post(vertex.api(f"endpoints/{endpoint_id}:predict"), json=body, timeout=30)


def test_deploy_with_all_traffic_then_predict_returns_the_models_answers(
    vertex, unique_name, model_uri, mnist_test_digits, local_probabilities
) -> None:
    model = upload(unique_name, model_uri)
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)
    model.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=100)
    (deployed_id,) = deployed_ids(endpoint)
    assert endpoint.traffic_split == {deployed_id: 100}
    images, labels = mnist_test_digits
    prediction = aiplatform.Endpoint(endpoint.resource_name).predict([image.tolist() for image in images[:50]])
    probabilities = np.array(prediction.predictions)
    np.testing.assert_allclose(probabilities, local_probabilities, atol=1e-5)
    assert (probabilities.argmax(axis=1) == labels[:50]).mean() >= 0.85
    assert prediction.deployed_model_id == deployed_id
    assert prediction.model_resource_name == model.resource_name
    assert prediction.model_version_id == "1"
    assert aiplatform.Model(model.resource_name).gca_resource.deployed_models[0].deployed_model_id == deployed_id


def test_the_walkthroughs_raw_json_body_gets_vertexs_answer_shape(vertex, unique_name, model_uri, mnist_test_digits):
    model = upload(unique_name, model_uri)
    endpoint = model.deploy(machine_type="n1-standard-2")  # the SDK creates the endpoint itself
    images, labels = mnist_test_digits
    answer = raw_predict(vertex, endpoint, {"instances": [images[0].tolist()]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"predictions", "deployedModelId", "model", "modelVersionId", "modelDisplayName"}
    assert body["modelDisplayName"] == unique_name and body["model"] == model.resource_name
    assert len(body["predictions"]) == 1 and len(body["predictions"][0]) == 10
    assert abs(sum(body["predictions"][0]) - 1) < 1e-4
    assert int(np.argmax(body["predictions"][0])) == labels[0]
    labels_of_series = {
        "endpoint_id": endpoint.resource_name.rsplit("/", 1)[1],
        "deployed_model_id": body["deployedModelId"],
    }
    assert prometheus_value(vertex, "vertex_local_predictions_total", labels_of_series) == 1.0


def prometheus_value(vertex, name: str, labels: dict[str, str]) -> float | None:
    text = requests.get(f"{vertex.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_a_canary_at_ten_percent_gets_about_a_tenth_of_the_predictions_then_all_of_them(
    vertex, unique_name, model_uri
) -> None:
    first = upload(unique_name, model_uri)
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)
    first.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=100)
    canary = upload(unique_name, model_uri, parent=first.resource_name)
    canary.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=10)
    split = endpoint.traffic_split
    old_id = next(key for key, share in split.items() if share == 90)
    new_id = next(key for key, share in split.items() if share == 10)
    with requests.Session() as session:
        answers = [
            raw_predict(vertex, endpoint, {"instances": [[[0.5] * 28] * 28]}, session) for _ in range(CANARY_PREDICTS)
        ]
    versions = collections.Counter((a.json()["deployedModelId"], a.json()["modelVersionId"]) for a in answers)
    assert set(versions) == {(old_id, "1"), (new_id, "2")}
    assert 15 <= versions[(new_id, "2")] <= 80, versions
    endpoint.update(traffic_split={old_id: 0, new_id: 100})
    assert endpoint.traffic_split == {old_id: 0, new_id: 100}
    assert {endpoint.predict([[[0.0] * 28] * 28]).model_version_id for _ in range(20)} == {"2"}
    endpoint.undeploy(old_id, traffic_split={old_id: 0, new_id: 100})  # the SDK sends the old id at 0 %
    assert deployed_ids(endpoint) == [new_id] and endpoint.traffic_split == {new_id: 100}


def test_deploying_an_artifact_without_saved_model_pb_fails_the_operation_clearly(
    vertex, unique_name, trained_model_dir, tmp_path
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(trained_model_dir, broken)
    (broken / "saved_model.pb").unlink()
    model = upload(unique_name, vertex.stage_model(broken, unique_name))
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)
    with pytest.raises(exceptions.FailedPrecondition, match=r"saved_model\.pb"):
        model.deploy(endpoint=endpoint, machine_type="n1-standard-2")
    assert deployed_ids(endpoint) == [] and endpoint.traffic_split == {}


def test_endpoints_are_listed_by_display_name_and_unknown_ones_are_not_found(vertex, unique_name) -> None:
    created = aiplatform.Endpoint.create(display_name=unique_name, labels={"team": "ml"})
    aiplatform.Endpoint.create(display_name=f"{unique_name}-other")
    found = aiplatform.Endpoint.list(filter=f'display_name="{unique_name}" AND labels.team="ml"')
    assert [endpoint.resource_name for endpoint in found] == [created.resource_name]
    with pytest.raises(exceptions.NotFound):
        aiplatform.Endpoint("987654321").list_models()  # the SDK fetches lazily
    answer = requests.post(vertex.api("endpoints/987654321:predict"), json={"instances": [[0]]}, timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"instances": []}', "instances"),
        (b'{"rows": [1]}', "instances"),
        (b'{"instances": [[1, 2, 3]]}', "28"),
        (json.dumps({"instances": [[["a"] * 28] * 28]}).encode(), "numbers"),
    ],
)
def test_bad_predict_bodies_are_bad_requests(vertex, shared_endpoint, body: bytes, problem: str) -> None:
    endpoint_id = shared_endpoint.resource_name.rsplit("/", 1)[1]
    answer = requests.post(vertex.api(f"endpoints/{endpoint_id}:predict"), data=body, headers=JSON, timeout=10)
    assert answer.status_code == 400, answer.text
    assert problem in answer.json()["error"]["message"]


def test_a_body_over_the_size_limit_is_refused_before_it_is_parsed(vertex, shared_endpoint) -> None:
    endpoint_id = shared_endpoint.resource_name.rsplit("/", 1)[1]
    body = b'{"instances": [' + b"0," * 1_000_000 + b"0]}"
    answer = requests.post(vertex.api(f"endpoints/{endpoint_id}:predict"), data=body, headers=JSON, timeout=10)
    assert answer.status_code == 400 and "exceeds the limit" in answer.json()["error"]["message"]


@pytest.fixture(scope="module")
def shared_endpoint(vertex_local, model_uri) -> aiplatform.Endpoint:
    vertex_local.init_sdk()
    model = upload("shared-endpoint-model", model_uri)
    return model.deploy(machine_type="n1-standard-2")


def test_deploys_and_undeploys_never_fail_a_prediction_in_flight(vertex, unique_name, model_uri) -> None:
    model = upload(unique_name, model_uri)
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)
    model.deploy(endpoint=endpoint, machine_type="n1-standard-2")
    stop, statuses = threading.Event(), collections.Counter()

    def hammer() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                statuses[raw_predict(vertex, endpoint, {"instances": [[[0.1] * 28] * 28]}, session).status_code] += 1

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(hammer)
        for _ in range(2):  # roll a new deployment in and the old one out, twice
            (old_id,) = deployed_ids(endpoint)
            model.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=100)
            endpoint.undeploy(old_id)
        stop.set()
    assert statuses[200] > 20 and set(statuses) == {200}, statuses


ENDPOINT = {"deployedModels": [{"id": "1"}, {"id": "2"}, {"id": "3"}], "trafficSplit": {"1": 0, "2": 70, "3": 30}}


@pytest.mark.parametrize(
    ("deployed_id", "requested", "expected"),
    [
        ("1", {}, {"2": 70, "3": 30}),
        ("2", {"3": 100}, {"3": 100}),
        ("2", {"2": 0, "3": 100}, {"3": 100}),
        ("2", {}, "still takes 70%"),
        ("2", {"2": 10, "3": 90}, "being undeployed"),
        ("2", {"1": 50, "3": 40}, "sum to 100"),
    ],
)
def test_the_split_after_an_undeploy_never_leaves_traffic_on_the_model(deployed_id, requested, expected) -> None:
    if isinstance(expected, dict):
        assert split_without(ENDPOINT, deployed_id, requested) == expected
    else:
        with pytest.raises(ApiError, match=expected):
            split_without(ENDPOINT, deployed_id, requested)


def test_the_last_model_can_be_undeployed_whatever_its_share() -> None:
    only = {"deployedModels": [{"id": "1"}], "trafficSplit": {"1": 100}}
    assert split_without(only, "1", {}) == {}


@pytest.mark.live  # a server of its own, stopped here
def test_a_server_stopped_while_an_upload_has_tensorflow_importing_exits_cleanly_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    # An upload starts importing TensorFlow for the deploy that usually follows (Deployments.warm_up); a server
    # stopped before any deploy needed it ends the import with the process instead of waiting for it to finish.
    server = start_vertex_local(tmp_path / "state")
    try:
        client = HttpClient(server.url)
        upload_model(client, server, "warm-up", f"gs://{server.bucket}/warm-up/model")
        client.close()
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()
    log = server.log_path.read_text(errors="replace")
    assert "Application shutdown complete" in log, log
    assert "TensorFlow imported" not in log, log  # the stop did not wait for the import the upload started
