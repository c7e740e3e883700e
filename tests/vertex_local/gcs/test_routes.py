"""The Cloud Storage subset, driven by the real google-cloud-storage client against a real vertex-local.

Run: .venv/bin/pytest tests/vertex_local/test_storage.py
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from pathlib import Path

import google_crc32c
import pytest
import requests
from google.api_core import exceptions
from google.cloud import storage

from tests.conftest import VertexLocal
from vertex_local.gcs import local_path


@pytest.fixture(scope="module")
def gcs_server(vertex_local: VertexLocal) -> tuple[str, Path]:
    """(base URL, gcs_root) of the session's real vertex-local process."""
    return vertex_local.url, vertex_local.state_dir / "gcs"


@pytest.fixture(scope="module")
def client(vertex_local: VertexLocal) -> storage.Client:
    return vertex_local.storage_client()  # built with STORAGE_EMULATOR_HOST pointing at the server


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    return client.create_bucket(f"test-{uuid.uuid4().hex[:12]}")


def digests(data: bytes) -> tuple[str, str]:
    crc = google_crc32c.Checksum(data).digest()
    return base64.b64encode(hashlib.md5(data).digest()).decode(), base64.b64encode(crc).decode()


def test_bucket_is_created_read_back_and_listed(client: storage.Client) -> None:
    name = f"made-{uuid.uuid4().hex[:8]}"
    client.create_bucket(name, location="us-central1")
    fetched = client.get_bucket(name)
    assert (fetched.name, fetched.location) == (name, "US-CENTRAL1")
    assert name in [b.name for b in client.list_buckets()]


def test_creating_an_existing_bucket_is_a_conflict(bucket: storage.Bucket, client: storage.Client) -> None:
    with pytest.raises(exceptions.Conflict, match="already exists"):
        client.create_bucket(bucket.name)


def test_a_missing_bucket_is_not_found(client: storage.Client) -> None:
    assert client.lookup_bucket("no-such-bucket") is None
    with pytest.raises(exceptions.NotFound):
        client.bucket("no-such-bucket").blob("x").upload_from_string(b"x")


def test_small_upload_downloads_byte_exact_with_matching_checksums(bucket: storage.Bucket) -> None:
    data = os.urandom(50_000)
    bucket.blob("dir/small.bin").upload_from_string(data)
    blob = bucket.get_blob("dir/small.bin")
    assert blob is not None
    assert (blob.size, (blob.md5_hash, blob.crc32c)) == (len(data), digests(data))
    assert blob.download_as_bytes() == data  # the client checks x-goog-hash against the bytes too


def test_objects_land_as_plain_files_under_the_gcs_root(bucket: storage.Bucket, gcs_server: tuple) -> None:
    bucket.blob("model/1/saved_model.pb").upload_from_string(b"graph")
    path = gcs_server[1] / bucket.name / "model" / "1" / "saved_model.pb"
    assert path.read_bytes() == b"graph"
    assert local_path(gcs_server[1], f"gs://{bucket.name}/model/1/saved_model.pb") == path


def test_resumable_upload_in_chunks_downloads_byte_exact(bucket: storage.Bucket, tmp_path: Path) -> None:
    data = os.urandom(3 * 256 * 1024 + 12_345)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    blob = bucket.blob("big.bin", chunk_size=256 * 1024)  # a chunk size forces the resumable protocol
    blob.upload_from_filename(source)
    assert blob.size == len(data) and blob.crc32c == digests(data)[1]
    target = tmp_path / "back.bin"
    bucket.blob("big.bin").download_to_filename(target)
    assert target.read_bytes() == data


