"""The state dir is its user's alone (issue 18, item 6): files 0600, directories 0700, so another user of the
machine (a server in token mode is shared) reads no object, job log or database from disk.

A real server in a fresh state dir stores an object and runs a custom job; the job checks its own workspace
while it exists (workspaces are removed when a job ends), then the test walks everything left.

Run: .venv/bin/pytest tests/vertex_local/test_state_permissions.py
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

JOB_TIMEOUT_S = 120
# Run by the job: every path in its workspace (venv, packages) that a group or other user could reach.
WORKSPACE_CHECK = """
import os, pathlib, sys
workspace = next(p for p in pathlib.Path(os.environ["VIRTUAL_ENV"]).parents if p.name == "workspace")
shared = [f"{oct(p.lstat().st_mode & 0o777)} {p}" for p in [workspace, *workspace.rglob("*")]
          if not p.is_symlink() and p.lstat().st_mode & 0o077]
print("shared:", shared[:5], "of", len(shared), flush=True)
sys.exit(1 if shared else 0)
"""


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path_factory.mktemp("permissions") / "state")
    yield running
    running.stop()


def run_job(server: VertexLocal, script: str) -> dict:
    client = HttpClient(server.url)
    container = {"imageUri": "local/x", "command": ["python", "-c", script]}
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": container}
    body = {"displayName": "permissions", "jobSpec": {"workerPoolSpecs": [pool]}}
    answer = client.json("POST", f"/v1/{server.parent}/customJobs", body)
    assert answer.status == 200, answer.body
    name, deadline = answer.json()["name"], time.monotonic() + JOB_TIMEOUT_S
    while (job := client.request("GET", f"/v1/{name}").json())["state"] not in ("JOB_STATE_SUCCEEDED",
                                                                                "JOB_STATE_FAILED"):  # fmt: skip
        assert time.monotonic() < deadline, f"the job did not finish: {job}"
        time.sleep(0.1)
    job["log"] = client.request("GET", f"/v1/{name}:logs").body.decode(errors="replace")
    client.close()
    return job


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_every_file_is_0600_and_every_directory_0700_in_the_state_dir(server: VertexLocal) -> None:
    server.storage_client().bucket(server.bucket).blob("private/object.txt").upload_from_string(b"secret")
    job = run_job(server, WORKSPACE_CHECK)
    assert job["state"] == "JOB_STATE_SUCCEEDED", f"the job's workspace is shared:\n{job['log']}"
    root = server.state_dir
    found = [root, *root.rglob("*")]
    dirs = [path for path in found if path.is_dir() and not path.is_symlink()]
    files = [path for path in found if path.is_file() and not path.is_symlink()]
    assert {f"{oct(mode(path))} {path.relative_to(root.parent)}" for path in dirs if mode(path) != 0o700} == set()
    assert {f"{oct(mode(path))} {path.relative_to(root.parent)}" for path in files if mode(path) != 0o600} == set()
    names = {path.name for path in files}
    assert {"state.sqlite3", ".catalog.sqlite3", "metrics.sqlite3"} <= names
    assert any(path.parent.parent.name == ".objects" for path in files), "no object content file was checked"
    assert any(path.suffix == ".log" and "jobs" in path.parts for path in files), "no job log was checked"
