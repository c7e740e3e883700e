"""A deployed model is served from the server's own copy: deleting its artifact from the bucket changes nothing,
a restart loads the copy again, undeploy deletes it, and copies left by a crash are removed at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import tiers
from tests.support.rest_client import HttpClient, deploy_over_rest, predict_body, wait_for_operation
from tests.support.vertex_local_server import START_TIMEOUT_S, VertexLocal, start_vertex_local


@pytest.fixture
@tiers.live
def server(tmp_path: Path) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path / "state")
    yield running
    running.stop()


def predicted_digits(client: HttpClient, path: str, images: np.ndarray) -> list[int]:
    answer = client.request("POST", path, predict_body(images), {"content-type": "application/json"})
    assert answer.status == 200, answer.body
    return [int(np.argmax(row)) for row in answer.json()["predictions"]]


def test_a_deployed_model_serves_on_after_its_artifact_is_deleted_and_the_server_restarts(
    server: VertexLocal, trained_model_dir: Path, mnist_test_digits
) -> None:
    uri = server.stage_model(trained_model_dir, "copied")
    deployment = deploy_over_rest(server, uri, "copied")
    copy = server.state_dir / "serving" / deployment.deployed_model_id
    assert (copy / "saved_model.pb").is_file()
    images = mnist_test_digits[0][:8]
    client = HttpClient(server.url)
    before = predicted_digits(client, deployment.predict_path(server), images)
    bucket = server.storage_client().bucket(server.bucket)
    deleted = list(bucket.list_blobs(prefix="copied/"))
    assert deleted
    for blob in deleted:
        blob.delete()
    assert predicted_digits(client, deployment.predict_path(server), images) == before
    client.close()
    server.stop()
    (server.state_dir / "serving" / "424242").mkdir()  # as a crash mid-undeploy leaves it
    (server.state_dir / "serving" / ".incoming-434343").mkdir()  # as a crash mid-copy leaves it
    server.start()
    client = HttpClient(server.url, timeout=START_TIMEOUT_S)  # the model loads after /healthz: the predict waits
    assert predicted_digits(client, deployment.predict_path(server), images) == before
    assert sorted(path.name for path in (server.state_dir / "serving").iterdir()) == [deployment.deployed_model_id]
    undeploy = {"deployedModelId": deployment.deployed_model_id}
    path = f"/v1/{server.parent}/endpoints/{deployment.endpoint_id}:undeployModel"
    wait_for_operation(client, client.json("POST", path, undeploy).json())
    assert not copy.exists()
    client.close()
