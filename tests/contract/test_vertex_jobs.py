"""Custom jobs as the pipeline and the SDK run them: a package on a prebuilt training image, a container reading and
writing Cloud Storage through /gcs/ (Cloud Storage FUSE), the machine rules, deletes.

Sources: https://cloud.google.com/vertex-ai/docs/training/configure-container-settings (pythonPackageSpec),
https://cloud.google.com/vertex-ai/docs/training/cloud-storage-file-system (/gcs/),
https://cloud.google.com/vertex-ai/docs/training/configure-compute (machine types and GPUs). On Google Cloud each
test_*job* test runs a one-replica n1-standard-4 job for a few minutes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform import jobs, utils
from google.cloud.aiplatform.compat.types import job_state as gca_job_state
from google.cloud.aiplatform.initializer import global_config
from google.cloud.aiplatform_v1.types import operation

from tests.contract.vertex_calls import quietly, status_of
from tests.support.vertex_local_server import JOB_POLL_S

JobState = gca_job_state.JobState
# A prebuilt training image on the supported-frameworks list; a cloud run needs one still available there.
PREBUILT = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
MACHINE = "n1-standard-4"
END_TIMEOUT_S = 600.0  # a cancelled job on Google Cloud takes minutes to end
# Reads numbers from its first argument, writes their sum and its settings as JSON to its second.
SUM_TO = """
import json, os, sys
source, out = sys.argv[-2:]
total = sum(int(line) for line in open(source))
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"total": total, "args": sys.argv[1:-2], "greeting": os.environ.get("GREETING")}, open(out, "w"))
"""


@pytest.fixture
def fast_polling(target, monkeypatch: pytest.MonkeyPatch) -> None:
    if not target.is_cloud:
        monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", JOB_POLL_S)


def job_client():
    return global_config.create_client(client_class=utils.JobClientWithOverride)


def delete_when_created(target, job: aiplatform.CustomJob) -> None:
    """At the session's end: stop the job if it still runs, wait for it to end, delete it (if it was created)."""
    if not job._gca_resource.name:
        return

    def stop_and_delete() -> None:
        if job.state not in jobs._JOB_COMPLETE_STATES:
            quietly(job.cancel)()
        deadline = time.monotonic() + END_TIMEOUT_S
        while job.state not in jobs._JOB_COMPLETE_STATES and time.monotonic() < deadline:
            time.sleep(JOB_POLL_S)
        quietly(job.delete)()

    target.created(quietly(stop_and_delete))  # the delete test may have deleted it already


def staged_input(target, label: str) -> tuple[str, str]:
    """An object holding "12\\n30\\n"; returns (its /gcs/ path, the /gcs/ path of an output beside it)."""
    bucket = target.storage_client().bucket(target.bucket)
    name = target.object_name(label)
    blob = bucket.blob(f"{name}/in.txt")
    blob.upload_from_string("12\n30\n")
    target.created(blob.delete)
    target.created(quietly(bucket.blob(f"{name}/out/result.json").delete))
    return f"/gcs/{target.bucket}/{name}/in.txt", f"/gcs/{target.bucket}/{name}/out/result.json"


def read_output(target, gcs_path: str) -> dict:
    name = gcs_path.removeprefix(f"/gcs/{target.bucket}/")
    return json.loads(target.storage_client().bucket(target.bucket).blob(name).download_as_text())


def test_a_package_job_on_a_prebuilt_image_runs_its_module_with_args_and_env(target, fast_polling, tmp_path) -> None:
    source, out = staged_input(target, "package-job")
    script = tmp_path / "task.py"
    script.write_text(SUM_TO)
    staging = f"gs://{target.bucket}/{target.object_name('staging')}"
    job = aiplatform.CustomJob.from_local_script(
        display_name=target.name("package-job"), script_path=str(script), container_uri=PREBUILT,
        args=["--epochs", "2", source, out], environment_variables={"GREETING": "hello"}, machine_type=MACHINE,
        staging_bucket=staging,
    )  # fmt: skip
    target.created(lambda: delete_prefix(target, staging))
    try:
        job.run()
    finally:
        delete_when_created(target, job)
    assert job.job_spec.worker_pool_specs[0].python_package_spec.executor_image_uri == PREBUILT
    assert read_output(target, out) == {"total": 42, "args": ["--epochs", "2"], "greeting": "hello"}


def delete_prefix(target, uri: str) -> None:
    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    for blob in target.storage_client().list_blobs(bucket_name, prefix=prefix + "/"):
        blob.delete()


@pytest.fixture(scope="module")
def container_job(contract_target) -> Iterator[tuple[aiplatform.CustomJob, str]]:
    """A container job that read an object through /gcs/ and wrote its result there (run once, for two tests)."""
    contract_target.init_sdk()
    source, out = staged_input(contract_target, "container-job")
    pool = {
        "machine_spec": {"machine_type": MACHINE},
        "replica_count": 1,
        "container_spec": {"image_uri": PREBUILT, "command": ["python3", "-c", SUM_TO], "args": [source, out]},
    }
    job = aiplatform.CustomJob(display_name=contract_target.name("container-job"), worker_pool_specs=[pool])
    with pytest.MonkeyPatch.context() as patch:
        if not contract_target.is_cloud:
            patch.setattr(jobs, "_JOB_WAIT_TIME", JOB_POLL_S)
        try:
            job.run()
        finally:
            delete_when_created(contract_target, job)
    yield job, out


def test_a_container_job_reads_and_writes_cloud_storage_through_gcs_paths(target, container_job) -> None:
    job, out = container_job
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert read_output(target, out) == {"total": 42, "args": [], "greeting": None}


def test_deleting_an_ended_job_answers_delete_operation_metadata(target, container_job) -> None:
    job, _ = container_job
    deleting = job_client().delete_custom_job(name=job.resource_name)
    deleting.result(timeout=600)
    assert isinstance(deleting.metadata, operation.DeleteOperationMetadata)
    assert deleting.metadata.generic_metadata.create_time
    with pytest.raises(exceptions.NotFound):
        job_client().get_custom_job(name=job.resource_name)


def refusal(target, pool: dict) -> str:
    """The status a job with this one pool is refused with at create; one created after all is cancelled."""
    job = aiplatform.CustomJob(display_name=target.name("refused-job"), worker_pool_specs=[pool])
    with pytest.raises(exceptions.BadRequest) as refused:
        try:
            job.submit()
        finally:
            delete_when_created(target, job)  # created after all: stopped rather than paid for
    return status_of(refused.value)


@pytest.mark.parametrize(
    "machine_spec",
    [
        {"machine_type": "n1-standard-2"},  # not on the training page's list
        {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 1},
        {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 3},
        {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 2},
    ],
)
def test_a_job_on_a_machine_vertex_does_not_offer_for_training_is_refused(target, machine_spec) -> None:
    pool = {"machine_spec": machine_spec, "replica_count": 1,
            "container_spec": {"image_uri": PREBUILT, "command": ["python3", "-c", "print(1)"]}}  # fmt: skip
    assert refusal(target, pool) == "INVALID_ARGUMENT"


def test_a_package_job_on_an_image_that_is_not_a_prebuilt_training_image_is_refused(target) -> None:
    spec = {"executor_image_uri": "python:3.11", "package_uris": [f"gs://{target.bucket}/trainer-0.1.tar.gz"],
            "python_module": "trainer.task"}  # fmt: skip
    pool = {"machine_spec": {"machine_type": MACHINE}, "replica_count": 1, "python_package_spec": spec}
    assert refusal(target, pool) == "INVALID_ARGUMENT"
