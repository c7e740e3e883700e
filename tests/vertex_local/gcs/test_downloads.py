"""Media downloads as google-cloud-storage sends them (GET /download/storage/v1/b/B/o/NAME), served by the raw
DownloadRoute (gcs/objects.py), large objects from a mapped file (gcs/download.py): whole, by Range, HEAD, other
methods, which of bucket or object is missing, and headers that follow every metadata change and new generation
(the encoded headers are cached per generation and metageneration).

Run: .venv/bin/pytest tests/vertex_local/gcs/test_downloads.py
"""

from __future__ import annotations

import base64
import os
import uuid
from urllib.parse import quote

import google_crc32c
import pytest
from google.cloud import storage

from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

LARGE = 3 << 20  # past download.py's SMALL_BYTES: mapped, not read


@pytest.fixture(scope="module")
def bucket(vertex_local: VertexLocal) -> storage.Bucket:
    return vertex_local.storage_client().bucket(vertex_local.bucket)


def path(bucket: str, name: str) -> str:
    return f"/download/storage/v1/b/{bucket}/o/{quote(name, safe='')}?alt=media"


@pytest.mark.parametrize("size", [0, 4096, LARGE])
def test_the_sdk_downloads_an_object_whole_and_by_range(bucket: storage.Bucket, size: int) -> None:
    data = os.urandom(size)
    blob = bucket.blob(f"downloads/{uuid.uuid4().hex}")
    blob.upload_from_string(data)
    assert blob.download_as_bytes() == data  # the client checks the crc32c header against the bytes
    if size:
        start, end = size // 3, size - size // 5  # end inclusive, as the SDK takes it
        assert blob.download_as_bytes(start=start, end=end) == data[start : end + 1]


def test_a_large_object_answers_with_its_headers_and_a_head_request_with_no_body(
    vertex_local: VertexLocal, client: HttpClient, bucket: storage.Bucket
) -> None:
    data, name = os.urandom(LARGE), f"downloads/{uuid.uuid4().hex}"
    bucket.blob(name).upload_from_string(data, content_type="text/html")
    got = client.request("GET", path(vertex_local.bucket, name))
    crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
    assert (got.status, got.body) == (200, data)
    assert got.headers["content-length"] == str(LARGE) and f"crc32c={crc}" in got.headers["x-goog-hash"]
    assert got.headers["content-disposition"] == "attachment"  # HTML is never shown from the API's origin
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"
    head = client.request("HEAD", path(vertex_local.bucket, name))
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", str(LARGE))
    part = client.request("GET", path(vertex_local.bucket, name), headers={"range": "bytes=10-"})
    assert (part.status, part.body) == (206, data[10:])
    assert part.headers["content-range"] == f"bytes 10-{LARGE - 1}/{LARGE}"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_on_a_download_path_answer_405(
    vertex_local: VertexLocal, client: HttpClient, method: str
) -> None:
    got = client.request(method, path(vertex_local.bucket, "any"), b"{}", {"content-type": "application/json"})
    assert got.status == 405
    assert not google_error_problems(got)


def test_a_download_says_whether_the_bucket_or_the_object_is_missing(
    vertex_local: VertexLocal, client: HttpClient
) -> None:
    no_bucket = client.request("GET", path(f"missing-{uuid.uuid4().hex[:8]}", "a"))
    assert no_bucket.status == 404 and "bucket" in no_bucket.json()["error"]["message"]
    no_object = client.request("GET", path(vertex_local.bucket, f"missing/{uuid.uuid4().hex}"))
    assert no_object.status == 404 and "object gs://" in no_object.json()["error"]["message"]
    bad_bucket = client.request("GET", path("Not_A_Bucket!", "a"))
    assert bad_bucket.status == 400 and not google_error_problems(bad_bucket)
    for answer in (no_bucket, no_object):
        assert not google_error_problems(answer)


def test_download_headers_follow_each_metadata_change_and_new_generation(
    vertex_local: VertexLocal, client: HttpClient, bucket: storage.Bucket
) -> None:
    blob = bucket.blob(f"downloads/{uuid.uuid4().hex}")
    blob.upload_from_string(b"first", content_type="text/plain")
    first = client.request("GET", path(vertex_local.bucket, blob.name))
    assert first.headers["content-type"] == "text/plain" and "cache-control" not in first.headers
    blob.cache_control, blob.content_type = "no-store", "image/svg+xml"
    blob.patch()
    patched = client.request("GET", path(vertex_local.bucket, blob.name))
    assert patched.headers["cache-control"] == "no-store" and patched.headers["content-type"] == "image/svg+xml"
    assert patched.headers["content-disposition"] == "attachment"  # SVG can script: now a download
    assert patched.headers["x-goog-metageneration"] == "2" and patched.headers["etag"] != first.headers["etag"]
    blob.upload_from_string(b"second", content_type="text/plain")
    rewritten = client.request("GET", path(vertex_local.bucket, blob.name))
    assert rewritten.body == b"second" and rewritten.headers["x-goog-metageneration"] == "1"
    assert rewritten.headers["x-goog-generation"] != first.headers["x-goog-generation"]
    assert "cache-control" not in rewritten.headers and "content-disposition" not in rewritten.headers


def test_a_failed_if_none_match_is_a_bodiless_304(vertex_local: VertexLocal, client: HttpClient) -> None:
    name = f"downloads/{uuid.uuid4().hex}"
    client.request("POST", f"/upload/storage/v1/b/{vertex_local.bucket}/o?uploadType=media&name={quote(name)}", b"x")
    etag = client.request("GET", path(vertex_local.bucket, name)).headers["etag"]
    got = client.request("GET", path(vertex_local.bucket, name), headers={"if-none-match": etag})
    assert (got.status, got.body) == (304, b"")
    generation = client.request("GET", path(vertex_local.bucket, name)).headers["x-goog-generation"]
    unchanged = client.request("GET", path(vertex_local.bucket, name) + f"&ifGenerationNotMatch={generation}")
    assert (unchanged.status, unchanged.body) == (304, b"")
