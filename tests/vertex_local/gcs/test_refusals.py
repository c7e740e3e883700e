"""What vertex-local does not implement is refused with a clear 4xx in Google's error shape, never stored and
silently ignored; and no error message, whatever the request, shows a path on the server (issue 10, item 12).

Run: .venv/bin/pytest tests/vertex_local/gcs/test_refusals.py
"""

from __future__ import annotations

import os
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import storage

from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal


@pytest.fixture(scope="module")
def client(vertex_local: VertexLocal) -> storage.Client:
    return vertex_local.storage_client()


@pytest.fixture(scope="module")
def bucket(client: storage.Client) -> storage.Bucket:
    created = client.create_bucket(f"refusals-{uuid.uuid4().hex[:8]}")
    created.blob("present.txt").upload_from_string(b"present")
    return created


def test_acls_iam_and_notifications_are_refused_as_not_implemented(bucket: storage.Bucket) -> None:
    blob = bucket.blob("present.txt")
    with pytest.raises(exceptions.NotFound, match="not implemented by vertex-local"):
        blob.acl.reload()
    with pytest.raises(exceptions.NotFound, match="not implemented by vertex-local"):
        bucket.get_iam_policy()
    with pytest.raises(exceptions.NotFound, match="not implemented by vertex-local"):
        list(bucket.list_notifications())
    with pytest.raises(exceptions.BadRequest, match="predefinedAcl is not implemented"):
        bucket.blob("acl.txt").upload_from_string(b"x", predefined_acl="publicRead")


def test_bucket_features_that_would_not_be_enforced_are_refused(client: storage.Client) -> None:
    lifecycle = client.bucket(f"lifecycle-{uuid.uuid4().hex[:8]}")
    lifecycle.add_lifecycle_delete_rule(age=1)
    with pytest.raises(exceptions.BadRequest, match="'lifecycle' is not implemented"):
        lifecycle.create()
    retention = client.bucket(f"retention-{uuid.uuid4().hex[:8]}")
    retention.retention_period = 60
    with pytest.raises(exceptions.BadRequest, match="'retentionPolicy' is not implemented"):
        retention.create()
    assert client.lookup_bucket(lifecycle.name) is None and client.lookup_bucket(retention.name) is None


def test_encryption_keys_and_holds_on_objects_are_refused(bucket: storage.Bucket) -> None:
    with pytest.raises(exceptions.BadRequest, match="customer-supplied encryption keys"):
        bucket.blob("csek.bin", encryption_key=os.urandom(32)).upload_from_string(b"secret")
    held = bucket.blob("held.txt")
    held.upload_from_string(b"x")
    held.temporary_hold = True
    with pytest.raises(exceptions.BadRequest, match="'temporaryHold' is not implemented"):
        held.patch()
    assert bucket.get_blob("csek.bin") is None and bucket.get_blob("held.txt").temporary_hold is None


BAD_REQUESTS = [
    ("GET", "/storage/v1/b/{b}/o/missing.txt", b""),
    ("GET", "/storage/v1/b/{b}/o/%FF%FE", b""),
    ("GET", "/storage/v1/b/{b}/o/present.txt?generation=abc", b""),
    ("GET", "/storage/v1/b/{b}/o/present.txt?ifGenerationMatch=1", b""),
    ("GET", "/download/storage/v1/b/{b}/o/present.txt", b"", {"range": "bytes=99-"}),
    ("GET", "/download/storage/v1/b/{b}/o/present.txt", b"", {"range": "lines=1-2"}),
    ("DELETE", "/storage/v1/b/{b}/o/present.txt?ifMetagenerationMatch=7", b""),
    ("PATCH", "/storage/v1/b/{b}/o/present.txt", b"{not json"),
    ("PATCH", "/storage/v1/b/{b}/o/present.txt", b'{"metadata": {"k": 1}}'),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=media&name=" + "x" * 1100, b"data"),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=media&name=a%0Ab", b"data"),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=media&name=..", b"data"),
    ("POST", "/upload/storage/v1/b/{b}/o?uploadType=multipart", b"no boundary"),
    ("PUT", "/upload/storage/v1/b/{b}/o?uploadType=resumable&upload_id=" + "0" * 32, b"x"),
    ("POST", "/storage/v1/b/{b}/o/present.txt/compose", b'{"sourceObjects": [{"name": "missing"}]}'),
    ("POST", "/storage/v1/b/{b}/o/missing/copyTo/b/{b}/o/copy", b""),
    ("GET", "/storage/v1/b/no-such-bucket/o", b""),
    ("DELETE", "/storage/v1/b/{b}", b""),
    ("GET", "/storage/v1/b/{b}/o?matchGlob=%7Bunclosed", b""),
    ("GET", "/storage/v1/b/{b}/o?pageToken=garbage", b""),
]


@pytest.mark.parametrize("request_", BAD_REQUESTS, ids=lambda r: f"{r[0]} {r[1][:60]}")
def test_no_error_shows_a_server_path(vertex_local: VertexLocal, bucket: storage.Bucket, request_: tuple) -> None:
    method, path, body, *headers = request_
    client = HttpClient(vertex_local.url)
    answer = client.request(method, path.format(b=bucket.name), body, headers[0] if headers else {})
    client.close()
    assert 400 <= answer.status < 500 and google_error_problems(answer) == [], answer.body
    message = answer.json()["error"]["message"]
    for leak in (str(vertex_local.state_dir), "/tmp/", ".objects", ".uploads", "sqlite"):
        assert leak not in message, message
