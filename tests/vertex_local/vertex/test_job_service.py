"""JobService through the real SDK: real local processes, Vertex's environment, states, logs, cancel."""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.support.custom_jobs import custom_job, job_logs, pool, wait_for_state
from tests.support.vertex_local_server import REPO_ROOT

JobState = gca_job_state.JobState
PRINT_ENV = (
    "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'python': sys.executable, 'cwd': os.getcwd()}))"
)


def upload_requests(log_text: str, bucket: str) -> int:
    """Objects the server stored through the JSON API's upload route, by its access log."""
    return log_text.count(f'"POST /upload/storage/v1/b/{bucket}/o HTTP/1.1" 200')


@pytest.mark.slow
def test_the_real_trainer_reads_and_writes_gs_uris_only_through_the_storage_api(
    vertex, unique_name, trained_model_dir: Path, mnist_test_digits
) -> None:
    bucket = vertex.storage_client().bucket("test-bucket")
    digits, labels = mnist_test_digits
    data = f"data/{unique_name}.npz"
    buffer = io.BytesIO()
    np.savez(buffer, x_train=(digits[:300] * 255).astype(np.uint8), y_train=labels[:300],
             x_test=(digits[300:400] * 255).astype(np.uint8), y_test=labels[300:400])  # fmt: skip
    bucket.blob(data).upload_from_string(buffer.getvalue())
    bucket.get_blob(data)  # a request after the upload: once its line is logged, the upload's is too
    log_before = vertex.log_through(f"GET /storage/v1/b/test-bucket/o/{data} ")
    trainer = pool(["python", "-m", "trainer.task"], ["--data-path", f"gs://test-bucket/{data}", "--model", "baseline",
                                                      "--epochs", "1"])  # fmt: skip
    job = custom_job(unique_name, trainer)
    job.run()
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    model_prefix = f"jobs/{unique_name}/model/"
    bucket.get_blob(model_prefix + "metrics.json")  # likewise after the job's uploads
    written = vertex.log_through(f"GET /storage/v1/b/test-bucket/o/{model_prefix}metrics.json ")[len(log_before) :]

    listed = {blob.name.removeprefix(model_prefix) for blob in bucket.list_blobs(prefix=model_prefix)}
    exported = {p.relative_to(trained_model_dir).as_posix() for p in trained_model_dir.rglob("*") if p.is_file()}
    assert listed == exported  # the SavedModel's files and metrics.json, nothing more or less
    # Nothing was written by name under the state dir behind the API's back (the store keeps content files only).
    assert list(vertex.state_dir.rglob(f"*{unique_name}*")) == []
    assert upload_requests(written, "test-bucket") == len(listed)  # each one arrived as an upload request
    assert f"GET /download/storage/v1/b/test-bucket/o/{data}" in written  # the data came through the API too
    metrics = json.loads(bucket.blob(model_prefix + "metrics.json").download_as_bytes())
    assert metrics["dataset"] == f"gs://test-bucket/{data}" and metrics["train_examples"] == 300
    assert 0.3 < metrics["accuracy"] <= 1.0
    log = job_logs(vertex, job)
    assert f"accuracy {metrics['accuracy']:.4f}" in log and f"gs://test-bucket/{model_prefix}" in log


def test_a_job_gets_vertexs_gs_output_dirs_this_server_as_storage_host_and_no_path_into_the_store(
    vertex, unique_name
) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], [PRINT_ENV], env={"GREETING": "hello"}))
    job.run()
    seen = json.loads(job_logs(vertex, job).strip().splitlines()[-1])
    env, base = seen["env"], f"gs://test-bucket/jobs/{unique_name}"
    assert env["AIP_MODEL_DIR"] == f"{base}/model/"
    assert env["AIP_CHECKPOINT_DIR"] == f"{base}/checkpoints/"
    assert env["AIP_TENSORBOARD_LOG_DIR"] == f"{base}/logs/"
    assert env["STORAGE_EMULATOR_HOST"] == vertex.url
    job_id = job.resource_name.rsplit("/", 1)[1]
    workspace = vertex.state_dir / "jobs" / job_id / "workspace" / "workerpool0-0"
    # The only paths into the state dir are the replica's own venv and user base, never the object store.
    assert {key for key, value in env.items() if str(vertex.state_dir) in value} == {"PATH", "VIRTUAL_ENV",
                                                                                    "PYTHONUSERBASE"}  # fmt: skip
    assert env["PATH"].startswith(f"{workspace}/venv/bin:") and env["PYTHONUSERBASE"] == f"{workspace}/user"
    assert env["CLOUD_ML_JOB_ID"] == job_id
    assert env["GREETING"] == "hello"
    assert "TF_CONFIG" not in env  # one replica: no cluster
    assert Path(seen["python"]) == workspace / "venv" / "bin" / "python"
    assert Path(seen["cwd"]) == REPO_ROOT
    assert not workspace.exists()  # removed when the job ended


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


