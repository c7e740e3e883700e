"""The raw-ASGI :predict route: wrong methods, unknown endpoints, streamed and abandoned bodies.

Run: .venv/bin/pytest tests/vertex_local/test_predict.py (answers with a model: test_deployments.py)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import requests

from tests.support.vertex_local_server import VertexLocal

LIMIT = 1_572_864  # pipeline.toml [serving] max_body_bytes


def test_other_methods_on_predict_get_googles_error_shape(vertex_local: VertexLocal) -> None:
    answer = requests.put(vertex_local.api("endpoints/123:predict"), data=b"{}", timeout=10)
    assert answer.status_code == 405 and answer.json()["error"]["status"] == "METHOD_NOT_ALLOWED"
    answer = requests.get(vertex_local.api("endpoints/123:predict"), timeout=10)  # read as GET endpoints/{id}
    assert answer.status_code == 404 and "endpoints/123:predict not found" in answer.json()["error"]["message"]


def test_predict_on_an_unknown_endpoint_is_404_naming_it(vertex_local: VertexLocal) -> None:
    answer = requests.post(vertex_local.api("endpoints/987654:predict"), json={"instances": [[[0.0] * 28] * 28]})
    assert answer.status_code == 404
    assert "endpoints/987654" in answer.json()["error"]["message"]


def test_a_streamed_body_over_the_limit_is_refused_without_a_content_length(vertex_local: VertexLocal) -> None:
    def chunks() -> Iterator[bytes]:  # requests sends a generator chunked, with no Content-Length
        yield b'{"instances": ['
        for _ in range(LIMIT // 65536 + 2):
            yield b"0," * 32768
        yield b"0]}"

    json_type = {"content-type": "application/json"}
    answer = requests.post(vertex_local.api("endpoints/987654:predict"), data=chunks(), headers=json_type, timeout=30)
    assert answer.status_code == 400 and "exceeds the limit" in answer.json()["error"]["message"]


def test_a_client_that_leaves_mid_body_does_not_disturb_the_next_request(vertex_local: VertexLocal) -> None:
    path = f"/v1/{vertex_local.parent}/endpoints/987654:predict"
    with socket.create_connection(("127.0.0.1", vertex_local.port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        head += "Content-Length: 5000\r\n\r\n"
        sock.sendall(head.encode() + b'{"instances": [')
    abandoned = f'"POST {path} HTTP/1.1" 0 '  # its access-log line: no answer was started
    deadline = time.monotonic() + 10
    while abandoned not in vertex_local.log_tail(40):
        assert time.monotonic() < deadline, "the abandoned request was never logged"
        time.sleep(0.05)
    tail = vertex_local.log_tail(40)
    assert "unhandled error" not in tail and "Traceback" not in tail
    answer = requests.post(vertex_local.api("endpoints/987654:predict"), json={"instances": []}, timeout=10)
    assert answer.status_code == 404  # answered as usual
