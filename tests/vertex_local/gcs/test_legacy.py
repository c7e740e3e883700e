"""TRANSITIONAL (vertex_local/gcs/legacy.py): custom jobs still write into <gcs_root>/BUCKET/PATH behind the API,
and deployments still load models through local_path. Delete this module with legacy.py.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_legacy.py
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from google.cloud import storage

from tests.conftest import VertexLocal
from tests.contract.gcs import digests
from vertex_local.gcs import local_path


@pytest.fixture(scope="module")
def bucket(vertex_local: VertexLocal) -> storage.Bucket:
    return vertex_local.storage_client().create_bucket(f"legacy-{uuid.uuid4().hex[:8]}")


def test_files_a_job_writes_behind_the_api_read_list_and_delete_as_objects(vertex_local, bucket) -> None:
    gcs_root = vertex_local.state_dir / "gcs"
    model_dir = local_path(gcs_root, f"gs://{bucket.name}/jobs/run-1/model/")
    (model_dir / "variables").mkdir(parents=True)
    (model_dir / "metrics.json").write_bytes(b'{"accuracy": 0.98}')
    (model_dir / "variables" / "v.index").write_bytes(b"index")
    listed = {blob.name: blob for blob in bucket.list_blobs(prefix="jobs/run-1/")}
    assert sorted(listed) == ["jobs/run-1/model/metrics.json", "jobs/run-1/model/variables/v.index"]
    metrics = listed["jobs/run-1/model/metrics.json"]
    assert (metrics.md5_hash, metrics.crc32c) == digests(b'{"accuracy": 0.98}')
    assert metrics.download_as_bytes() == b'{"accuracy": 0.98}'
    bucket.blob("jobs/run-1/model/variables/v.index").delete()
    assert not (model_dir / "variables").exists()  # no empty folders left behind


def test_local_path_hands_a_deployment_a_copy_of_what_the_catalog_holds(vertex_local, bucket, tmp_path) -> None:
    bucket.blob("staged/model/saved_model.pb").upload_from_string(b"graph")
    bucket.blob("staged/model/variables/variables.index").upload_from_string(b"index")
    copy = local_path(vertex_local.state_dir / "gcs", f"gs://{bucket.name}/staged/model")
    assert (copy / "saved_model.pb").read_bytes() == b"graph"
    assert (copy / "variables" / "variables.index").read_bytes() == b"index"


@pytest.mark.parametrize("uri", ["/tmp/model", "s3://bkt/x", "gs://bkt/../x", "gs://bkt//x", "gs://UPPER/x", "gs://"])
def test_local_path_refuses_what_no_local_folder_can_hold(uri: str) -> None:
    with pytest.raises(ValueError):
        local_path(Path("/gcs"), uri)