def gpu(machine: str, accelerator: str, count: int) -> dict:
    return {"machine_spec": {"machine_type": machine, "accelerator_type": accelerator, "accelerator_count": count}}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"container_spec": {"image_uri": "trainer:1"}}, "command is required"),
        # Machines Vertex does not offer for training (machines.py: the training page's tables).
        (
            {"machine_spec": {"machine_type": "n1-standard-2"}},
            "'n1-standard-2' is not a machine type Vertex offers for",
        ),
        (
            {"machine_spec": {"machine_type": "e2-standard-2"}},
            "'e2-standard-2' is not a machine type Vertex offers for",
        ),
        (gpu("n1-standard-4", "NVIDIA_TESLA_A100", 1), "n1-standard-4 takes no NVIDIA_TESLA_A100"),
        (gpu("n1-standard-16", "NVIDIA_TESLA_V100", 1), "NVIDIA_TESLA_V100 x 1 on n1-standard-16 (16 vCPUs)"),
        (gpu("n1-standard-4", "NVIDIA_TESLA_T4", 3), "NVIDIA_TESLA_T4 x 3 on n1-standard-4"),
        (gpu("a2-highgpu-1g", "NVIDIA_TESLA_A100", 2), "a2-highgpu-1g takes acceleratorType NVIDIA_TESLA_A100 with"),
        (gpu("g2-standard-4", "NVIDIA_TESLA_T4", 1), "g2-standard-4 takes acceleratorType NVIDIA_L4"),
    ],
)
def test_specs_vertex_refuses_are_a_bad_request_naming_the_field(vertex, unique_name, spec, problem) -> None:
    chief = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
             "container_spec": {"image_uri": "trainer:1", "command": ["true"]}}  # fmt: skip
    job = aiplatform.CustomJob(display_name=unique_name, worker_pool_specs=[chief, {**chief, **spec}])
    with pytest.raises(exceptions.BadRequest, match=re.escape(problem)) as refused:
        job.submit()
    assert "jobSpec.workerPoolSpecs[1]" in str(refused.value)


def test_a_machine_with_a_gpu_it_takes_is_accepted_and_runs_on_this_machines_cpu(vertex, unique_name) -> None:
    job = custom_job(
        unique_name, {**pool(["python", "-c"], ["print('ok')"]), **gpu("n1-standard-4", "NVIDIA_TESLA_T4", 1)}
    )
    job.run()
    assert job.state == JobState.JOB_STATE_SUCCEEDED


def test_jobs_are_listed_by_display_name_and_state_and_unknown_ones_are_not_found(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], ["print('ok')"]))
    job.run()
    found = aiplatform.CustomJob.list(filter=f'display_name="{unique_name}" AND state="JOB_STATE_SUCCEEDED"')
    assert [listed.resource_name for listed in found] == [job.resource_name]
    assert aiplatform.CustomJob.list(filter=f'display_name="{unique_name}" AND state="JOB_STATE_FAILED"') == []
    with pytest.raises(exceptions.NotFound):
        aiplatform.CustomJob.get("987654321")
    assert requests.get(vertex.api("customJobs/987654321:logs"), timeout=10).status_code == 404


@pytest.mark.parametrize("field", ["experiment", "experimentRun", "tensorboard"])
def test_experiment_and_tensorboard_fields_are_refused_not_ignored(vertex, field) -> None:
    pools = [{"machineSpec": {"machineType": "n1-standard-4"}, "containerSpec": {"imageUri": "x", "command": ["true"]}}]
    spec = {"workerPoolSpecs": pools, field: f"projects/{vertex.project}/locations/{vertex.location}/x/e"}
    answer = requests.post(vertex.api("customJobs"), json={"displayName": "refused", "jobSpec": spec}, timeout=30)
    assert answer.status_code == 400 and f"jobSpec.{field}" in answer.json()["error"]["message"]


@pytest.mark.parametrize("machine_type", [[None], {"n1-standard-4": 1}, 4, True])
def test_a_machine_type_that_is_not_a_string_is_a_bad_request(vertex, machine_type) -> None:
    pools = [{"machineSpec": {"machineType": machine_type}, "containerSpec": {"imageUri": "x", "command": ["true"]}}]
    body = {"displayName": "refused", "jobSpec": {"workerPoolSpecs": pools}}
    answer = requests.post(vertex.api("customJobs"), json=body, timeout=30)
    assert answer.status_code == 400, answer.text
    assert "jobSpec.workerPoolSpecs[0].machineSpec.machineType" in answer.json()["error"]["message"]
