"""An answer sent before the request has fully arrived reaches a client that sends its whole body first.

Python's urllib (and curl, and many other clients) writes the whole request, with `Connection: close`, before
it reads a byte of the answer. A server that answers early (a body over a limit, a wrong Content-Type) and
closes with the rest of the body unread makes the kernel reset the connection: the client gets "Broken pipe"
or "Connection reset" instead of the 400 or 413. vertex-local closes such connections gently (http/linger.py).

Run: .venv/bin/pytest tests/vertex_local/http/test_early_answers.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support import tiers
from tests.support.own_servers import send_everything_first, serve_own
from tests.support.rest_client import google_error_problems
from tests.support.vertex_local_server import VertexLocal

ROUNDS = 12  # each of these failed about one time in two before the gentle close
MiB = 1 << 20


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = serve_own(tmp_path_factory.mktemp("early"))
    yield running
    running.stop()


@pytest.mark.parametrize(
    "route, size, content_type, status, words",
    [
        ("endpoints/1:predict", 2 * MiB, "application/json", 400, "Request payload size exceeds the limit"),
        ("models:upload", 3 * MiB, "application/json", 413, "request body exceeds the limit"),
        ("customJobs", 3 * MiB, "text/plain", 415, "takes a body of Content-Type application/json"),
        ("/upload/storage/v1/b/b/o?uploadType=multipart", 40 * MiB, "multipart/related; boundary=x", 413, "exceeds"),
    ],
)
def test_a_client_that_sends_everything_first_reads_the_early_answer(
    server: VertexLocal, route: str, size: int, content_type: str, status: int, words: str
) -> None:
    url = f"{server.url}{route}" if route.startswith("/") else server.api(route)
    body = json.dumps({"instances": [[0.5] * (size // 4)]}).encode()[:size]
    for _ in range(ROUNDS):
        answer = send_everything_first(url, body, content_type)  # a reset would raise URLError here
        assert answer.status == status and google_error_problems(answer) == [], answer.body[:300]
        assert words in answer.json()["error"]["message"]
    assert "Traceback" not in server.log_tail(100_000)
