"""A custom job's processes never outlive the server that started them: a real kill -9 mid-job, then a restart.

Replicas die with the server (PR_SET_PDEATHSIG, set by jobs/execution.py); what they started themselves is stopped when
the server starts again on the same state, before it answers anyone. Recorded groups are recognised by start
time, boot and job id, so a reused pid is never killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal, start_vertex_local
from vertex_local.vertex.jobs import process_groups

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups are read from /proc")
DEADLINE_S = 30.0

# The job's replica: starts a child (same process group), which uploads a heartbeat object through the storage
# API every few milliseconds for as long as it lives, then both report their pids and wait.
JOB_SCRIPT = """
import json, os, subprocess, sys, time
HEARTBEAT = '''
import itertools, os, time, urllib.request
url = os.environ["STORAGE_EMULATOR_HOST"] + "/upload/storage/v1/b/test-bucket/o?uploadType=media&name=heartbeat/"
for n in itertools.count():
    try:
        urllib.request.urlopen(urllib.request.Request(url + str(n), data=b"beat", method="POST"), timeout=2)
    except OSError:
        pass  # the server is down
    time.sleep(0.02)
'''
child = subprocess.Popen([sys.executable, "-c", HEARTBEAT])
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump({"replica": os.getpid(), "child": child.pid}, out)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def alive(pid: int) -> bool:
    return process_groups.read_stat(pid) is not None  # a zombie is dead


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def heartbeats(server: VertexLocal) -> list[dict]:
    answer = HttpClient(server.url).request("GET", "/storage/v1/b/test-bucket/o?prefix=heartbeat/")
    return answer.json().get("items", [])


@pytest.fixture
@tiers.live
def servers(tmp_path: Path) -> Iterator[list[VertexLocal]]:
    started: list[VertexLocal] = []
    yield started
    for server in started:
        server.stop()


def test_a_kill_9_mid_job_leaves_no_process_no_workspace_and_nothing_written_after_the_restart(
    servers, tmp_path
) -> None:
    server = start_vertex_local(tmp_path / "state")
    servers.append(server)
    pid_file = tmp_path / "pids.json"
    spec = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                                 "containerSpec": {"imageUri": "local/x", "command": ["python", "-c", JOB_SCRIPT],
                                                   "args": [str(pid_file)]}}]}  # fmt: skip
    client = HttpClient(server.url)
    answer = client.json("POST", f"/v1/{server.parent}/customJobs", {"displayName": "crash", "jobSpec": spec})
    assert answer.status == 200, answer.body
    job = answer.json()["name"]
    wait_until(pid_file.exists, "the job wrote its pids")
    workspace = tmp_path / "state" / "jobs" / job.rsplit("/", 1)[1] / "workspace"
    assert (workspace / "workerpool0-0" / "venv").is_dir()
    pids = json.loads(pid_file.read_text())
    wait_until(lambda: heartbeats(server), "the job's child wrote into the bucket")

    server.kill()
    killed_at_us = time.time_ns() // 1000
    wait_until(lambda: not alive(pids["replica"]), "the replica died with the server")
    assert alive(pids["child"]), "the replica's own child is the restart's to stop"

    restarted = start_vertex_local(tmp_path / "state")
    servers.append(restarted)
    wait_until(lambda: not alive(pids["child"]), "the restart stopped the child")
    assert max(int(item["generation"]) for item in heartbeats(restarted)) < killed_at_us
    client = HttpClient(restarted.url)
    doc = client.request("GET", f"/v1/{job}").json()
    assert doc["state"] == "JOB_STATE_FAILED" and "restarted while the job was running" in doc["error"]["message"]
    refused = client.json("POST", f"/v1/{job}:cancel", {})
    assert refused.status == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert "stopped 1 process(es) that custom jobs left running" in restarted.log_tail(200)  # the child
    assert not workspace.exists() and "removed 1 custom job workspace(s)" in restarted.log_tail(200)


def test_a_recorded_group_is_stopped_only_while_it_is_still_the_jobs(tmp_path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        saved = process_groups.record("workerpool0-0", sleeper.pid)
        assert saved is not None
        assert process_groups.stop_leftovers([{**saved, "startTicks": saved["startTicks"] - 1}], "7") == 0
        assert process_groups.stop_leftovers([{**saved, "bootId": "another-boot"}], "7") == 0
        assert sleeper.poll() is None  # a pid that now names another process is left alone
        assert process_groups.stop_leftovers([saved], "7") == 1
        assert sleeper.wait(DEADLINE_S) == -9
    finally:
        sleeper.kill()


def test_a_group_whose_leader_is_gone_is_stopped_by_the_job_id_its_members_carry(tmp_path) -> None:
    spawn = (
        "import subprocess, sys; print(subprocess.Popen(['sleep', '60'], stdout=subprocess.DEVNULL).pid, flush=True);"
        "sys.stdin.read()"
    )
    env = {"CLOUD_ML_JOB_ID": "1234", "PATH": "/usr/bin:/bin"}
    leader = subprocess.Popen([sys.executable, "-c", spawn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env, start_new_session=True)  # fmt: skip
    child = int(leader.stdout.readline())
    saved = process_groups.record("workerpool0-0", leader.pid)
    leader.stdin.close()  # the leader exits; its child stays in the group
    leader.wait(DEADLINE_S)
    try:
        assert alive(child) and not alive(leader.pid)
        assert process_groups.stop_leftovers([saved], "1235") == 0  # another job's
        assert alive(child)
        assert process_groups.stop_leftovers([saved], "1234") == 1
        wait_until(lambda: not alive(child), "the leftover child was stopped")
    finally:
        subprocess.run(["kill", "-9", str(child)], check=False, capture_output=True)
