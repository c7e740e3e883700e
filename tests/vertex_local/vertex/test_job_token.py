"""A vertex-local started with a bearer token: a pythonPackageSpec job's venv gets the token, its package is read
and its /gcs/ paths are copied in and written back, with every request to the server carrying the token."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.support import tiers
from tests.support.custom_jobs import PREBUILT
from tests.support.own_servers import serve_own
from tests.support.vertex_local_server import VertexLocal
from tests.support.wheels import wheel

TOKEN = secrets.token_urlsafe()
BUCKET = "token-job-bucket"
DEADLINE_S = 120.0
DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
# Whether the job sees the server's token, the sum of the numbers it was given, written where it is told.
TASK = """
import hashlib, os, sys
data, out = sys.argv[1:]
seen = hashlib.sha256(os.environ.get("VERTEX_LOCAL_TOKEN", "").encode()).hexdigest()
os.makedirs(os.path.dirname(out), exist_ok=True)
open(out, "w").write(f"{seen} {sum(int(line) for line in open(data))}")
"""


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = serve_own(tmp_path_factory.mktemp("token-jobs"), env={"VERTEX_LOCAL_TOKEN": TOKEN}, token=TOKEN)
    yield running
    running.stop()


def call(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30, **kwargs)


def put_object(server: VertexLocal, name: str, data: bytes) -> str:
    url = f"{server.url}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={quote(name, safe='')}"
    answer = call("POST", url, data=data)
    assert answer.status_code == 200, answer.text
    return f"gs://{BUCKET}/{name}"


def test_a_package_job_on_a_token_server_gets_the_token_and_its_gcs_paths_read_and_write(
    server: VertexLocal, tmp_path: Path
) -> None:
    assert call("POST", f"{server.url}/storage/v1/b?project=p", json={"name": BUCKET}).status_code == 200
    app = wheel(tmp_path, "vl_token_app", {"vl_token_app/__init__.py": "", "vl_token_app/task.py": TASK})
    package = put_object(server, f"packages/{app.name}", app.read_bytes())
    put_object(server, "in/data.txt", b"12\n30\n")
    spec = {"executorImageUri": PREBUILT, "packageUris": [package], "pythonModule": "vl_token_app.task",
            "args": [f"/gcs/{BUCKET}/in/data.txt", f"/gcs/{BUCKET}/out/result.txt"]}  # fmt: skip
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "pythonPackageSpec": spec}
    job = {"displayName": "token", "jobSpec": {"workerPoolSpecs": [pool]}}
    created = call("POST", server.api("customJobs"), json=job)
    assert created.status_code == 200, created.text
    job_url = f"{server.url}/v1/{created.json()['name']}"
    state, deadline = "", time.monotonic() + DEADLINE_S
    while state not in DONE and time.monotonic() < deadline:  # poll with a deadline
        state = call("GET", job_url).json()["state"]
        time.sleep(0.1)
    assert state == "JOB_STATE_SUCCEEDED", call("GET", f"{job_url}:logs").text
    result = call("GET", f"{server.url}/storage/v1/b/{BUCKET}/o/{quote('out/result.txt', safe='')}?alt=media")
    assert result.status_code == 200, result.text
    assert result.text == f"{hashlib.sha256(TOKEN.encode()).hexdigest()} 42"
