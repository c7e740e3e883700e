"""scripts/teardown.py on the session's vertex-local, in a staging bucket and under model and endpoint names of this
module's own: teardown deletes runs/ and batch/ in the staging bucket it is given, and the model and endpoint its
display names find, so nothing another test keeps is in its reach (and no server is started and stopped for it)."""

from __future__ import annotations

import dataclasses
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import aiplatform

from scripts import teardown
from tests.support.pipeline_steps import step
from tests.support.rest_client import SERVING_IMAGE
from tests.support.vertex_local_server import VertexLocal

OWN = uuid.uuid4().hex[:8]  # this run's names: the session's server outlives the module
MODEL, ENDPOINT = f"teardown-model-{OWN}", f"teardown-endpoint-{OWN}"


@pytest.fixture(scope="module")
def server(vertex_local: VertexLocal) -> Iterator[VertexLocal]:
    """The session's server seen through a staging bucket of the module's own; what teardown left is removed after."""
    own = dataclasses.replace(vertex_local, bucket=f"teardown-{OWN}")
    own.storage_client().create_bucket(own.bucket)
    yield own
    own.init_sdk()
    for endpoint in aiplatform.Endpoint.list(filter=f'display_name="{ENDPOINT}"'):
        endpoint.delete(force=True)  # a failed test may have left its deployment on the shared server
    for model in aiplatform.Model.list(filter=f'display_name="{MODEL}"'):
        model.delete()
    own.storage_client().bucket(own.bucket).delete(force=True)


@pytest.fixture
def deployed(server: VertexLocal, trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> VertexLocal:
    """The pipeline's model deployed on its endpoint, a run folder and a batch folder, and one other object."""
    for name in [key for key in os.environ if key.startswith(("PIPELINE_", "GITHUB_"))]:
        monkeypatch.delenv(name)
    settings = {"PROFILE": "local", "VERTEX_PROJECT": server.project, "VERTEX_STAGING_BUCKET": f"gs://{server.bucket}",
                "VERTEX_API_ENDPOINT": server.url, "VERTEX_STORAGE_EMULATOR_HOST": server.url,
                "VERTEX_CREDENTIALS": "anonymous", "VERTEX_MODEL_DISPLAY_NAME": MODEL,
                "VERTEX_ENDPOINT_DISPLAY_NAME": ENDPOINT}  # fmt: skip
    for key, value in settings.items():
        monkeypatch.setenv(f"PIPELINE_{key}", value)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    server.init_sdk()
    if not aiplatform.Endpoint.list(filter=f'display_name="{ENDPOINT}"'):
        uri = server.stage_model(trained_model_dir, "runs/" + "a" * 40 + "/20260101T000000Z")
        model = aiplatform.Model.upload(display_name=MODEL, artifact_uri=uri, serving_container_image_uri=SERVING_IMAGE)
        model.deploy(endpoint=aiplatform.Endpoint.create(display_name=ENDPOINT), machine_type="n1-standard-2")
        bucket = server.storage_client().bucket(server.bucket)
        bucket.blob("batch/20260101T000000Z/input.jsonl").upload_from_string("[]\n")
        bucket.blob("kept/notes.txt").upload_from_string("not the pipeline's")
    return server


def names_under(server: VertexLocal, prefix: str) -> list[str]:
    return [blob.name for blob in server.storage_client().list_blobs(server.bucket, prefix=prefix)]


def test_a_dry_run_lists_everything_and_deletes_nothing(deployed: VertexLocal, tmp_path: Path) -> None:
    result = step(teardown.main, "--all", "--dry-run", "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("teardown: will undeploy ") and f"({MODEL} v1)" in line for line in lines)
    assert any(line.startswith(f"teardown: will delete endpoint {ENDPOINT} ") for line in lines)
    assert any(line.startswith(f"teardown: will delete model {MODEL} ") and "versions 1" in line for line in lines)
    assert f"teardown: will delete 1 objects under gs://{deployed.bucket}/batch/" in lines
    assert "teardown: dry run, nothing deleted" in lines
    assert aiplatform.Endpoint.list(filter=f'display_name="{ENDPOINT}"') and names_under(deployed, "runs/")


def test_without_yes_and_no_terminal_to_ask_nothing_is_deleted(deployed, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # not a terminal: a piped "yes" is not a person's
    result = step(teardown.main, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr == "teardown: nothing deleted: not confirmed (answer 'yes' at the prompt, or pass --yes)\n"
    assert aiplatform.Endpoint.list(filter=f'display_name="{ENDPOINT}"')


def test_yes_with_all_deletes_the_endpoint_model_and_run_folders_only(deployed: VertexLocal, tmp_path: Path) -> None:
    result = step(teardown.main, "--all", "--yes", "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    assert not aiplatform.Endpoint.list(filter=f'display_name="{ENDPOINT}"')
    assert not aiplatform.Model.list(filter=f'display_name="{MODEL}"')
    assert names_under(deployed, "runs/") == names_under(deployed, "batch/") == []
    assert names_under(deployed, "kept/") == ["kept/notes.txt"]
    again = step(teardown.main, "--all", "--yes", "--out-dir", str(tmp_path))
    assert again.status == 0 and "teardown: nothing to delete" in again.stdout
