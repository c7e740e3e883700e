"""Helpers for the race tests: a request held open halfway through its body, and a few REST shortcuts.

HalfSent        a request whose head and first half of body are sent now and the rest later, so another
                client's request can run entirely inside it (the window a read-before-body handler leaves open)
operation_of    poll an operation to its end and return it (done, with `response` or `error`)
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from tests.support import rest_client
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

OPERATION_TIMEOUT_S = 90.0


class HalfSent:
    """One HTTP request sent in two parts over its own connection."""

    def __init__(self, server: VertexLocal, method: str, path: str, body: Any) -> None:
        self.body = json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        self.sock.sendall(head.encode() + self.body[: len(self.body) // 2])

    def finish(self) -> tuple[int, Any]:
        """Send the rest of the body; returns (status, JSON answer)."""
        try:
            self.sock.sendall(self.body[len(self.body) // 2 :])
            response = http.client.HTTPResponse(self.sock)
            response.begin()
            return response.status, json.loads(response.read() or b"null")
        finally:
            self.sock.close()


def operation_of(client: HttpClient, operation: dict[str, Any]) -> dict[str, Any]:
    """An operation polled until it is done; the race tests allow their busier operations longer."""
    return rest_client.operation_of(client, operation, OPERATION_TIMEOUT_S)


def version_ids(client: HttpClient, server: VertexLocal, model: str) -> list[str]:
    model_id = model.rsplit("/", 1)[1]
    answer = client.request("GET", f"/v1/{server.parent}/models/{model_id}:listVersions")
    assert answer.status == 200, answer.body
    return [version["versionId"] for version in answer.json()["models"]]


def endpoint_doc(client: HttpClient, server: VertexLocal, endpoint_id: str) -> dict[str, Any]:
    answer = client.request("GET", f"/v1/{server.parent}/endpoints/{endpoint_id}")
    assert answer.status == 200, answer.body
    return answer.json()
