"""A custom job's document: every change is one read-modify-write transaction, and a delete answers Vertex's
DeleteOperationMetadata (the SDK's delete_custom_job unpacks it: job_service/client.py, metadata_type=)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from google.cloud.aiplatform import utils
from google.cloud.aiplatform.compat.types import job_state as gca_job_state
from google.cloud.aiplatform.initializer import global_config
from google.cloud.aiplatform_v1.types import operation

from pipeline_config import load_config
from tests.support.custom_jobs import custom_job, pool, wait_for_state
from vertex_local.gcs import ObjectStore
from vertex_local.state import StateStore
from vertex_local.vertex.jobs.service import KIND, JobService
from vertex_local.vertex.operations import Operations

JobState = gca_job_state.JobState
ROUNDS = 5  # the interleaving is forced, not hoped for: each round is the race
OTHER_WRITER_WAIT_S = 0.5  # how long the update waits for the other writer to get in: it must not get in at all


@pytest.fixture
def jobs(tmp_path: Path) -> JobService:
    store = StateStore(tmp_path / "state.sqlite3")
    objects = ObjectStore(tmp_path / "gcs")
    return JobService(store, Operations(store), objects, tmp_path / "jobs", tmp_path, {}, "http://127.0.0.1:9",
                      load_config().serving)  # fmt: skip


def update_with_another_writer_in_between(jobs: JobService, label: str) -> dict:
    """jobs._update of job 7, with another writer's read-modify-write of it started right between the update's
    read and its write; returns the job as stored once both are over."""
    store, write = jobs.store, jobs.store.put
    done = threading.Event()

    def relabel() -> None:
        with store.transaction():
            doc = store.get(KIND, "7")
            write(KIND, "7", {**doc, "labels": {"round": label}})
        done.set()

    other = threading.Thread(target=relabel)

    def write_once_the_other_writer_had_its_chance(kind: str, doc_id: str, body: dict) -> None:
        other.start()
        done.wait(OTHER_WRITER_WAIT_S)
        write(kind, doc_id, body)

    store.put = write_once_the_other_writer_had_its_chance
    try:
        jobs._update("7", state="JOB_STATE_SUCCEEDED")
    finally:
        store.put = write
    other.join(30)
    assert done.is_set(), "the other writer never finished"
    return store.get(KIND, "7")


def test_a_job_update_loses_no_change_another_writer_commits_meanwhile(jobs: JobService) -> None:
    """With the update in one transaction the other writer cannot get in until it commits, and then reads the
    updated job; without, the other writer's change is overwritten by the update's stale copy."""
    for round_ in range(ROUNDS):
        jobs.store.put(KIND, "7", {"id": "7", "state": "JOB_STATE_RUNNING", "labels": {}})
        doc = update_with_another_writer_in_between(jobs, str(round_))
        assert (doc["state"], doc["labels"]) == ("JOB_STATE_SUCCEEDED", {"round": str(round_)}), f"round {round_}"


def test_deleting_an_ended_job_answers_delete_metadata_and_removes_it_and_its_logs(vertex, unique_name) -> None:
    job = custom_job(unique_name, pool(["python", "-c"], ["print('done')"]))
    job.run()
    job_id = job.resource_name.rsplit("/", 1)[1]
    assert (vertex.state_dir / "jobs" / job_id / "workerpool0-0.log").is_file()
    client = global_config.create_client(client_class=utils.JobClientWithOverride)
    deleting = client.delete_custom_job(name=job.resource_name)
    deleting.result(timeout=60)
    assert isinstance(deleting.metadata, operation.DeleteOperationMetadata)
    assert deleting.metadata.generic_metadata.create_time
    with pytest.raises(exceptions.NotFound):
        client.get_custom_job(name=job.resource_name)
    assert requests.get(vertex.api(f"customJobs/{job_id}:logs"), timeout=10).status_code == 404
    assert not (vertex.state_dir / "jobs" / job_id).exists()


def test_a_running_job_cannot_be_deleted(vertex, unique_name, tmp_path: Path) -> None:
    go = tmp_path / "go"
    job = custom_job(unique_name, pool(["python", "-c"], [f"import os, time\nwhile not os.path.exists({str(go)!r}): "
                                                          "time.sleep(0.02)"]))  # fmt: skip
    job.submit()
    wait_for_state(job, {JobState.JOB_STATE_RUNNING})
    with pytest.raises(exceptions.BadRequest, match="cancel it first"):
        global_config.create_client(client_class=utils.JobClientWithOverride).delete_custom_job(name=job.resource_name)
    go.touch()
    wait_for_state(job, {JobState.JOB_STATE_SUCCEEDED})
