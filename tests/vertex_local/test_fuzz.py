"""Property-based fuzzing of a real vertex-local over real HTTP: :predict, the Vertex routes, the GCS routes.

Hypothesis writes every request: malformed and wrong-typed JSON, NaN and Infinity, deep nesting, huge
arrays, unicode and bad UTF-8, wrong content types, missing fields, unknown ids. No answer may be a 5xx,
every 4xx must be Google's error shape with a readable message, and afterwards the server must still
answer a valid predict exactly as before. Each test counts the requests it sent (2,900 in all). Another pass puts
hostile values (int64 edges, '²', CR/LF, NUL, text past Latin-1) in the query parameters, headers and object
metadata of every route, and downloads every object a write stored. Derandomized: every run sends the same cases.

Run: .venv/bin/pytest tests/vertex_local/test_fuzz.py
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fuzz_strategies as fs
from tests.support import tiers
from tests.support.fuzz_requests import (
    METADATA_VALUES,
    SANDBOX,
    STORAGE_PARAMS,
    VERTEX_PARAMS,
    Request,
    Sandbox,
    metadata_uploads,
    resumable_chunks,
    storage_requests,
    vertex_requests,
    with_hostile_extras,
)
from tests.support.rest_client import (
    Answer,
    Deployment,
    HttpClient,
    create_endpoint,
    deploy,
    deploy_over_rest,
    google_error_problems,
    predict_body,
    upload_model,
)
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

PREDICT_REQUESTS = 1000
VERTEX_REQUESTS = 900
STORAGE_REQUESTS = 400
HOSTILE_REQUESTS = 600
MIN_SUCCESS_SHARE = 0.1  # of the management requests: fewer 2xx would mean the fuzzing stopped at validation


def test_mutating_a_template_leaves_the_values_it_drew_as_they_were() -> None:
    # odd_values samples shared lists and dicts; one changed by a case makes hypothesis see another
    # strategy in the next (FlakyStrategyDefinition).
    shared = {"k": [None]}

    @fuzz_settings(200)
    @given(doc=fs.mutated({"a": 1}, values=st.just(shared)))
    def mutate(doc: Any) -> None:
        assert isinstance(doc, dict)

    mutate()
    assert shared == {"k": [None]}


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,  # no .hypothesis/ folder in CI checkouts
        derandomize=True,  # the same cases on every machine and run: what fails in CI fails on a laptop too
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path_factory.mktemp("fuzz") / "state")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def target(server: VertexLocal, trained_model_dir: Path) -> Deployment:
    return deploy_over_rest(server, server.stage_model(trained_model_dir, "fuzz"), "fuzz-target")


@pytest.fixture(scope="module")
def sandbox(server: VertexLocal, target: Deployment) -> Sandbox:
    """A served endpoint and a model whose artifact is missing (deploying it fails fast), under SANDBOX."""
    client, place = HttpClient(server.url), dataclasses.replace(server, project="fuzz")
    broken = upload_model(client, place, "fuzz-broken", "gs://test-bucket/nothing-here/model")
    served = upload_model(client, place, "fuzz-served", f"gs://{server.bucket}/fuzz/model")
    endpoint_id = create_endpoint(client, place, "fuzz-sandbox")
    deployed_id = deploy(client, place, endpoint_id, served, {"0": 100})
    model_ids = [name.rsplit("/", 1)[1] for name in (broken, served)]
    command = {"imageUri": "local/true", "command": ["true"]}
    pool = {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": 1, "containerSpec": command}
    job = {"displayName": "fuzz-job", "jobSpec": {"workerPoolSpecs": [pool]}}
    job_id = client.json("POST", f"/v1/{SANDBOX}/customJobs", job).json()["name"].rsplit("/", 1)[1]
    client.close()
    return Sandbox(
        model_ids=[*model_ids, f"{model_ids[0]}@1", f"{model_ids[0]}%40default", f"{model_ids[1]}@2"],
        endpoint_ids=[endpoint_id, target.endpoint_id],
        deployed_ids=[deployed_id, target.deployed_model_id],
        operation_ids=[str(number) for number in range(1000, 1016)],
        job_ids=[job_id],
    )


@pytest.fixture(scope="module")
def client(server: VertexLocal) -> Iterator[HttpClient]:
    keep_alive = HttpClient(server.url)
    yield keep_alive
    keep_alive.close()


@pytest.fixture(scope="module")
def reference(server: VertexLocal, target: Deployment, client: HttpClient, mnist_test_digits) -> tuple[bytes, Any]:
    """A valid predict body and the server's answer to it before any fuzzing."""
    body = predict_body(mnist_test_digits[0][:3])
    answer = client.request("POST", target.predict_path(server), body, {"content-type": "application/json"})
    assert answer.status == 200, answer.body
    return body, answer.json()


