"""The object store's API for other surfaces: read one object, copy a "directory" out as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_local.gcs.store import NewObject, ObjectStore

BUCKET = "models"


def put(store: ObjectStore, name: str, data: bytes) -> None:
    scratch = store.new_upload_file(f"scratch-{len(data)}-{abs(hash(name))}")
    scratch.write_bytes(data)
    store.commit(scratch, NewObject(BUCKET, name, "application/octet-stream", {}))


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    objects = ObjectStore(tmp_path / "gcs")
    objects.create_bucket(BUCKET, "US-CENTRAL1")
    return objects


def test_copy_prefix_copies_every_object_under_the_prefix_and_nothing_beside_it(store, tmp_path) -> None:
    put(store, "run/model/saved_model.pb", b"graph")
    put(store, "run/model/variables/variables.index", b"index")
    put(store, "run/model-other/saved_model.pb", b"not this one")
    dest = tmp_path / "copy"
    assert store.copy_prefix(f"gs://{BUCKET}/run/model", dest) == 2
    assert (dest / "saved_model.pb").read_bytes() == b"graph"
    assert (dest / "variables" / "variables.index").read_bytes() == b"index"
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["saved_model.pb", "variables.index"]


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("gs://models/nothing-here", "holds no objects"),
        ("gs://no-such-bucket/run", "not found"),
        ("/local/path", "not a gs:// URI"),
        ("gs://models/../escape", "not a relative path"),
    ],
)
def test_copy_prefix_refuses_what_it_cannot_copy(store, tmp_path, uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        store.copy_prefix(uri, tmp_path / "copy")


def test_read_object_returns_the_bytes_and_refuses_missing_or_oversized_objects(store) -> None:
    put(store, "run/model/metrics.json", b'{"accuracy": 0.98}')
    assert store.read_object(f"gs://{BUCKET}/run/model/metrics.json", limit=100) == b'{"accuracy": 0.98}'
    with pytest.raises(ValueError, match="more than the 4"):
        store.read_object(f"gs://{BUCKET}/run/model/metrics.json", limit=4)
    with pytest.raises(ValueError, match="not found"):
        store.read_object(f"gs://{BUCKET}/run/model/missing.json", limit=100)
