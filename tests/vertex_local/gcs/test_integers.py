"""Integers in storage requests are int64 written in ASCII digits, else 400 as Cloud Storage answers (issue 18,
item 4): 25 digits overflowed SQLite (500), '²' passed str.isdigit() and failed int() (500), a negative
maxResults on the bucket list was a 500.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_integers.py
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

BAD_INTEGERS = ["1234567890123456789012345", "9223372036854775808", "²", "١", "1e3", " 1", "0x10", ""]


@pytest.fixture(scope="module")
def source(vertex_local: VertexLocal, client: HttpClient) -> str:
    name = f"integers/{uuid.uuid4().hex}"
    path = f"/upload/storage/v1/b/{vertex_local.bucket}/o?uploadType=media&name={quote(name, safe='')}"
    assert client.request("POST", path, b"bytes", {"content-type": "text/plain"}).status == 200
    return quote(name, safe="")


def requests_with(bucket: str, name: str, number: str) -> list[tuple[str, str, dict | None]]:
    """Every place a storage request carries an integer, holding `number`."""
    n = quote(number, safe="")
    return [
        ("GET", f"/storage/v1/b/{bucket}/o/{name}?generation={n}", None),
        ("GET", f"/storage/v1/b/{bucket}/o/{name}?alt=media&generation={n}", None),
        ("GET", f"/download/storage/v1/b/{bucket}/o/{name}?generation={n}", None),
        ("GET", f"/storage/v1/b/{bucket}/o/{name}?ifGenerationMatch={n}", None),
        ("GET", f"/storage/v1/b/{bucket}/o/{name}?ifMetagenerationNotMatch={n}", None),
        ("PATCH", f"/storage/v1/b/{bucket}/o/{name}?generation={n}", {"contentLanguage": "en"}),
        ("DELETE", f"/storage/v1/b/{bucket}/o/{name}?generation={n}", None),
        ("POST", f"/storage/v1/b/{bucket}/o/{name}/copyTo/b/{bucket}/o/copied?sourceGeneration={n}", {}),
        ("POST", f"/storage/v1/b/{bucket}/o/{name}/rewriteTo/b/{bucket}/o/copied?ifSourceGenerationMatch={n}", {}),
        ("POST", f"/storage/v1/b/{bucket}/o/composed/compose",
         {"sourceObjects": [{"name": name, "generation": number}]}),
        ("POST", f"/storage/v1/b/{bucket}/o/composed/compose",
         {"sourceObjects": [{"name": name, "objectPreconditions": {"ifGenerationMatch": number}}]}),
        ("POST", f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name=up&ifGenerationMatch={n}", None),
        ("GET", f"/storage/v1/b/{bucket}?ifMetagenerationMatch={n}", None),
        ("GET", f"/storage/v1/b/{bucket}/o?maxResults={n}", None),
        ("GET", f"/storage/v1/b?project=p&maxResults={n}", None),
    ]  # fmt: skip


@pytest.mark.parametrize("number", BAD_INTEGERS, ids=repr)
def test_an_integer_that_is_not_an_ascii_int64_is_a_bad_request_everywhere(
    vertex_local: VertexLocal, client: HttpClient, source: str, number: str
) -> None:
    for method, path, body in requests_with(vertex_local.bucket, source, number):
        answer = client.json(method, path, body) if body is not None else client.request(method, path)
        assert answer.status == 400, f"{method} {path} {body}: {answer.status} {answer.body[:200]!r}"
        assert google_error_problems(answer) == []


@pytest.mark.parametrize("path", ["/storage/v1/b?project=p&maxResults=-1", "/storage/v1/b/{bucket}/o?maxResults=-5"])
def test_a_negative_max_results_is_a_bad_request(vertex_local: VertexLocal, client: HttpClient, path: str) -> None:
    answer = client.request("GET", path.format(bucket=vertex_local.bucket))
    assert answer.status == 400 and b"maxResults" in answer.body and google_error_problems(answer) == []


def test_the_largest_int64_generation_is_a_well_formed_miss(vertex_local: VertexLocal, client: HttpClient,
                                                            source: str) -> None:  # fmt: skip
    answer = client.request("GET", f"/storage/v1/b/{vertex_local.bucket}/o/{source}?generation=9223372036854775807")
    assert answer.status == 404 and google_error_problems(answer) == []
