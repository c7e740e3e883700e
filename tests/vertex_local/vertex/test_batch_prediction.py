"""Batch prediction through the real SDK: Model.batch_predict against vertex-local, Vertex's output layout, bad lines,
missing inputs, cancel and delete, the machine/replica rules (batch/service.py, batch/requests.py)."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from google.cloud import aiplatform
from google.cloud.aiplatform import jobs
from google.cloud.aiplatform.compat.types import job_state as gca_job_state

from tests.support.rest_client import SERVING_IMAGE
from tests.support.vertex_local_server import JOB_POLL_S
from vertex_local.vertex.batch.service import folder_name
from vertex_local.vertex.batch.worker import bounded_lines

JobState = gca_job_state.JobState
DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
FOLDER = re.compile(r"prediction-(?P<model>.+)-\d{4}_\d\d_\d\dT\d\d_\d\d_\d\d_\d{3}Z")


@pytest.fixture(scope="module")
def model(vertex_local, trained_model_dir: Path) -> aiplatform.Model:
    vertex_local.init_sdk()
    uri = vertex_local.stage_model(trained_model_dir, "batch-test")
    return aiplatform.Model.upload(
        display_name="batch-model", artifact_uri=uri, serving_container_image_uri=SERVING_IMAGE
    )


def write_lines(vertex, name: str, lines: list[str]) -> str:
    vertex.storage_client().bucket(vertex.bucket).blob(name).upload_from_string("\n".join(lines) + "\n")
    return f"gs://{vertex.bucket}/{name}"


def read_output(vertex, job: aiplatform.BatchPredictionJob) -> dict[str, list[dict]]:
    """Each file of the job's output folder by its name, as parsed JSON lines."""
    directory = job.output_info.gcs_output_directory
    bucket, _, prefix = directory.removeprefix("gs://").partition("/")
    files = {}
    for blob in vertex.storage_client().list_blobs(bucket, prefix=prefix + "/"):
        text = blob.download_as_text()
        files[blob.name.rsplit("/", 1)[1]] = [json.loads(line) for line in text.splitlines()]
    return files


GOOD_LINE = json.dumps({"image": np.zeros((28, 28)).tolist()})
ONES_LINE = json.dumps(np.ones((28, 28)).tolist())


@pytest.fixture(scope="module")
def two_file_job(vertex_local, model) -> aiplatform.BatchPredictionJob:
    """One finished job that two tests read (a batch worker imports TensorFlow, seconds of CPU): a wildcard matching
    two files, the first with two malformed lines between good ones, the second with three good lines."""
    name = f"two-files-{uuid.uuid4().hex[:8]}"
    write_lines(vertex_local, f"{name}/part-0.jsonl", [GOOD_LINE, "{not json", "[1, 2, 3]", GOOD_LINE])
    write_lines(vertex_local, f"{name}/part-1.jsonl", [ONES_LINE] * 3)
    write_lines(vertex_local, f"{name}/other.jsonl", [ONES_LINE])  # not matched
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs, "_JOB_WAIT_TIME", JOB_POLL_S)
        return model.batch_predict(
            job_display_name=name, gcs_source=f"gs://{vertex_local.bucket}/{name}/part-*.jsonl",
            gcs_destination_prefix=f"gs://{vertex_local.bucket}/{name}/out", machine_type="n1-standard-2",
        )  # fmt: skip


def test_batch_predict_writes_vertexs_layout_with_the_models_answers(vertex, unique_name, model, mnist_test_digits):
    digits = mnist_test_digits[0][:5]
    source = write_lines(vertex, f"{unique_name}/in.jsonl", [json.dumps(d.tolist()) for d in digits])
    job = model.batch_predict(
        job_display_name=unique_name, gcs_source=source, gcs_destination_prefix=f"gs://{vertex.bucket}/{unique_name}/out",
        machine_type="n1-standard-2", starting_replica_count=1, max_replica_count=1,
    )  # fmt: skip
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    directory = job.output_info.gcs_output_directory
    assert directory.startswith(f"gs://{vertex.bucket}/{unique_name}/out/")
    assert FOLDER.fullmatch(directory.rsplit("/", 1)[1])["model"] == "batch-model"
    files = read_output(vertex, job)
    assert sorted(files) == ["prediction.errors_stats-00000-of-00001", "prediction.results-00000-of-00001"]
    results = files["prediction.results-00000-of-00001"]
    assert [np.asarray(r["instance"]).shape for r in results] == [(28, 28)] * 5
    predicted = np.array([r["prediction"] for r in results])
    assert predicted.shape == (5, 10) and np.allclose(predicted.sum(axis=1), 1, atol=1e-4)
    online = model.deploy(machine_type="n1-standard-2").predict(instances=digits.tolist()).predictions
    assert np.allclose(predicted, online, atol=1e-5)
    assert files["prediction.errors_stats-00000-of-00001"] == []
    assert job.completion_stats.successful_count == 5 and job.completion_stats.failed_count == 0