def test_resumable_session_reports_the_bytes_it_holds(bucket: storage.Bucket) -> None:
    url = bucket.blob("session.bin").create_resumable_upload_session(size=10)
    first = requests.put(url, data=b"01234", headers={"Content-Range": "bytes 0-4/10"}, timeout=10)
    assert (first.status_code, first.headers["range"]) == (308, "bytes=0-4")
    status = requests.put(url, headers={"Content-Range": "bytes */10"}, timeout=10)
    assert (status.status_code, status.headers["range"]) == (308, "bytes=0-4")
    retried = requests.put(url, data=b"3456789", headers={"Content-Range": "bytes 3-9/10"}, timeout=10)
    assert retried.status_code == 200 and retried.json()["size"] == "10"
    assert bucket.blob("session.bin").download_as_bytes() == b"0123456789"
    assert requests.put(url, data=b"x", headers={"Content-Range": "bytes 10-10/11"}, timeout=10).status_code == 404


def test_resumable_upload_with_a_wrong_checksum_is_refused(bucket: storage.Bucket) -> None:
    url = bucket.blob("bad.bin").create_resumable_upload_session(size=3)
    headers = {"Content-Range": "bytes 0-2/3", "x-goog-hash": f"md5={digests(b'xyz')[0]}"}
    answer = requests.put(url, data=b"abc", headers=headers, timeout=10)
    assert answer.status_code == 400 and "md5Hash" in answer.json()["error"]["message"]
    assert bucket.get_blob("bad.bin") is None


