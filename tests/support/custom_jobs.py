"""CustomJobs on the session's vertex-local through the SDK: worker pools, a job, its logs, waiting for a state,
and what a prebuilt training image's venv holds."""

from __future__ import annotations

import sysconfig
import time
from pathlib import Path

import requests
from google.cloud import aiplatform


def pool(command: list[str], args: list[str], replicas: int = 1, env: dict[str, str] | None = None) -> dict:
    container = {"image_uri": "local/trainer:test", "command": command, "args": args}
    container["env"] = [{"name": key, "value": value} for key, value in (env or {}).items()]
    return {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": replicas,
        "container_spec": container,
    }


def custom_job(name: str, *pools: dict) -> aiplatform.CustomJob:
    return aiplatform.CustomJob(
        display_name=name, worker_pool_specs=list(pools), base_output_dir=f"gs://test-bucket/jobs/{name}"
    )


def job_logs(vertex, job: aiplatform.CustomJob, tail: int | None = None) -> str:
    job_id = job.resource_name.rsplit("/", 1)[1]
    answer = requests.get(vertex.api(f"customJobs/{job_id}:logs"), params={"tail": tail} if tail else {}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text


def wait_for_state(job: aiplatform.CustomJob, states: set, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while job.state not in states:
        assert time.monotonic() < deadline, f"job stayed {job.state}"
        time.sleep(0.1)


PREBUILT = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"  # the SDK's own system test uses it


def installed_in_server(distribution: str) -> list[Path]:
    """Files of a distribution in the Python running the tests and the server (the same .venv)."""
    return sorted(Path(sysconfig.get_path("purelib")).glob(f"{distribution}*"))
