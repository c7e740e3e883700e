"""Object fields a download sends back as headers, and the headers that keep stored bytes inert (issue 18, items
1 and 3): CR, LF or a character past Latin-1 in such a field is refused at write (400), so no download of the
object is a reset connection or a 500; every download says sandbox and nosniff, and HTML is an attachment.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_header_fields.py
"""

from __future__ import annotations

import gzip
import json
import uuid
from urllib.parse import quote

import pytest

from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

HEADER_FIELDS = ("contentDisposition", "cacheControl", "contentLanguage", "contentType", "contentEncoding")
BAD_VALUES = ("inline\r\nX-Injected: 1", "a\nb", "a\rb", "nul\x00", "snow ☃", "euro €")
INERT = {"content-security-policy": "sandbox; default-src 'none'", "x-content-type-options": "nosniff"}
PAGE = b"<html><body><script>document.title = 'ran'</script></body></html>"


def upload(client: HttpClient, bucket: str, name: str, data: bytes, **fields: str) -> dict:
    """A multipart upload with these metadata fields; the object resource."""
    metadata = json.dumps({"name": name, **fields}).encode()
    boundary = "b0undary"
    body = (f"--{boundary}\r\ncontent-type: application/json\r\n\r\n".encode() + metadata
            + f"\r\n--{boundary}\r\ncontent-type: application/octet-stream\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())  # fmt: skip
    headers = {"content-type": f"multipart/related; boundary={boundary}"}
    answer = client.request("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=multipart", body, headers)
    assert answer.status == 200, answer.body
    return answer.json()


def media(client: HttpClient, bucket: str, name: str, headers: dict[str, str] | None = None, route: str = "alt"):
    quoted = quote(name, safe="")
    path = f"/storage/v1/b/{bucket}/o/{quoted}?alt=media" if route == "alt" else \
        f"/download/storage/v1/b/{bucket}/o/{quoted}?alt=media"  # fmt: skip
    return client.request("GET", path, b"", headers or {})


@pytest.mark.parametrize("field", HEADER_FIELDS)
@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_a_header_bound_field_that_no_header_can_carry_is_refused_at_every_write(
    vertex_local: VertexLocal, client: HttpClient, field: str, value: str
) -> None:
    bucket, name = vertex_local.bucket, f"headers/{uuid.uuid4().hex}"
    upload(client, bucket, name, b"kept")
    quoted = quote(name, safe="")
    writes = [
        ("PATCH", f"/storage/v1/b/{bucket}/o/{quoted}", {field: value}),
        ("PUT", f"/storage/v1/b/{bucket}/o/{quoted}", {"name": name, field: value}),
        ("POST", f"/storage/v1/b/{bucket}/o/{quoted}/copyTo/b/{bucket}/o/{quoted}-copy", {field: value}),
        ("POST", f"/storage/v1/b/{bucket}/o/{quoted}-composed/compose",
         {"sourceObjects": [{"name": name}], "destination": {field: value}}),
        ("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=resumable", {"name": f"{name}-new", field: value}),
    ]  # fmt: skip
    for method, path, body in writes:
        answer = client.json(method, path, body)
        assert answer.status == 400, f"{method} {path}: {answer.status} {answer.body[:200]!r}"
        assert google_error_problems(answer) == [] and field.encode() in answer.body
    listed = client.request("GET", f"/storage/v1/b/{bucket}/o?prefix={quote(name, safe='')}").json()
    assert [item["name"] for item in listed.get("items", [])] == [name], "a refused write stored an object"
    download = media(client, bucket, name)
    assert download.status == 200 and download.body == b"kept"


def test_latin_1_and_rfc_8187_values_are_stored_and_sent_back(vertex_local: VertexLocal, client: HttpClient) -> None:
    name = f"headers/{uuid.uuid4().hex}.txt"
    disposition = "inline; filename*=UTF-8''na%C3%AFve.txt"
    upload(client, vertex_local.bucket, name, b"ok", contentType="text/plain", contentDisposition=disposition,
           contentLanguage="fr", cacheControl="no-cache\tprivate")  # fmt: skip
    answer = media(client, vertex_local.bucket, name)
    assert answer.status == 200 and answer.body == b"ok"
    assert answer.headers["content-disposition"] == disposition  # text/plain is shown, not downloaded
    assert answer.headers["cache-control"] == "no-cache\tprivate" and answer.headers["content-language"] == "fr"


@pytest.mark.parametrize("route", ["alt", "download"])
@pytest.mark.parametrize(
    ("content_type", "stored", "sent"),
    [
        ("text/html", None, "attachment"),
        ("text/html; charset=utf-8", "inline; filename=page.html", "attachment; filename=page.html"),
        ("TEXT/HTML", "inline", "attachment"),
        ("image/svg+xml", None, "attachment"),
        ("application/xhtml+xml", None, "attachment"),
        ("text/xml", None, "attachment"),
        ("application/javascript", None, "attachment"),
        ("text/plain", None, None),
        ("application/json", "inline", "inline"),
    ],
)
def test_every_download_is_sandboxed_and_active_types_are_attachments(
    vertex_local: VertexLocal, client: HttpClient, route: str, content_type: str, stored: str | None,
    sent: str | None
) -> None:  # fmt: skip
    name = f"inert/{uuid.uuid4().hex}"
    fields = {"contentType": content_type, **({"contentDisposition": stored} if stored else {})}
    upload(client, vertex_local.bucket, name, PAGE, **fields)
    for headers in ({}, {"range": "bytes=0-9"}):
        answer = media(client, vertex_local.bucket, name, headers, route)
        assert answer.status in (200, 206) and PAGE.startswith(answer.body)
        assert {key: answer.headers.get(key) for key in INERT} == INERT
        assert answer.headers.get("content-disposition") == sent


def test_a_gzip_object_inflated_on_the_way_out_is_sandboxed_too(vertex_local: VertexLocal, client: HttpClient) -> None:
    name = f"inert/{uuid.uuid4().hex}.html.gz"
    upload(client, vertex_local.bucket, name, gzip.compress(PAGE), contentType="text/html", contentEncoding="gzip")
    answer = media(client, vertex_local.bucket, name)
    assert answer.status == 200 and answer.body == PAGE
    assert {key: answer.headers.get(key) for key in INERT} == INERT
    assert answer.headers["content-disposition"] == "attachment"
