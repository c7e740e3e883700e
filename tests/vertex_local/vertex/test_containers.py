"""Our serving image as its own process (serve --own-image subprocess), as Vertex runs a custom container: started
with the contract's environment, health-checked before the deploy completes, :predict and :rawPredict forwarded to it;
a container that never gets healthy fails the deploy and leaves the old split; a crash leaves no container behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.concurrency import endpoint_doc, operation_of
from tests.support.rest_client import HttpClient, create_endpoint, deploy, predict_body, upload_model
from tests.support.vertex_local_server import VertexLocal, start_vertex_local
from vertex_local.vertex.containers import MARKER

FAILED_PRECONDITION = 9
POLL_S = 0.2
RESTART_TIMEOUT_S = 180.0  # a container imports TensorFlow and copies its model after the server's restart
JSON = {"content-type": "application/json"}
OWN_IMAGE = ("--own-image", "subprocess")  # `serve` flags: our serving image runs as its own process


@pytest.fixture(scope="module")
def subprocess_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    server = start_vertex_local(tmp_path_factory.mktemp("containers") / "state", args=OWN_IMAGE)
    yield server
    server.stop()


def containers_of(server: VertexLocal) -> dict[int, str]:
    """pid -> deployed model id of every live process a serving container of `server` runs."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            environ = dict(
                item.split("=", 1)
                for item in (entry / "environ").read_text(errors="replace").split("\0")
                if "=" in item
            )
            state = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        alive = state[state.rindex(")") + 2] not in "ZX"
        if alive and MARKER in environ and environ.get("STORAGE_EMULATOR_HOST") == server.url:
            found[int(entry.name)] = environ[MARKER]
    return found


def in_process_answers(model_dir: Path, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    return (
        tf.saved_model.load(str(model_dir))
        .signatures["serving_default"](image=tf.constant(images))["probabilities"]
        .numpy()
    )


@pytest.fixture(scope="module")
def live_model(subprocess_server: VertexLocal, trained_model_dir: Path) -> tuple[str, str, str]:
    """(model, endpoint id, deployed model id): the trained model served by its own container process."""
    client = HttpClient(subprocess_server.url)
    uri = subprocess_server.stage_model(trained_model_dir, "containers-ok")
    model = upload_model(client, subprocess_server, "containers", uri)
    endpoint_id = create_endpoint(client, subprocess_server, "containers")
    deployed = deploy(client, subprocess_server, endpoint_id, model, {"0": 100})
    client.close()
    return model, endpoint_id, deployed


def test_a_deployed_model_is_served_by_its_own_process_and_answers_as_in_process(
    subprocess_server: VertexLocal, live_model, trained_model_dir: Path, mnist_test_digits
) -> None:
    _, endpoint_id, deployed = live_model
    assert deployed in containers_of(subprocess_server).values()
    pid = next(pid for pid, owner in containers_of(subprocess_server).items() if owner == deployed)
    assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[2] == str(pid)  # leads its own group
    images = mnist_test_digits[0][:8]
    client = HttpClient(subprocess_server.url)
    path = f"/v1/{subprocess_server.parent}/endpoints/{endpoint_id}"
    answer = client.request("POST", f"{path}:predict", predict_body(images), JSON)
    assert answer.status == 200 and answer.json()["deployedModelId"] == deployed, answer.body
    expected = in_process_answers(trained_model_dir, images)
    np.testing.assert_allclose(np.array(answer.json()["predictions"]), expected, atol=1e-6)
    raw = client.request("POST", f"{path}:rawPredict", predict_body(images[:2]), JSON)
    assert raw.status == 200 and raw.headers["x-vertex-ai-deployed-model-id"] == deployed
    np.testing.assert_allclose(np.array(raw.json()["predictions"]), expected[:2], atol=1e-6)
    refused = client.request("POST", f"{path}:predict", b'{"instances": [[1, 2]]}', JSON)
    assert refused.status == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT", refused.body
    client.close()


def test_a_container_that_never_gets_healthy_fails_the_deploy_with_its_line_and_the_old_split_keeps_serving(
    subprocess_server: VertexLocal, live_model, tmp_path: Path, mnist_test_digits
) -> None:
    model, endpoint_id, live = live_model
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "saved_model.pb").write_bytes(b"not a protobuf")
    client = HttpClient(subprocess_server.url)
    bad_uri = subprocess_server.stage_model(tmp_path / "not-a-model", "bad")
    upload_model(client, subprocess_server, "containers", bad_uri, parent=model)
    before = containers_of(subprocess_server)
    body = {"deployedModel": {"model": f"{model}@2", "dedicatedResources": {"machineSpec": {}, "minReplicaCount": 1}},
            "trafficSplit": {"0": 10, live: 90}}  # fmt: skip
    answer = client.json("POST", f"/v1/{subprocess_server.parent}/endpoints/{endpoint_id}:deployModel", body)
    operation = operation_of(client, answer.json())
    assert operation["error"]["code"] == FAILED_PRECONDITION, operation
    message = operation["error"]["message"]
    assert "exited with code 1 before it was healthy: serving: AIP_STORAGE_URI gs://" in message, message
    assert "is not a servable model" in message and "\n" not in message
    assert containers_of(subprocess_server) == before  # the failed one's process is gone
    endpoint = endpoint_doc(client, subprocess_server, endpoint_id)
    assert endpoint["trafficSplit"] == {live: 100} and [d["id"] for d in endpoint["deployedModels"]] == [live]
    path = f"/v1/{subprocess_server.parent}/endpoints/{endpoint_id}:predict"
    answer = client.request("POST", path, predict_body(mnist_test_digits[0][:2]), JSON)
    assert answer.status == 200 and answer.json()["deployedModelId"] == live
    client.close()


def test_a_crashed_server_leaves_no_container_and_its_restart_serves_from_a_new_one(
    subprocess_server: VertexLocal, live_model, mnist_test_digits
) -> None:
    # The module's server, crashed and restarted on its own state: this test runs last in the module, as it ends
    # that server (the restart is started, and stopped, here).
    _, endpoint_id, deployed = live_model
    server = subprocess_server
    orphans = containers_of(server)
    assert list(orphans.values()) == [deployed]
    server.kill()
    assert containers_of(server) == orphans  # SIGKILL ran no shutdown: the container outlived its server
    restarted = start_vertex_local(server.state_dir, port=server.port, args=OWN_IMAGE)
    try:
        assert not set(containers_of(restarted)) & set(orphans)  # stopped before the server listens
        client = HttpClient(restarted.url)
        path = f"/v1/{restarted.parent}/endpoints/{endpoint_id}:predict"
        answer = client.request("POST", path, predict_body(mnist_test_digits[0][:2]), JSON)
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while answer.status == 503 and "container is starting" in answer.body.decode() and time.monotonic() < deadline:
            time.sleep(POLL_S)  # polls the container's start, as operation_of polls an operation
            answer = client.request("POST", path, predict_body(mnist_test_digits[0][:2]), JSON)
        assert answer.status == 200 and answer.json()["deployedModelId"] == deployed, answer.body
        assert list(containers_of(restarted).values()) == [deployed]
        client.close()
    finally:
        assert restarted.stop() == 0
    assert containers_of(restarted) == {}  # a clean stop stops its containers
