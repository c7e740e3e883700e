"""The whole server's lifecycle: readiness, error shape, restarts after a clean stop and after a crash (a restart's
deployed models served again: tests/vertex_local/vertex/test_serving_copies.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.support import tiers
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

JobState = gca_job_state.JobState


@pytest.fixture
@tiers.live
def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexLocal]:
    """A server of this test's own, so it can be stopped, crashed and restarted."""
    server = start_vertex_local(tmp_path / "state")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    server.init_sdk()
    yield server
    server.stop()


def sleeping_job(name: str, pid_file: Path) -> aiplatform.CustomJob:
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    container = {"image_uri": "local/trainer:test", "command": ["python", "-c", script]}
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": container,
    }
    return aiplatform.CustomJob(display_name=name, worker_pool_specs=[pool])


def wait_for_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the job's process never started"
        time.sleep(0.05)
    return int(pid_file.read_text())


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_health_answers_and_errors_have_googles_shape(vertex_local) -> None:
    health = {"status": "ok", "pid": vertex_local.process.pid, "stateDir": str(vertex_local.state_dir.resolve())}
    assert requests.get(f"{vertex_local.url}/healthz", timeout=5).json() == health
    answer = requests.get(f"{vertex_local.url}/v1/nothing/here", timeout=5)
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND" and "/v1/nothing/here" in answer.json()["error"]["message"]


def test_by_default_the_server_listens_on_loopback_only(vertex_local) -> None:
    # Linux routes all of 127.0.0.0/8 to the loopback interface: a server bound to every address (0.0.0.0) answers
    # on 127.0.0.2 too, one bound to 127.0.0.1 alone refuses it.
    socket.create_connection(("127.0.0.1", vertex_local.port), timeout=5).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", vertex_local.port), timeout=5)


def test_every_request_is_logged_on_one_line(vertex_local) -> None:
    requests.get(vertex_local.api("models/424242"), timeout=5)
    # The access log is written in batches at the end of an event-loop turn: the answer may arrive before its line.
    lines = [line for line in vertex_local.log_through("models/424242").splitlines() if "models/424242" in line]
    assert len(lines) == 1 and '"GET /v1/' in lines[0] and "404" in lines[0]


def test_a_crash_mid_job_leaves_state_that_loads_with_the_job_failed(own_server: VertexLocal, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    job = sleeping_job("crashed", pid_file)
    job.submit()
    pid = wait_for_pid(pid_file)
    own_server.kill()  # SIGKILL: no shutdown code runs
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the orphaned job process, which this test started through the server
    own_server.start()
    restarted = aiplatform.CustomJob.get(job.resource_name)
    assert restarted.state == JobState.JOB_STATE_FAILED
    assert "restarted while the job was running" in restarted.error.message


def test_a_clean_stop_ends_running_jobs_and_their_processes(own_server: VertexLocal, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    job = sleeping_job("stopped", pid_file)
    job.submit()
    pid = wait_for_pid(pid_file)
    assert own_server.stop() == 0
    assert not is_running(pid)
    own_server.start()
    stopped = aiplatform.CustomJob.get(job.resource_name)
    assert stopped.state == JobState.JOB_STATE_FAILED
    assert "stopped while the job was running" in stopped.error.message