def check_answer(answer: Answer, request: Request) -> None:
    method, path, body, headers = request
    sent = f"{method} {path} {headers} {body[:300]!r}"
    assert answer.status < 500, f"{sent} -> {answer.status}: {answer.body[:500]!r}"
    if answer.status >= 400:
        assert google_error_problems(answer) == [], f"{sent} -> {answer.status}: {answer.body[:300]!r}"


def check_still_serving(server: VertexLocal, target: Deployment, client: HttpClient, reference) -> None:
    body, before = reference
    answer = client.request("POST", target.predict_path(server), body, {"content-type": "application/json"})
    assert answer.status == 200 and answer.json() == before
    assert "Traceback" not in server.log_tail(100_000), "the server logged an unhandled error"


def check_predictions(answer: Answer, count: int) -> None:
    assert answer.status == 200, answer.body[:500]
    probabilities = np.array(answer.json()["predictions"])
    assert probabilities.shape == (count, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_fuzzed_predict_requests_never_get_a_5xx_and_every_4xx_is_a_google_error(
    server: VertexLocal, target: Deployment, client: HttpClient, reference
) -> None:
    path, sent = target.predict_path(server), client.sent
    endpoints = fs.fuzz_id([target.endpoint_id]).map(lambda e: f"/v1/{server.parent}/endpoints/{e}:predict")

    @fuzz_settings(PREDICT_REQUESTS)
    @given(
        body=fs.predict_bodies,
        content_type=fs.content_types,
        where=st.one_of(st.just(path), endpoints),
        method=st.sampled_from(["POST"] * 8 + ["GET", "PUT"]),
        valid=st.one_of(st.none(), st.none(), st.none(), fs.image_batches()),
    )
    def fuzz(body: bytes, content_type: str, where: str, method: str, valid: np.ndarray | None) -> None:
        if valid is not None:  # a valid body among the fuzz: served when its content type says JSON, else 415
            answer = client.request("POST", path, predict_body(valid), {"content-type": content_type})
            if content_type.split(";")[0].strip().lower() == "application/json":
                check_predictions(answer, len(valid))
            else:
                assert answer.status == 415 and google_error_problems(answer) == [], answer.body
            return
        request = (method, where, body, {"content-type": content_type})
        check_answer(client.request(*request), request)

    fuzz()
    assert client.sent - sent >= PREDICT_REQUESTS
    check_still_serving(server, target, client, reference)


def test_fuzzed_vertex_api_requests_never_get_a_5xx_and_every_4xx_is_a_google_error(
    server: VertexLocal, target: Deployment, sandbox: Sandbox, client: HttpClient, reference
) -> None:
    sent, tally = client.sent, collections.Counter()

    @fuzz_settings(VERTEX_REQUESTS)
    @given(request=vertex_requests(sandbox))
    def fuzz(request: Request) -> None:
        answer = client.request(*request)
        check_answer(answer, request)
        tally[answer.status // 100] += 1

    fuzz()
    assert client.sent - sent >= VERTEX_REQUESTS
    assert tally[2] >= VERTEX_REQUESTS * MIN_SUCCESS_SHARE, f"too few requests got past validation: {tally}"
    check_still_serving(server, target, client, reference)


def test_fuzzed_storage_requests_never_get_a_5xx_and_every_4xx_is_a_google_error(
    server: VertexLocal, target: Deployment, client: HttpClient, reference
) -> None:
    sent, tally = client.sent, collections.Counter()

    @fuzz_settings(STORAGE_REQUESTS)
    @given(request=storage_requests(), data=st.data())
    def fuzz(request: Request, data: st.DataObject) -> None:
        keep_fuzz_bucket(client)
        answer = client.request(*request)
        check_answer(answer, request)
        tally[answer.status // 100] += 1
        session = urlsplit(answer.headers.get("location", ""))
        for _ in range(data.draw(st.integers(0, 3)) if session.path else 0):  # carry on a resumable upload
            chunk = data.draw(resumable_chunks(f"{session.path}?{session.query}"))
            check_answer(client.request(*chunk), chunk)

    fuzz()
    assert client.sent - sent >= STORAGE_REQUESTS
    assert tally[2] >= STORAGE_REQUESTS * MIN_SUCCESS_SHARE, f"too few requests got past validation: {tally}"
    check_still_serving(server, target, client, reference)


def keep_fuzz_bucket(client: HttpClient) -> None:
    """A case may delete the bucket while it is empty; without it every later object request would be a 404."""
    if client.request("GET", "/storage/v1/b/fuzz-bucket", b"", {}).status == 404:
        client.json("POST", "/storage/v1/b?project=fuzz-project", {"name": "fuzz-bucket"})


def stored_object(answer: Answer) -> dict[str, Any] | None:
    """The object resource a successful write answered with, if any."""
    if answer.status != 200 or not answer.headers.get("content-type", "").startswith("application/json"):
        return None
    body = answer.json()
    resource = body.get("resource", body) if isinstance(body, dict) else None
    return resource if isinstance(resource, dict) and resource.get("kind") == "storage#object" else None


def test_fuzzed_query_parameters_headers_and_metadata_values_never_get_a_5xx(
    server: VertexLocal, target: Deployment, sandbox: Sandbox, client: HttpClient, reference
) -> None:
    sent, tally, downloads = client.sent, collections.Counter(), 0
    predict = st.just(("POST", target.predict_path(server), reference[0], {"content-type": "application/json"}))
    requests = st.one_of(
        with_hostile_extras(storage_requests(metadata_values=METADATA_VALUES), STORAGE_PARAMS),
        with_hostile_extras(metadata_uploads(), STORAGE_PARAMS),
        with_hostile_extras(vertex_requests(sandbox), VERTEX_PARAMS),
        with_hostile_extras(predict, VERTEX_PARAMS),
    )

    @fuzz_settings(HOSTILE_REQUESTS)
    @given(request=requests)
    def fuzz(request: Request) -> None:
        nonlocal downloads
        keep_fuzz_bucket(client)
        answer = client.request(*request)
        check_answer(answer, request)
        tally[answer.status // 100] += 1
        if (stored := stored_object(answer)) is not None:  # what a write stored must download as it was sent
            path = f"/storage/v1/b/{stored['bucket']}/o/{quote(stored['name'], safe='')}?alt=media"
            download = ("GET", path, b"", {})
            check_answer(client.request(*download), download)
            downloads += 1

    fuzz()
    print(f"{client.sent - sent} requests, {downloads} downloads of what writes stored, by class: {dict(tally)}")
    assert client.sent - sent >= HOSTILE_REQUESTS
    assert tally[2] >= HOSTILE_REQUESTS * MIN_SUCCESS_SHARE, f"too few requests got past validation: {tally}"
    assert downloads > 0, "no fuzzed write stored an object: the metadata values were never served back"
    check_still_serving(server, target, client, reference)
