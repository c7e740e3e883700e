"""Beyond loopback, only requests with vertex-local's bearer token are served, and the real SDKs send it.

The server listens on 0.0.0.0 with $VERTEX_LOCAL_TOKEN set; the pipeline's own client layer
(scripts/core/cloud.py with [vertex] credentials = "token") gives google-cloud-aiplatform and google-cloud-storage
the token, and the same calls without it are refused.

Run: .venv/bin/pytest tests/vertex_local/http/test_token.py
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator

import pytest
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform, storage

from pipeline_config import ConfigError, load_config
from scripts.core import cloud
from tests.support import tiers
from tests.support.own_servers import serve_own
from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

TOKEN = secrets.token_urlsafe()
TOKEN_VARIABLE = "MNIST_VERTEX_LOCAL_TOKEN"  # [vertex] token_env may name any variable
JOB_TIMEOUT_S = 120
DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
OTHER_NAME = "vertex-local.internal"  # how containers on a shared network might reach it (--allow-host)


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    args = ["--host", "0.0.0.0", "--allow-host", OTHER_NAME]
    running = serve_own(tmp_path_factory.mktemp("token"), args, {"VERTEX_LOCAL_TOKEN": TOKEN}, token=TOKEN)
    yield running
    running.stop()


def token_config(server: VertexLocal) -> dict[str, str]:
    return {
        "PIPELINE_VERTEX_CREDENTIALS": "token",
        "PIPELINE_VERTEX_TOKEN_ENV": TOKEN_VARIABLE,
        "PIPELINE_VERTEX_API_ENDPOINT": server.url,
        "PIPELINE_VERTEX_STORAGE_EMULATOR_HOST": server.url,
    }


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-of-some-length", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
    # Named, not shown: the token is random, and test ids must not change from one collection to the next.
    ids=["none", "wrong-token", "bare-token", "basic-scheme", "token-plus-a-char", "bearer-alone"],
)
def test_a_request_without_the_token_is_refused_401(server: VertexLocal, authorization: str | None) -> None:
    client = HttpClient(server.url)
    answer = client.request("GET", "/healthz", b"", {"authorization": authorization} if authorization else {})
    assert answer.status == 401 and google_error_problems(answer) == [], answer.body
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED" and answer.headers["www-authenticate"]
    assert TOKEN not in answer.body.decode()
    client.close()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_the_token_is_all_it_takes_by_any_name_the_server_answers_to(server: VertexLocal, scheme: str) -> None:
    client = HttpClient(server.url)
    for host in (f"127.0.0.1:{server.port}", f"0.0.0.0:{server.port}", f"{OTHER_NAME}:{server.port}"):
        answer = client.request("GET", "/healthz", b"", {"authorization": f"{scheme} {TOKEN}", "host": host})
        assert answer.status == 200, (host, answer.body)
    client.close()


def test_credentials_token_gives_both_sdks_the_token(
    server: VertexLocal, monkeypatch: pytest.MonkeyPatch, unique_name: str
) -> None:
    cfg = load_config("local", environ=token_config(server))
    environ = {TOKEN_VARIABLE: TOKEN}
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)  # connect() exports it to the environment it is given
    cloud.connect(cfg, environ)
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)  # a POST, then a long-running operation
    assert aiplatform.Endpoint(endpoint.resource_name).display_name == unique_name
    client = cloud.storage_client(cfg, environ)
    bucket = client.create_bucket(unique_name)
    data = os.urandom(600 * 1024)
    bucket.blob("small.txt").upload_from_string(b"small")  # multipart
    bucket.blob("large.bin", chunk_size=256 * 1024).upload_from_string(data)  # resumable, three chunks
    assert bucket.blob("large.bin").download_as_bytes() == data
    cloud.write_text(f"gs://{unique_name}/metrics.json", '{"accuracy": 0.9}', client)  # the steps' own gs:// I/O
    assert cloud.read_json(f"gs://{unique_name}/metrics.json", client) == {"accuracy": 0.9}


def test_the_same_sdk_calls_without_the_right_token_are_refused(
    server: VertexLocal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth answers a 401 by refreshing the credentials: anonymous ones cannot be, nor can a bare token.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    aiplatform.init(project="p", location="us-central1", api_endpoint=server.url, api_transport="rest",
                    credentials=AnonymousCredentials())  # fmt: skip
    with pytest.raises(auth_exceptions.InvalidOperation, match="Anonymous credentials cannot be refreshed"):
        aiplatform.Endpoint.list()
    with pytest.raises(auth_exceptions.InvalidOperation, match="Anonymous credentials cannot be refreshed"):
        list(storage.Client(project="p", credentials=AnonymousCredentials()).list_buckets())
    cfg, wrong = load_config("local", environ=token_config(server)), {TOKEN_VARIABLE: secrets.token_urlsafe()}
    cloud.connect(cfg, wrong)
    with pytest.raises(auth_exceptions.RefreshError):
        aiplatform.Endpoint.list()
    with pytest.raises(auth_exceptions.RefreshError):
        list(cloud.storage_client(cfg, wrong).list_buckets())


def test_credentials_token_without_its_variable_is_a_config_error_naming_it() -> None:
    cfg = load_config("local", environ={"PIPELINE_VERTEX_CREDENTIALS": "token"})
    with pytest.raises(ConfigError, match=r"\$VERTEX_LOCAL_TOKEN \(vertex.token_env\) is not set"):
        cloud.credentials(cfg, {})


UPLOAD_SCRIPT = """
import pathlib, sys, tempfile
from trainer.storage import upload_dir
folder = pathlib.Path(tempfile.mkdtemp())
(folder / "note.txt").write_text("written by a job")
upload_dir(folder, sys.argv[1])
"""


def test_a_custom_job_on_a_token_server_writes_through_the_storage_api_with_the_token(server: VertexLocal) -> None:
    bearer = {"authorization": f"Bearer {TOKEN}"}
    bucket = requests.post(f"{server.url}/storage/v1/b?project=p", json={"name": "token-jobs"}, headers=bearer,
                           timeout=30)  # fmt: skip
    assert bucket.status_code == 200, bucket.text
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
            "containerSpec": {"imageUri": "local/job", "command": ["python", "-c", UPLOAD_SCRIPT],
                              "args": ["gs://token-jobs/out"]}}  # fmt: skip
    job = {"displayName": "token-job", "jobSpec": {"workerPoolSpecs": [pool]}}
    created = requests.post(server.api("customJobs"), json=job, headers=bearer, timeout=30)
    assert created.status_code == 200, created.text
    state, deadline = "", time.monotonic() + JOB_TIMEOUT_S
    while state not in DONE and time.monotonic() < deadline:  # poll with a deadline
        state = requests.get(f"{server.url}/v1/{created.json()['name']}", headers=bearer, timeout=30).json()["state"]
        time.sleep(0.2)
    assert state == "JOB_STATE_SUCCEEDED", requests.get(f"{server.url}/v1/{created.json()['name']}:logs",
                                                        headers=bearer, timeout=30).text  # fmt: skip
    note = requests.get(f"{server.url}/download/storage/v1/b/token-jobs/o/out%2Fnote.txt?alt=media", headers=bearer,
                        timeout=30)  # fmt: skip
    assert note.status_code == 200 and note.text == "written by a job"
