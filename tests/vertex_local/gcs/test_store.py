"""The object store's API for other surfaces: read one object, copy a "directory" out as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_local.gcs.content import Digests
from vertex_local.gcs.preconditions import Preconditions
from vertex_local.gcs.store import NewContent, ObjectStore

BUCKET = "models"


def put(store: ObjectStore, name: str, data: bytes) -> None:
    """Write an object the way an upload does: scratch file, content file, one catalog transaction."""
    scratch = store.files.new_scratch()
    scratch.write_bytes(data)
    digests = Digests.of_file(scratch)
    new = NewContent(store.files.seal(scratch), len(data), digests.md5, digests.crc32c, {})
    store.write(BUCKET, name, new, Preconditions())


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    objects = ObjectStore(tmp_path / "gcs")
    objects.create_bucket({"name": BUCKET, "location": "US-CENTRAL1"}, "test-project")
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
        ("gs://models/../escape", "holds no objects"),
    ],
)
def test_copy_prefix_refuses_what_it_cannot_copy(store, tmp_path, uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        store.copy_prefix(uri, tmp_path / "copy")


def test_copy_prefix_refuses_an_object_name_that_would_leave_the_destination(store, tmp_path) -> None:
    put(store, "run/model/../../outside", b"a valid Cloud Storage name, not a safe relative path")
    with pytest.raises(ValueError, match="not a safe relative path"):
        store.copy_prefix(f"gs://{BUCKET}/run/model", tmp_path / "copy")
    assert not (tmp_path / "outside").exists()


def test_read_object_returns_the_bytes_and_refuses_missing_or_oversized_objects(store) -> None:
    put(store, "run/model/metrics.json", b'{"accuracy": 0.98}')
    assert store.read_object(f"gs://{BUCKET}/run/model/metrics.json", limit=100) == b'{"accuracy": 0.98}'
    with pytest.raises(ValueError, match="more than the 4"):
        store.read_object(f"gs://{BUCKET}/run/model/metrics.json", limit=4)
    with pytest.raises(ValueError, match="not found"):
        store.read_object(f"gs://{BUCKET}/run/model/missing.json", limit=100)
