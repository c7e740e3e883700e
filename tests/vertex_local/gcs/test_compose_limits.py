"""Compose checks its limits from the sources' records before it copies a byte (issue 18, item 7).

A compose past 1024 components used to write the whole concatenation, then refuse it. The proof is the kernel's
count of bytes the server process wrote (wchar in /proc/PID/io): a refused compose over an 8 MiB source must not
write megabytes.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_compose_limits.py
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.rest_client import HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal

LARGE_BYTES = 8 << 20
MAX_WRITTEN_BYTES = 1 << 20  # the answer, an access-log line, a metrics flush: far below the 8 MiB source


@pytest.fixture(scope="module")
def client(vertex_local: VertexLocal) -> Iterator[HttpClient]:
    keep_alive = HttpClient(vertex_local.url, timeout=120)
    yield keep_alive
    keep_alive.close()


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/io has no wchar")


def compose(client: HttpClient, bucket: str, dest: str, sources: list[str]) -> tuple[int, dict]:
    body = {"sourceObjects": [{"name": name} for name in sources]}
    answer = client.json("POST", f"/storage/v1/b/{bucket}/o/{quote(dest, safe='')}/compose", body)
    return answer.status, answer.json()


def test_a_compose_past_1024_components_is_refused_before_anything_is_written(
    vertex_local: VertexLocal, client: HttpClient
) -> None:
    bucket, prefix = vertex_local.bucket, f"compose-limits/{uuid.uuid4().hex}"
    for name, data in ((f"{prefix}/one", b"1"), (f"{prefix}/large", os.urandom(LARGE_BYTES))):
        path = f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(name, safe='')}"
        assert client.request("POST", path, data, {"content-type": "application/octet-stream"}).status == 200
    status, c32 = compose(client, bucket, f"{prefix}/c32", [f"{prefix}/one"] * 32)
    assert status == 200 and c32["componentCount"] == 32
    status, c1024 = compose(client, bucket, f"{prefix}/c1024", [f"{prefix}/c32"] * 32)
    assert status == 200 and c1024["componentCount"] == 1024
    pid = vertex_local.process.pid
    before = written_bytes(pid)
    status, error = compose(client, bucket, f"{prefix}/refused", [f"{prefix}/c1024", f"{prefix}/large"])
    written = written_bytes(pid) - before
    print(f"refused compose over a {LARGE_BYTES >> 20} MiB source: the server wrote {written} bytes")
    assert status == 400 and "1024 components" in error["error"]["message"]
    assert written < MAX_WRITTEN_BYTES
    missing = client.request("GET", f"/storage/v1/b/{bucket}/o/{quote(f'{prefix}/refused', safe='')}")
    assert missing.status == 404 and google_error_problems(missing) == []
