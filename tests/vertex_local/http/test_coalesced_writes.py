"""An answer's head and body leave in one write to the socket (http/linger.py's LingeringTransport).

Counted by the kernel: /proc/<pid>/io's syscw is the server process's write-like system calls. A keep-alive
client sends requests one at a time, so each request costs its answer's writes plus one access-log line.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

REQUESTS = 500
ACCESS_LOG_WRITES = 1  # one line per request; lines of one event-loop turn share a write, these are one per turn


def write_calls(pid: int) -> int:
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["syscw"])


def test_an_answer_is_one_write_to_the_socket(vertex_local: VertexLocal) -> None:
    client = HttpClient(vertex_local.url)
    for _ in range(20):  # the connection and the app warmed up
        client.request("GET", "/healthz")
    before = write_calls(vertex_local.process.pid)
    for _ in range(REQUESTS):
        answer = client.request("GET", "/healthz")
        assert answer.status == 200 and answer.body
    per_request = (write_calls(vertex_local.process.pid) - before) / REQUESTS
    client.close()
    # Head and body written apiece would be 2 + 1; the margin is for the server's own background writes.
    assert per_request < 1 + ACCESS_LOG_WRITES + 0.5, f"{per_request:.2f} write calls per request"
