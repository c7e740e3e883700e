"""A deployed model is served from the server's own copy: deleting its artifact from the bucket changes nothing,
a restart loads the copy again (every deployed model served again, through the SDK too), undeploy deletes it, and
copies left by a crash are removed at the next start."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from google.cloud import aiplatform

from tests.support import tiers
from tests.support.rest_client import (
    SERVING_IMAGE,
    Deployment,
    HttpClient,
    predict_body,
    wait_for_operation,
)
from tests.support.vertex_local_server import START_TIMEOUT_S, VertexLocal, start_vertex_local

CRASH_LEFTOVERS = ("424242", ".incoming-434343")  # as a crash mid-undeploy, and mid-copy, leaves them


@dataclasses.dataclass
class Restarted:
    """A server that deployed the trained model, had its artifact deleted, stopped and started again."""

    server: VertexLocal
    deployment: Deployment
    endpoint_name: str  # projects/P/locations/L/endpoints/ID, for the SDK
    model_name: str
    images: np.ndarray
    before: aiplatform.models.Prediction  # the SDK's predict before anything was deleted
    copy_found: bool  # the server's copy existed right after the deploy
    deleted: int  # artifact objects deleted from the bucket
    digits_before: list[int]  # over REST: before the deletion
    digits_after_deletion: list[int]  # over REST: after the deletion, before the restart
    stop_code: int


def predicted_digits(client: HttpClient, path: str, images: np.ndarray) -> list[int]:
    answer = client.request("POST", path, predict_body(images), {"content-type": "application/json"})
    assert answer.status == 200, answer.body
    return [int(np.argmax(row)) for row in answer.json()["predictions"]]


@pytest.fixture(scope="module")
@tiers.live
def restarted(
    tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path, mnist_test_digits
) -> Iterator[Restarted]:
    """One server, one deploy and one restart for both tests (each server that deploys imports TensorFlow): a
    deploy through the SDK, its artifact deleted, a clean stop, a crash's leftovers planted, a start."""
    server = start_vertex_local(tmp_path_factory.mktemp("copies") / "state")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STORAGE_EMULATOR_HOST", server.url)
            server.init_sdk()
            uri = server.stage_model(trained_model_dir, "copied")
            model = aiplatform.Model.upload(
                display_name="copied", artifact_uri=uri, serving_container_image_uri=SERVING_IMAGE
            )
            endpoint = model.deploy(machine_type="n1-standard-2")
            images = mnist_test_digits[0][:5]
            before = endpoint.predict([image.tolist() for image in images])
        deployment = Deployment(endpoint.name, before.deployed_model_id, model.resource_name)
        copy_found = (server.state_dir / "serving" / deployment.deployed_model_id / "saved_model.pb").is_file()
        client = HttpClient(server.url)
        digits_before = predicted_digits(client, deployment.predict_path(server), images)
        bucket = server.storage_client().bucket(server.bucket)
        deleted = list(bucket.list_blobs(prefix="copied/"))
        for blob in deleted:
            blob.delete()
        digits_after_deletion = predicted_digits(client, deployment.predict_path(server), images)
        client.close()
        stop_code = server.stop()
        for leftover in CRASH_LEFTOVERS:
            (server.state_dir / "serving" / leftover).mkdir()
        server.start()  # returns once /healthz answers; the deployed model loads in the background
        yield Restarted(
            server, deployment, endpoint.resource_name, model.resource_name, images, before, copy_found,
            len(deleted), digits_before, digits_after_deletion, stop_code,
        )  # fmt: skip
    finally:
        server.stop()


def test_after_a_restart_every_deployed_model_is_served_again(
    restarted: Restarted, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = restarted.server
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    server.init_sdk()
    assert restarted.stop_code == 0
    digits = [image.tolist() for image in restarted.images]
    after = aiplatform.Endpoint(restarted.endpoint_name).predict(digits)  # waits for the model, if still loading
    np.testing.assert_allclose(after.predictions, restarted.before.predictions, atol=1e-6)
    assert after.deployed_model_id == restarted.before.deployed_model_id
    log = server.log_path.read_text()
    # Loaded in the background: the server said it was ready (and answered) first, then restored the model.
    assert "restart: 1 deployed model(s) restored" in log[log.rindex("vertex-local ready") :]
    assert aiplatform.Model(f"{restarted.model_name}@default").version_id == "1"


def test_a_deployed_model_serves_on_after_its_artifact_is_deleted_and_the_server_restarts(
    restarted: Restarted,
) -> None:
    # Runs last in the module: it undeploys the model the other test predicts with.
    server, deployment = restarted.server, restarted.deployment
    copy = server.state_dir / "serving" / deployment.deployed_model_id
    assert restarted.copy_found and restarted.deleted
    assert restarted.digits_after_deletion == restarted.digits_before
    client = HttpClient(server.url, timeout=START_TIMEOUT_S)  # the model loads after /healthz: the predict waits
    assert predicted_digits(client, deployment.predict_path(server), restarted.images) == restarted.digits_before
    assert sorted(path.name for path in (server.state_dir / "serving").iterdir()) == [deployment.deployed_model_id]
    undeploy = {"deployedModelId": deployment.deployed_model_id}
    path = f"/v1/{server.parent}/endpoints/{deployment.endpoint_id}:undeployModel"
    wait_for_operation(client, client.json("POST", path, undeploy).json())
    assert not copy.exists()
    client.close()
