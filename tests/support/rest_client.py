"""Helpers for tests that drive a vertex-local of their own over plain HTTP (fuzz, limits, crashes, metrics).

HttpClient      one keep-alive connection (http.client), reopened when the server closes it; counts requests
google_error_problems(answer)   what is wrong with a 4xx/5xx body, measured against Google's error shape
deploy_over_rest(server, ...)   upload a staged model, create an endpoint and deploy it, REST only

REST rather than the SDK: aiplatform.init is process-wide, and these servers live beside the session's.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from tests.support.vertex_local_server import VertexLocal
from vertex_local.errors import STATUS_NAMES

# This repository's serving image, as register names it (pipeline.toml [vertex] serving_image): vertex-local serves
# it whatever the date, where a prebuilt image is refused after Google retires it (tests/vertex_local/vertex/
# test_runtimes.py fixes the date for those).
SERVING_IMAGE = "us-central1-docker.pkg.dev/test-project/mlops/mnist-serving:test"
OPERATION_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpClient:
    """A keep-alive HTTP/1.1 client on one connection: thousands of requests without a handshake each."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.sent = 0
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """One request; a connection the server closed while idle is reopened once and the request re-sent."""
        for attempt in (1, 2):
            connection = self._connection or http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._connection = connection
            try:
                connection.request(method, path, body=body, headers=headers or {})
                response = connection.getresponse()
                answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            self.sent += 1
            if answer.headers.get("connection", "").lower() == "close":
                self.close()
            return answer
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: Any = None) -> Answer:
        data = b"" if body is None else json.dumps(body).encode()
        return self.request(method, path, data, {"content-type": "application/json"})

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def google_error_problems(answer: Answer) -> list[str]:
    """Everything that keeps an error answer from being {"error": {"code", "message", "status"}} with a
    message a person can read; empty when it is one."""
    try:
        error = answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return [f"not a Google error body: {answer.body[:200]!r}"]
    problems = []
    if error.get("code") != answer.status:
        problems.append(f"error.code {error.get('code')!r} != HTTP status {answer.status}")
    if error.get("status") not in set(STATUS_NAMES.values()):
        problems.append(f"error.status {error.get('status')!r} is not a google.rpc.Code name")
    message = error.get("message")
    if not isinstance(message, str) or len(message) < 10 or " " not in message:
        problems.append(f"error.message {message!r} is not a sentence")
    elif "Traceback" in message or "internal error" in message:
        problems.append(f"error.message leaks an internal failure: {message[:200]!r}")
    return problems


@dataclasses.dataclass(frozen=True)
class Deployment:
    endpoint_id: str
    deployed_model_id: str
    model: str  # projects/P/locations/L/models/ID

    def predict_path(self, server: VertexLocal) -> str:
        return f"/v1/{server.parent}/endpoints/{self.endpoint_id}:predict"


def operation_of(
    client: HttpClient, operation: dict[str, Any], timeout_s: float = OPERATION_TIMEOUT_S
) -> dict[str, Any]:
    """An operation polled until it is done (with `response` or `error`)."""
    deadline = time.monotonic() + timeout_s
    while not operation.get("done"):
        assert time.monotonic() < deadline, f"operation never finished: {operation}"
        time.sleep(0.05)
        operation = client.request("GET", f"/v1/{operation['name']}").json()
    return operation


def wait_for_operation(client: HttpClient, operation: dict[str, Any]) -> dict[str, Any]:
    operation = operation_of(client, operation)
    assert "error" not in operation, operation
    return operation["response"]


def upload_model(client: HttpClient, server: VertexLocal, name: str, artifact_uri: str, parent: str = "") -> str:
    """models:upload over REST; returns the model resource name."""
    body: dict[str, Any] = {"model": {"displayName": name, "artifactUri": artifact_uri,
                                      "containerSpec": {"imageUri": SERVING_IMAGE}}}  # fmt: skip
    if parent:
        body["parentModel"] = parent
    answer = client.json("POST", f"/v1/{server.parent}/models:upload", body)
    assert answer.status == 200, answer.body
    return wait_for_operation(client, answer.json())["model"]


def create_endpoint(client: HttpClient, server: VertexLocal, name: str) -> str:
    answer = client.json("POST", f"/v1/{server.parent}/endpoints", {"displayName": name})
    assert answer.status == 200, answer.body
    return wait_for_operation(client, answer.json())["name"].rsplit("/", 1)[1]


def deploy(client: HttpClient, server: VertexLocal, endpoint_id: str, model: str, split: dict[str, int]) -> str:
    """deployModel over REST ("0" in the split is the new model); returns the deployed model id."""
    body = {"deployedModel": {"model": model, "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"},
                                                                      "minReplicaCount": 1}},
            "trafficSplit": split}  # fmt: skip
    answer = client.json("POST", f"/v1/{server.parent}/endpoints/{endpoint_id}:deployModel", body)
    assert answer.status == 200, answer.body
    return wait_for_operation(client, answer.json())["deployedModel"]["id"]


def deploy_over_rest(server: VertexLocal, model_uri: str, name: str) -> Deployment:
    """A new model (version 1 of `model_uri`) deployed alone on a new endpoint, all over REST."""
    client = HttpClient(server.url)
    try:
        model = upload_model(client, server, name, model_uri)
        endpoint_id = create_endpoint(client, server, name)
        return Deployment(endpoint_id, deploy(client, server, endpoint_id, model, {"0": 100}), model)
    finally:
        client.close()


def predict_body(images: Any) -> bytes:
    """The walkthrough's JSON body for float images [n, 28, 28]."""
    return json.dumps({"instances": [image.tolist() for image in images]}).encode()