def test_media_upload_stores_the_body(bucket: storage.Bucket, gcs_server: tuple) -> None:
    url = f"{gcs_server[0]}/upload/storage/v1/b/{bucket.name}/o?uploadType=media&name=raw/plain.txt"
    answer = requests.post(url, data=b"hello", headers={"Content-Type": "text/plain"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["contentType"] == "text/plain"
    assert bucket.blob("raw/plain.txt").download_as_text() == "hello"


def test_multipart_upload_with_a_wrong_md5_is_refused_and_stores_nothing(bucket: storage.Bucket) -> None:
    blob = bucket.blob("lies.bin")
    blob.md5_hash = digests(b"other bytes")[0]
    with pytest.raises(exceptions.BadRequest, match="md5Hash"):
        blob.upload_from_string(b"these bytes")
    assert bucket.get_blob("lies.bin") is None


def test_empty_object_round_trips(bucket: storage.Bucket) -> None:
    bucket.blob("empty").upload_from_string(b"")
    assert bucket.get_blob("empty").size == 0
    assert bucket.blob("empty").download_as_bytes() == b""


def test_ranged_download_returns_the_slice(bucket: storage.Bucket) -> None:
    bucket.blob("digits.txt").upload_from_string(b"0123456789abcdef")
    assert bucket.blob("digits.txt").download_as_bytes(start=4, end=9) == b"456789"


def test_content_type_and_custom_metadata_round_trip(bucket: storage.Bucket) -> None:
    blob = bucket.blob("metrics.json")
    blob.metadata = {"git_sha": "3f2a"}
    blob.upload_from_string(b'{"accuracy": 0.98}', content_type="application/json")
    fetched = bucket.get_blob("metrics.json")
    assert (fetched.content_type, fetched.metadata) == ("application/json", {"git_sha": "3f2a"})


def test_listing_splits_items_and_prefixes_on_the_delimiter(bucket: storage.Bucket) -> None:
    for name in ["model/a.txt", "model/variables/v.data", "model/variables/v.index", "model/x/y/z", "other"]:
        bucket.blob(name).upload_from_string(name.encode())
    page = bucket.list_blobs(prefix="model/", delimiter="/")
    assert [b.name for b in page] == ["model/a.txt"]
    assert page.prefixes == {"model/variables/", "model/x/"}
    flat = [b.name for b in bucket.list_blobs(prefix="model/var")]
    assert flat == ["model/variables/v.data", "model/variables/v.index"]


def test_listing_by_a_prefix_outside_the_bucket_finds_nothing(bucket: storage.Bucket) -> None:
    bucket.blob("inside").upload_from_string(b"x")
    for prefix in ["/", "/etc/", "../", "a//b/", "../../"]:
        assert list(bucket.list_blobs(prefix=prefix)) == []


def test_listing_honours_start_and_end_offsets(bucket: storage.Bucket) -> None:
    for name in ["a", "b", "c", "d"]:
        bucket.blob(name).upload_from_string(b"x")
    assert [b.name for b in bucket.list_blobs(start_offset="b", end_offset="d")] == ["b", "c"]


def test_listing_pages_through_every_object(bucket: storage.Bucket) -> None:
    names = [f"shard-{i:02d}" for i in range(7)]
    for name in names:
        bucket.blob(name).upload_from_string(b"x")
    pages = list(bucket.list_blobs(page_size=3).pages)
    assert len(pages) == 3
    assert [b.name for page in pages for b in page] == names


def test_delete_removes_the_file_and_its_empty_folders(bucket: storage.Bucket, gcs_server: tuple) -> None:
    bucket.blob("deep/er/file").upload_from_string(b"x")
    bucket.blob("deep/er/file").delete()
    assert not (gcs_server[1] / bucket.name / "deep").exists()
    with pytest.raises(exceptions.NotFound):
        bucket.blob("deep/er/file").delete()


def test_missing_object_is_not_found(bucket: storage.Bucket) -> None:
    assert bucket.get_blob("nothing-here") is None
    with pytest.raises(exceptions.NotFound):
        bucket.blob("nothing-here").download_as_bytes()


def test_overwrite_only_if_absent_is_a_failed_precondition(bucket: storage.Bucket) -> None:
    bucket.blob("once").upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("once").upload_from_string(b"second", if_generation_match=0)
    assert bucket.blob("once").download_as_bytes() == b"first"


def test_an_object_cannot_also_be_a_folder(bucket: storage.Bucket) -> None:
    bucket.blob("a").upload_from_string(b"file")
    with pytest.raises(exceptions.Conflict, match="folder"):
        bucket.blob("a/b").upload_from_string(b"nested")


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/absolute", "a//b", "./a", "folder/"])
def test_names_that_are_not_safe_relative_paths_are_refused(
    bucket: storage.Bucket, gcs_server: tuple, name: str
) -> None:
    with pytest.raises(exceptions.BadRequest, match="relative path"):
        bucket.blob(name).upload_from_string(b"x")
    with pytest.raises(exceptions.BadRequest):
        bucket.blob(name).download_as_bytes()
    assert not (gcs_server[1] / "escape").exists()


@pytest.mark.parametrize("bucket_part", ["%2E%2E", "%2E", "UPPER", "-dash"])
def test_bucket_names_that_could_leave_the_root_are_refused(gcs_server: tuple, bucket_part: str) -> None:
    answer = requests.get(f"{gcs_server[0]}/storage/v1/b/{bucket_part}/o/etc%2Fpasswd?alt=media", timeout=10)
    assert answer.status_code == 400 and "invalid bucket name" in answer.json()["error"]["message"]


def test_a_file_copied_in_by_hand_is_served_with_correct_checksums(bucket: storage.Bucket, gcs_server: tuple) -> None:
    (gcs_server[1] / bucket.name / "by-hand.csv").write_bytes(b"a,b\n1,2\n")
    blob = bucket.get_blob("by-hand.csv")
    assert (blob.content_type, (blob.md5_hash, blob.crc32c)) == ("text/csv", digests(b"a,b\n1,2\n"))
    assert blob.download_as_bytes() == b"a,b\n1,2\n"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("gs://bkt/model/saved_model.pb", "bkt/model/saved_model.pb"),
        ("gs://bkt/model/", "bkt/model"),
        ("gs://bkt", "bkt"),
    ],
)
def test_local_path_maps_gs_uris_under_the_root(uri: str, expected: str) -> None:
    assert local_path(Path("/gcs"), uri) == Path("/gcs") / expected


@pytest.mark.parametrize("uri", ["/tmp/model", "s3://bkt/x", "gs://bkt/../x", "gs://bkt//x", "gs://UPPER/x", "gs://"])
def test_local_path_refuses_other_schemes_and_escapes(uri: str) -> None:
    with pytest.raises(ValueError):
        local_path(Path("/gcs"), uri)
