"""pythonPackageSpec on a prebuilt training image: packages from Cloud Storage installed into a fresh venv, then
`python -m module args`, as Vertex runs CustomJob.from_local_script's package; the server's Python never changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.support.custom_jobs import PREBUILT, installed_in_server, job_logs
from tests.support.wheels import wheel

JobState = gca_job_state.JobState
MACHINE = {"machineType": "n1-standard-4"}
SPEC = {"executorImageUri": PREBUILT, "packageUris": ["gs://bkt/t.tar.gz"], "pythonModule": "t"}
# What the job's module reports about where it runs: one JSON line.
REPORT = """
import importlib.util, json, os, sys

def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False

server_side = ["google.cloud.aiplatform", "tensorflow", "numpy", "pipeline_config", "trainer", "vertex_local"]
print(json.dumps({"argv": sys.argv[1:], "greeting": os.environ.get("GREETING"), "prefix": sys.prefix,
                  "cwd": os.getcwd(), "file": __file__, "imports": [n for n in server_side if importable(n)]}))
"""


def upload(vertex, path: Path, name: str) -> str:
    vertex.storage_client().bucket(vertex.bucket).blob(name).upload_from_filename(str(path))
    return f"gs://{vertex.bucket}/{name}"


def package_job(name: str, uris: list[str], module: str, args: list[str] = ()) -> aiplatform.CustomJob:
    spec = {"executor_image_uri": PREBUILT, "package_uris": uris, "python_module": module, "args": list(args)}
    pools = [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "python_package_spec": spec}]
    return aiplatform.CustomJob(display_name=name, worker_pool_specs=pools)


def test_a_local_script_on_a_prebuilt_image_runs_as_its_package_in_a_fresh_venv(vertex, unique_name, tmp_path) -> None:
    script = tmp_path / "task.py"
    script.write_text(REPORT)
    job = aiplatform.CustomJob.from_local_script(
        display_name=unique_name, script_path=str(script), container_uri=PREBUILT, args=["--epochs", "2"],
        environment_variables={"GREETING": "hello"},
    )  # fmt: skip
    job.run()
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    sent = job.job_spec.worker_pool_specs[0].python_package_spec  # what the SDK sends for a prebuilt image
    assert sent.executor_image_uri == PREBUILT and sent.python_module == "aiplatform_custom_trainer_script.task"
    assert sent.package_uris[0].startswith(f"gs://{vertex.bucket}/") and sent.package_uris[0].endswith(".tar.gz")

    log = job_logs(vertex, job)
    seen = json.loads(log.strip().splitlines()[-1])
    workspace = vertex.state_dir / "jobs" / job.resource_name.rsplit("/", 1)[1] / "workspace" / "workerpool0-0"
    assert seen["argv"] == ["--epochs", "2"] and seen["greeting"] == "hello"
    assert seen["prefix"] == str(workspace / "venv") and seen["cwd"] == str(workspace)
    assert seen["file"].startswith(str(workspace / "venv" / "lib"))  # the installed package, not a copy of the script
    assert seen["imports"] == []  # nothing of the server's Python, nor of the repository, is importable there
    assert "pip --python" in log and "Successfully installed aiplatform" in log.replace("-", "_")
    assert installed_in_server("aiplatform_custom_trainer_script") == []
    assert not workspace.exists()


def test_packages_are_installed_with_their_requirements_then_the_module_runs_with_its_args(
    vertex, unique_name, tmp_path
) -> None:
    helper = wheel(tmp_path, "vl_helper", {"vl_helper/__init__.py": "GREETING = 'hello from vl_helper'\n"})
    task = "import sys, vl_helper; print(vl_helper.GREETING, sys.argv[1:])\n"
    app_files = {"vl_app/__init__.py": "", "vl_app/task.py": task}
    app = wheel(tmp_path, "vl_app", app_files, requires=["vl_helper"])
    uris = [upload(vertex, app, f"{unique_name}/{app.name}"), upload(vertex, helper, f"{unique_name}/{helper.name}")]
    job = package_job(unique_name, uris, "vl_app.task", ["--rate", "0.5"])
    job.run()
    assert job_logs(vertex, job, tail=1).strip() == "hello from vl_helper ['--rate', '0.5']"
    assert installed_in_server("vl_app") == installed_in_server("vl_helper") == []


def test_a_package_pip_cannot_install_fails_the_job_with_pips_error(vertex, unique_name, tmp_path) -> None:
    broken = tmp_path / "broken-0.1-py3-none-any.whl"
    broken.write_bytes(b"not a zip archive")
    job = package_job(unique_name, [upload(vertex, broken, f"{unique_name}/{broken.name}")], "broken.task")
    with pytest.raises(RuntimeError, match="non-zero status of 1"):
        job.run()
    assert job.state == JobState.JOB_STATE_FAILED
    assert "broken-0.1-py3-none-any.whl" in job.error.message  # pip's own complaint, from the log's tail


def test_a_package_missing_from_the_bucket_fails_the_job_naming_it(vertex, unique_name) -> None:
    missing = f"gs://{vertex.bucket}/{unique_name}/trainer-0.1.tar.gz"
    job = package_job(unique_name, [missing], "trainer.task")
    with pytest.raises(RuntimeError, match="cannot read the package"):
        job.run()
    assert missing in job.error.message


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ({"pythonPackageSpec": {"executorImageUri": "python:3.8"}}, "not one of Vertex's prebuilt training images"),
        ({"pythonPackageSpec": {"executorImageUri": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"}},
         "not one of Vertex's prebuilt training images"),
        ({"pythonPackageSpec": {"executorImageUri": PREBUILT.replace(":latest", ":1.0")}}, "prebuilt training"),
        ({"pythonPackageSpec": {"executorImageUri": PREBUILT, "packageUris": []}}, "packageUris is required"),
        ({"pythonPackageSpec": {"executorImageUri": PREBUILT, "packageUris": ["/tmp/t.tar.gz"], "pythonModule": "t"}},
         "not a gs://BUCKET/OBJECT URI"),
        ({"pythonPackageSpec": {**SPEC, "packageUris": ["gs://bkt/pkgs/.."]}}, "not a gs://BUCKET/OBJECT URI"),
        ({"pythonPackageSpec": {**SPEC, "pythonModule": "t; rm -rf /"}}, "pythonModule is required"),
        ({"pythonPackageSpec": {**SPEC, "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}},
         "distinct"),
        ({"pythonPackageSpec": SPEC, "containerSpec": {"imageUri": "x", "command": ["true"]}},
         "exactly one of containerSpec and pythonPackageSpec"),
        ({}, "exactly one of containerSpec and pythonPackageSpec, got neither"),
    ],
)  # fmt: skip
def test_package_specs_vertex_refuses_are_a_bad_request_naming_the_field(vertex, task, problem) -> None:
    body = {"displayName": "refused", "jobSpec": {"workerPoolSpecs": [{"machineSpec": MACHINE, **task}]}}
    answer = requests.post(vertex.api("customJobs"), json=body, timeout=30)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and problem in error["message"]
    assert "jobSpec.workerPoolSpecs[0]" in error["message"]
