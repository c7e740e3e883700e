"""Open connections are capped: past [serving] max_connections a client is answered 503 at once, in Google's
shape, and any number of slow clients holds no more of the server's file descriptors than the cap.

uvicorn's own limit_concurrency would answer only once a request's head had arrived (a slow client never
sends one) and in plain text; the cap here answers as soon as the connection is accepted.

Run: .venv/bin/pytest tests/vertex_local/http/test_connections.py -s
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support import tiers
from tests.support.own_servers import read_all, send_everything_first, serve_own
from tests.support.rest_client import Answer, HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

CAP = 20  # max_connections of this module's server
HEAD_S = 4.0  # its head_timeout_s: how long a stalled client holds its connection
CLIENTS = 400  # slow clients, each sending half a request head
# How long a test waits for what must come: a bound for failing, not a measurement. "At once" is decided by order:
# a refused client has its 503 while every held connection is still held, not once one of them has gone.
WAIT_S = 60.0


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    env = {"PIPELINE_SERVING_MAX_CONNECTIONS": str(CAP), "PIPELINE_SERVING_HEAD_TIMEOUT_S": str(HEAD_S)}
    running = serve_own(tmp_path_factory.mktemp("connections"), env=env)
    yield running
    running.stop()


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def refused_503(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 503 ") and google_error_problems(Answer(503, {}, body)) == []


def test_clients_past_the_cap_are_answered_503_at_once_and_descriptors_stay_bounded(server: VertexLocal) -> None:
    assert server.process is not None
    pid, held, latencies = server.process.pid, [], []
    before = peak = descriptors(pid)
    for _ in range(CLIENTS):
        sock = socket.create_connection(("127.0.0.1", server.port))
        connected = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest of its head
        if len(held) < CAP:
            held.append(sock)  # accepted, up to the cap
            continue
        readable = select.select([sock], [], [], WAIT_S)[0]
        answer = read_all(sock) if readable else b""
        latencies.append(time.monotonic() - connected)
        sock.close()
        assert refused_503(answer), answer
        assert not select.select(held, [], [], 0)[0], "a held connection was let go before the 503"
        peak = max(peak, descriptors(pid))
    print(f"{CLIENTS - CAP} clients past the cap of {CAP}: answered 503 in at most {max(latencies) * 1000:.0f} ms; "
          f"server descriptors {before} before, {peak} at most")  # fmt: skip
    assert peak <= before + CAP + 5  # the held ones, and the few refused ones still closing: not CLIENTS
    client = HttpClient(server.url)
    for answer in (  # no room for ordinary clients either, but they hear so at once
        client.request("GET", "/healthz"),
        send_everything_first(server.api("customJobs"), b" " * (1 << 20), "application/json"),
    ):
        assert answer.status == 503 and "limit of 20 connections" in answer.json()["error"]["message"]
    for sock in held:  # the held ones end at their head deadline, as ever
        sock.settimeout(WAIT_S)
        assert read_all(sock).startswith(b"HTTP/1.1 408 ")
        sock.close()
    deadline = time.monotonic() + WAIT_S
    while descriptors(pid) > before:
        assert time.monotonic() < deadline, "the server kept descriptors of closed connections"
        time.sleep(0.05)  # polling, with a deadline
    assert client.request("GET", "/healthz").status == 200  # room again
    client.close()
