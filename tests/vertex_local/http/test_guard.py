"""No web page can drive vertex-local: Host, Origin and Content-Type checks on a real server; the real SDKs pass.

A browser lets any page send a "simple" cross-origin POST (text/plain, no preflight) and, through DNS
rebinding, any request under the page's own host name; both are sent here as a browser sends them, with the
custom job that would run a command on this machine.

Run: .venv/bin/pytest tests/vertex_local/http/test_guard.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from google.cloud import aiplatform

from tests.support.own_servers import raw_request
from tests.support.rest_client import Answer, HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

JOBS = "customJobs"


def job_body(name: str, marker: Path) -> bytes:
    """A custom job whose command would leave `marker` behind if it ever ran."""
    container = {"imageUri": "local/evil:1", "command": ["sh", "-c", f"touch {marker}"]}
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "containerSpec": container}
    return json.dumps({"displayName": name, "jobSpec": {"workerPoolSpecs": [pool]}}).encode()


def job_names(client: HttpClient, server: VertexLocal) -> set[str]:
    answer = client.request("GET", f"/v1/{server.parent}/{JOBS}")
    assert answer.status == 200, answer.body
    return {job["displayName"] for job in answer.json().get("customJobs", [])}


def refused(answer: Answer, status: int, words: str) -> bool:
    if answer.status != status or google_error_problems(answer):
        return False
    return words in answer.json()["error"]["message"]


@pytest.fixture
def client(vertex_local: VertexLocal) -> HttpClient:
    return HttpClient(vertex_local.url)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json"])
def test_a_cross_origin_post_from_a_web_page_cannot_start_a_job(
    vertex_local: VertexLocal, client: HttpClient, unique_name: str, tmp_path: Path, content_type: str
) -> None:
    marker = tmp_path / "ran"
    headers = {"content-type": content_type, "origin": "https://evil.example"}
    answer = client.request("POST", f"/v1/{vertex_local.parent}/{JOBS}", job_body(unique_name, marker), headers)
    assert refused(answer, 403, "'https://evil.example' are refused"), answer.body
    assert unique_name not in job_names(client, vertex_local) and not marker.exists()


@pytest.mark.parametrize("origin", ["null", "http://localhost:1", "https://127.0.0.1:{port}", "http://127.0.0.1"])
def test_origins_other_than_the_servers_own_are_refused_even_for_reads(
    vertex_local: VertexLocal, client: HttpClient, origin: str
) -> None:
    headers = {"origin": origin.format(port=vertex_local.port)}
    answer = client.request("GET", f"/v1/{vertex_local.parent}/models", b"", headers)
    assert refused(answer, 403, "are refused"), answer.body


def test_a_forwarded_scheme_does_not_make_another_origin_the_servers_own(
    vertex_local: VertexLocal, client: HttpClient
) -> None:
    # No proxy stands before vertex-local: an X-Forwarded-Proto from a loopback client must not change the scheme
    # the Origin check compares with (uvicorn's proxy-headers middleware trusts 127.0.0.1 by default).
    headers = {"origin": f"https://127.0.0.1:{vertex_local.port}", "x-forwarded-proto": "https"}
    answer = client.request("GET", f"/v1/{vertex_local.parent}/models", b"", headers)
    assert refused(answer, 403, "are refused"), answer.body


def test_a_rebound_host_name_is_refused_whatever_the_page_claims(
    vertex_local: VertexLocal, client: HttpClient, unique_name: str, tmp_path: Path
) -> None:
    host = f"attacker.example:{vertex_local.port}"  # the page's own name, now resolving to 127.0.0.1
    same_origin = {"host": host, "origin": f"http://{host}", "content-type": "application/json"}
    body = job_body(unique_name, tmp_path / "ran")
    answer = client.request("POST", f"/v1/{vertex_local.parent}/{JOBS}", body, same_origin)
    assert refused(answer, 403, "does not answer to the host 'attacker.example"), answer.body
    read = client.request("GET", f"/v1/{vertex_local.parent}/{JOBS}", b"", {"host": host})
    assert refused(read, 403, "does not answer to the host"), read.body  # nor can it read what is there
    assert unique_name not in job_names(client, vertex_local)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "127.0.0.1"])
def test_loopback_names_are_answered_with_or_without_a_port(
    vertex_local: VertexLocal, client: HttpClient, host: str
) -> None:
    answer = client.request("GET", "/healthz", b"", {"host": host.format(port=vertex_local.port)})
    assert answer.status == 200, answer.body


def raw_status_and_message(port: int, head: str, body: bytes = b"") -> tuple[int, str]:
    """A request written to the socket as given (two headers of one name, a Host no client library would send)."""
    answer = raw_request(port, head, body)
    status_line, _, rest = answer.partition(b"\r\n")
    payload = json.loads(rest.partition(b"\r\n\r\n")[2])
    return int(status_line.split()[1]), payload.get("error", {}).get("message", "")


@pytest.mark.parametrize(
    "host",
    ["[::1].evil.test", "[::1].evil.test:{port}", "[::1]evil", "[::1]:{port}.evil.test", "127.0.0.1:{port}:1",
     "127.0.0.1 evil", "[::1]:", "localhost@evil.test", "[::1"],
)  # fmt: skip
def test_a_host_that_only_starts_like_loopback_is_refused(vertex_local: VertexLocal, host: str) -> None:
    head = f"GET /v1/{vertex_local.parent}/{JOBS} HTTP/1.1\r\nHost: {host.format(port=vertex_local.port)}\r\n"
    status, message = raw_status_and_message(vertex_local.port, head + "Connection: close\r\n\r\n")
    assert status == 400 and "is not a host name with an optional port" in message, (status, message)


@pytest.mark.parametrize("evil_first", [True, False])
def test_a_request_with_two_origin_headers_is_refused_whichever_comes_last(
    vertex_local: VertexLocal, client: HttpClient, unique_name: str, tmp_path: Path, evil_first: bool
) -> None:
    marker = tmp_path / "ran"
    body = job_body(unique_name, marker)
    origins = ["https://evil.example", f"http://127.0.0.1:{vertex_local.port}"][:: 1 if evil_first else -1]
    head = (f"POST /v1/{vertex_local.parent}/{JOBS} HTTP/1.1\r\nHost: 127.0.0.1:{vertex_local.port}\r\n"
            f"Origin: {origins[0]}\r\nOrigin: {origins[1]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")  # fmt: skip
    status, message = raw_status_and_message(vertex_local.port, head, body)
    assert (status, message) == (400, "the request has more than one Origin header")
    assert unique_name not in job_names(client, vertex_local) and not marker.exists()


def test_the_servers_own_pages_may_call_it(vertex_local: VertexLocal, client: HttpClient, unique_name: str) -> None:
    own = {"origin": f"http://127.0.0.1:{vertex_local.port}", "content-type": "application/json"}
    body = json.dumps({"displayName": unique_name}).encode()
    created = client.request("POST", f"/v1/{vertex_local.parent}/endpoints", body, own)
    assert created.status == 200, created.body  # what the console at /console/ sends
    host = {"host": f"localhost:{vertex_local.port}", "origin": f"http://localhost:{vertex_local.port}"}
    assert client.request("GET", f"/v1/{vertex_local.parent}/endpoints", b"", host).status == 200


@pytest.mark.parametrize(
    "path",
    ["customJobs", "models:upload", "endpoints", "endpoints/1:deployModel", "endpoints/987654:predict", "storage"],
)
@pytest.mark.parametrize("content_type", ["text/plain", "", "application/jsonp", "multipart/form-data; boundary=x"])
def test_a_json_route_takes_only_an_application_json_body(
    vertex_local: VertexLocal, client: HttpClient, path: str, content_type: str, unique_name: str, tmp_path: Path
) -> None:
    url = "/storage/v1/b" if path == "storage" else f"/v1/{vertex_local.parent}/{path}"
    body = job_body(unique_name, tmp_path / "ran")  # a job, and a displayName for the other routes
    headers = {"content-type": content_type} if content_type else {}
    answer = client.request("POST", url, body, headers)
    assert refused(answer, 415, "takes a body of Content-Type application/json"), answer.body
    assert unique_name not in job_names(client, vertex_local) and not (tmp_path / "ran").exists()


def test_a_bodiless_post_and_an_unknown_path_keep_their_own_answers(
    vertex_local: VertexLocal, client: HttpClient
) -> None:
    cancel = client.request("POST", f"/v1/{vertex_local.parent}/{JOBS}/424242:cancel")  # no body, no type
    assert cancel.status == 404 and google_error_problems(cancel) == [], cancel.body
    unknown = client.request("POST", "/v1/no/such/route", b"x", {"content-type": "text/plain"})
    assert unknown.status == 404 and google_error_problems(unknown) == [], unknown.body


def test_the_real_sdks_pass_every_check(vertex: VertexLocal, unique_name: str, tmp_path: Path) -> None:
    """Every kind of request the pipeline's SDK calls send: Vertex over REST, Cloud Storage JSON and uploads
    (google-cloud-storage uploads multipart up to 8 MiB, else resumable; it never sends uploadType=media)."""
    endpoint = aiplatform.Endpoint.create(display_name=unique_name)
    assert aiplatform.Endpoint.list(filter=f'display_name="{unique_name}"')[0].name == endpoint.name
    endpoint.update(labels={"checked": "yes"})
    pool = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
            "container_spec": {"image_uri": "local/job:1", "command": ["python", "-c", "print('ran')"]}}  # fmt: skip
    job = aiplatform.CustomJob(display_name=unique_name, worker_pool_specs=[pool])
    job.run(sync=True)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    client = vertex.storage_client()
    bucket = client.create_bucket(f"{unique_name}-b")  # JSON POST
    small = bucket.blob("small.json")
    small.upload_from_string(b'{"a": 1}', content_type="application/json")  # multipart/related
    large = bucket.blob("large.bin", chunk_size=256 * 1024)  # resumable: a JSON start, then chunks
    data = os.urandom(3 * 256 * 1024 + 17)
    large.upload_from_string(data, content_type="application/octet-stream")
    assert large.download_as_bytes() == data and bucket.get_blob("small.json").size == 8
    assert sorted(blob.name for blob in client.list_blobs(bucket)) == ["large.bin", "small.json"]
    for blob in (small, large):
        blob.delete()
    endpoint.delete()
