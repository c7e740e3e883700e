"""A request body has a whole-body deadline, not only a silence limit: a byte every few seconds is answered 408.

The server runs with short deadlines (PIPELINE_SERVING_* variables, as users override pipeline.toml): every
body must arrive whole within BODY_S of its headers, an /upload/ body within UPLOAD_S, and no body may be
silent for BODY_S. The clients send a byte every BODY_S / 4, so no silence limit ever fires.

Run: .venv/bin/pytest tests/vertex_local/http/test_body_deadlines.py -s
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import tiers
from tests.support.own_servers import Trickler, serve_own
from tests.support.vertex_local_server import VertexLocal

# Short, so that waiting them out stays quick: what is tested is that each deadline holds, not its default value.
BODY_S = 1.0  # body_timeout_s of this module's server
UPLOAD_S = 3.0  # upload_body_timeout_s
# How long a test waits for an answer that must come: a bound for failing, not a measurement (a server without
# the deadline never answers a body that is still arriving), far beyond any deadline on any machine.
WAIT_S = 60.0
BYTE_EVERY_S = BODY_S / 4
BUCKET = "deadlines"


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    env = {"PIPELINE_SERVING_BODY_TIMEOUT_S": str(BODY_S), "PIPELINE_SERVING_UPLOAD_BODY_TIMEOUT_S": str(UPLOAD_S)}
    running = serve_own(tmp_path_factory.mktemp("deadlines"), env=env)
    running.storage_client().create_bucket(BUCKET)
    yield running
    running.stop()


def head(method: str, path: str, length: int, content_type: str = "application/json") -> str:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )


def answered_408_at(client: Trickler, deadline_s: float, words: bytes) -> float:
    """Checks the client was answered 408 (saying `words`) while it was still sending its body, and no earlier
    than `deadline_s` after it connected; returns when, in seconds. Decided by causality, not by a time window:
    the server cannot answer before its deadline has passed, and without a deadline it would not answer a body
    still arriving."""
    client.join(WAIT_S)
    assert not client.is_alive(), f"no answer in {WAIT_S} s to a body still arriving"
    took = client.closed - client.started
    assert client.answer.startswith(b"HTTP/1.1 408 ") and b'"DEADLINE_EXCEEDED"' in client.answer, client.answer
    assert words in client.answer
    assert client.sent < len(client.body), "answered only once the whole body had arrived"
    assert took >= deadline_s, f"answered after {took:.3f} s, before its {deadline_s} s deadline"
    return took


@pytest.mark.parametrize("route", ["endpoints/1:predict", "models:upload", "customJobs"])
def test_a_body_sent_a_byte_at_a_time_is_answered_408_at_its_deadline(server: VertexLocal, route: str) -> None:
    body = b'{"instances": [' + b" " * 100_000  # would take 14 hours at this pace
    client = Trickler(server.port, head("POST", f"/v1/{server.parent}/{route}", len(body)), body, BYTE_EVERY_S)
    client.start()
    took = answered_408_at(client, BODY_S, f"the request body did not arrive within {BODY_S:g} s".encode())
    print(f"{route}: {client.sent} bytes, one every {BYTE_EVERY_S} s, then 408 at {took:.2f} s")


def test_many_trickling_clients_are_all_answered_at_their_deadline(server: VertexLocal) -> None:
    body, path = b" " * 1000, f"/v1/{server.parent}/endpoints/1:predict"
    clients = [Trickler(server.port, head("POST", path, len(body)), body, BYTE_EVERY_S) for _ in range(40)]
    for client in clients:
        client.start()
    took = [answered_408_at(client, BODY_S, b"did not arrive within") for client in clients]
    print(f"{len(clients)} trickling clients: 408 between {min(took):.2f} s and {max(took):.2f} s")


def test_an_upload_has_a_budget_of_its_own_and_a_silence_limit(server: VertexLocal) -> None:
    path = f"/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name="
    octets = "application/octet-stream"
    paced = b"x" * int(1.6 * BODY_S / BYTE_EVERY_S)  # longer than a JSON body may take, well within UPLOAD_S
    whole = Trickler(server.port, head("POST", path + "paced", len(paced), octets), paced, BYTE_EVERY_S)
    endless = b"x" * 100_000
    late = Trickler(server.port, head("POST", path + "late", len(endless), octets), endless, BYTE_EVERY_S)
    silent = Trickler(server.port, head("POST", path + "silent", 10, octets), b"x" * 10, 60.0)
    for client in (whole, late, silent):
        client.start()
    whole.join(WAIT_S)
    assert whole.answer.startswith(b"HTTP/1.1 200 "), whole.answer
    assert whole.closed - whole.started > BODY_S  # it did take longer than a JSON body's deadline
    assert server.storage_client().bucket(BUCKET).blob("paced").download_as_bytes() == paced
    silence = answered_408_at(silent, BODY_S, f"the request body sent nothing for {BODY_S:g} s".encode())
    budget = answered_408_at(late, UPLOAD_S, f"the request body did not arrive within {UPLOAD_S:g} s".encode())
    print(f"uploads: {len(paced)} bytes over {whole.closed - whole.started:.2f} s stored; "
          f"408 at {budget:.2f} s for one still trickling, at {silence:.2f} s for a silent one")  # fmt: skip
