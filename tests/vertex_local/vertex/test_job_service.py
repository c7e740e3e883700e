"""JobService through the real SDK: real local processes, Vertex's environment, states, logs, cancel."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.conftest import REPO_ROOT

JobState = gca_job_state.JobState
PRINT_ENV = (
    "import json, os, sys; keys = ['AIP_MODEL_DIR', 'AIP_CHECKPOINT_DIR', 'AIP_TENSORBOARD_LOG_DIR', "
    "'CLOUD_ML_JOB_ID', 'GREETING', 'TF_CONFIG', 'CLUSTER_SPEC']; "
    "env = {k: os.environ.get(k) for k in keys}; "
    "print(json.dumps({'env': env, 'python': sys.executable, 'cwd': os.getcwd()}))"
)


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


@pytest.mark.slow
def test_a_custom_job_runs_the_real_trainer_which_writes_its_model_under_aip_model_dir(vertex, unique_name) -> None:
    trainer = pool(
        ["python", "-m", "trainer.task"],
        ["--dataset", "mnist-sample", "--model", "baseline", "--epochs", "1"],
    )
    job = custom_job(unique_name, trainer)
    job.run()
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    bucket = vertex.storage_client().bucket("test-bucket")
    model_prefix = f"jobs/{unique_name}/model/"
    names = {blob.name.removeprefix(model_prefix) for blob in bucket.list_blobs(prefix=model_prefix)}
    assert {"saved_model.pb", "metrics.json"} <= names
    metrics = json.loads(bucket.blob(model_prefix + "metrics.json").download_as_bytes())
    assert metrics["dataset"] == "mnist-sample" and 0.5 < metrics["accuracy"] <= 1.0
    assert f"trainer: baseline on mnist-sample: accuracy {metrics['accuracy']:.4f}" in job_logs(vertex, job)


def test_a_job_gets_vertexs_output_dirs_its_env_and_the_projects_python(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], [PRINT_ENV], env={"GREETING": "hello"}))
    job.run()
    seen = json.loads(job_logs(vertex, job).strip().splitlines()[-1])
    base = vertex.state_dir / "gcs" / "test-bucket" / "jobs" / unique_name
    assert seen["env"]["AIP_MODEL_DIR"] == f"{base}/model/"
    assert seen["env"]["AIP_CHECKPOINT_DIR"] == f"{base}/checkpoints/"
    assert seen["env"]["AIP_TENSORBOARD_LOG_DIR"] == f"{base}/logs/"
    assert seen["env"]["CLOUD_ML_JOB_ID"] == job.resource_name.rsplit("/", 1)[1]
    assert seen["env"]["GREETING"] == "hello"
    assert seen["env"]["TF_CONFIG"] is None  # one replica: no cluster
    assert Path(seen["python"]).parent == Path(sys.executable).parent
    assert Path(seen["cwd"]) == REPO_ROOT


def test_every_replica_of_a_multi_replica_job_runs_with_its_tf_config(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], [PRINT_ENV]), pool(["python", "-c"], [PRINT_ENV], replicas=2))
    job.run()
    sections = job_logs(vertex, job).split("==> ")[1:]
    assert [section.split(" <==")[0] for section in sections] == [
        "workerpool0-0",
        "workerpool1-0",
        "workerpool1-1",
    ]
    configs = [json.loads(json.loads(section.strip().splitlines()[-1])["env"]["TF_CONFIG"]) for section in sections]
    assert [config["task"] for config in configs] == [
        {"type": "chief", "index": 0},
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]
    cluster = configs[0]["cluster"]
    assert len(cluster["chief"]) == 1 and len(cluster["worker"]) == 2 and all(c["cluster"] == cluster for c in configs)
    spec = json.loads(json.loads(sections[2].strip().splitlines()[-1])["env"]["CLUSTER_SPEC"])
    assert spec["task"] == {"type": "workerpool1", "index": 1} and set(spec["cluster"]) == {
        "workerpool0",
        "workerpool1",
    }


def test_a_failing_job_is_failed_with_its_exit_status_and_log_tail(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], ["import sys; print('loss went NaN'); sys.exit(3)"]))
    with pytest.raises(RuntimeError, match="non-zero status of 3") as caught:
        job.run()
    assert "loss went NaN" in str(caught.value)
    assert job.state == JobState.JOB_STATE_FAILED
    assert "loss went NaN" in job.error.message
    assert job_logs(vertex, job, tail=1).strip() == "loss went NaN"


def test_a_command_that_does_not_exist_fails_the_job_saying_so(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["no-such-trainer-binary"], []))
    with pytest.raises(RuntimeError, match="cannot start the job"):
        job.run()
    assert job.state == JobState.JOB_STATE_FAILED
    assert "command 'no-such-trainer-binary': No such file or directory" in job.error.message


def test_cancel_stops_the_running_process(vertex, unique_name, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    job = custom_job(unique_name, pool(["python", "-c"], [script]))
    job.submit()
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the job's process never started"
        time.sleep(0.05)
    job.cancel()
    wait_for_state(job, {JobState.JOB_STATE_CANCELLED})
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    with pytest.raises(exceptions.BadRequest, match="nothing to cancel"):
        job.cancel()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"container_spec": {"image_uri": "trainer:1"}}, "command is required"),
        (
            {
                "python_package_spec": {
                    "executor_image_uri": "x",
                    "package_uris": ["gs://b/p"],
                    "python_module": "m",
                }
            },
            "pythonPackageSpec",
        ),
    ],
)
def test_specs_vertex_local_cannot_run_are_refused_with_bad_request(vertex, unique_name, spec, problem) -> None:
    job = aiplatform.CustomJob(
        display_name=unique_name,
        worker_pool_specs=[{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, **spec}],
    )
    with pytest.raises(exceptions.BadRequest, match=problem):
        job.submit()


def test_jobs_are_listed_by_display_name_and_state_and_unknown_ones_are_not_found(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], ["print('ok')"]))
    job.run()
    found = aiplatform.CustomJob.list(filter=f'display_name="{unique_name}" AND state="JOB_STATE_SUCCEEDED"')
    assert [listed.resource_name for listed in found] == [job.resource_name]
    assert aiplatform.CustomJob.list(filter=f'display_name="{unique_name}" AND state="JOB_STATE_FAILED"') == []
    with pytest.raises(exceptions.NotFound):
        aiplatform.CustomJob.get("987654321")
    assert requests.get(vertex.api("customJobs/987654321:logs"), timeout=10).status_code == 404