def test_malformed_lines_go_to_the_errors_file_and_the_job_partly_succeeds(vertex, two_file_job):
    job = two_file_job
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (5, 2)
    files = read_output(vertex, job)
    results = [r["instance"] for r in files["prediction.results-00000-of-00001"]]
    assert results == [json.loads(GOOD_LINE)] * 2 + [json.loads(ONES_LINE)] * 3
    errors = files["prediction.errors_stats-00000-of-00001"]
    assert [e["instance"] for e in errors] == ["{not json", [1, 2, 3]]
    assert all(e["error"]["code"] == 3 and e["error"]["message"] for e in errors)


def test_an_input_that_does_not_exist_fails_the_job(vertex, unique_name, model):
    with pytest.raises(RuntimeError, match=f"No files found matching gs://{vertex.bucket}/{unique_name}/nothing"):
        model.batch_predict(
            job_display_name=unique_name, gcs_source=f"gs://{vertex.bucket}/{unique_name}/nothing.jsonl",
            gcs_destination_prefix=f"gs://{vertex.bucket}/{unique_name}", machine_type="n1-standard-2",
        )  # fmt: skip
    (job,) = aiplatform.BatchPredictionJob.list(filter=f'display_name="{unique_name}"')
    assert job.state == JobState.JOB_STATE_FAILED and job.error.code == 5


def test_a_wildcard_reads_every_matching_file(two_file_job):
    # part-0.jsonl's 2 good lines and 2 malformed ones, part-1.jsonl's 3 lines; other.jsonl does not match
    stats = two_file_job.completion_stats
    assert (stats.successful_count, stats.failed_count) == (5, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dedicatedResources": None}, "dedicatedResources is required"),
        ({"dedicatedResources": {"machineSpec": {"machineType": "n1-standard-3"}}}, "not a machine type"),
        ({"dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}, "startingReplicaCount": 3,
                                 "maxReplicaCount": 2}}, "startingReplicaCount 3 is greater than maxReplicaCount 2"),
        ({"inputConfig": {"instancesFormat": "csv", "gcsSource": {"uris": ["gs://b/x.csv"]}}}, "reads jsonl"),
        ({"inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["http://x"]}}}, "not a gs://BUCKET"),
        ({"outputConfig": {"predictionsFormat": "jsonl"}}, "gcsDestination"),
        ({"manualBatchTuningParameters": {"batchSize": "many"}}, "batchSize must be an integer"),
        ({"model": ""}, "model is required"),
    ],
)  # fmt: skip
def test_vertex_refuses_bad_requests_with_the_field_named(vertex, model, change, message):
    body = {
        "displayName": "bad", "model": model.resource_name,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{vertex.bucket}/x.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": f"gs://{vertex.bucket}"}},
        "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"}},
    }  # fmt: skip
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    answer = requests.post(vertex.api("batchPredictionJobs"), json=body, timeout=10)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]


def test_a_running_job_is_cancelled_and_only_a_finished_one_deleted(vertex, unique_name, model):
    line = json.dumps(np.zeros((28, 28)).tolist())
    source = write_lines(vertex, f"{unique_name}/in.jsonl", [line] * 20)
    job = model.batch_predict(
        job_display_name=unique_name, gcs_source=source, gcs_destination_prefix=f"gs://{vertex.bucket}/{unique_name}",
        machine_type="n1-standard-2", sync=False,
    )  # fmt: skip
    job.wait_for_resource_creation()
    url = vertex.api(f"batchPredictionJobs/{job.name}")  # the SDK's own delete and cancel wait for the job to end
    refused = requests.delete(url, timeout=10)
    assert refused.status_code == 400 and "cancel it first" in refused.json()["error"]["message"]
    assert requests.post(f"{url}:cancel", timeout=10).status_code == 200  # the worker is still importing TensorFlow
    deadline = time.monotonic() + 60
    while (state := requests.get(url, timeout=10).json()["state"]) not in DONE:
        assert time.monotonic() < deadline, f"job stayed {state}"
        time.sleep(0.1)
    assert state == "JOB_STATE_CANCELLED"
    assert requests.delete(url, timeout=10).json()["done"] is True
    assert requests.get(url, timeout=10).status_code == 404


def test_a_line_longer_than_the_limit_is_skipped_whole_and_the_next_line_read():
    stream = io.BytesIO(b"[1]\n" + b"x" * 50 + b"\n[2]\n")
    assert list(bounded_lines(stream, 10)) == [b"[1]", None, b"[2]"]


def test_the_output_folder_is_named_as_vertex_names_it():
    assert folder_name("mnist", "2026-12-07T02:34:54.123456Z") == "prediction-mnist-2026_12_07T02_34_54_123Z"
