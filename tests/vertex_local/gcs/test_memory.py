"""Issue 10 item 14: concurrent multipart uploads must not add up in the server's memory; issue 18 item 2: neither
may a gzip bomb (a small gzip-encoded object inflated for a client that does not accept gzip).

16 uploads of almost 32 MiB each (the largest multipart body) at once: held in memory they would need 512 MiB
(the red-team measured a 761 MB peak); streamed to disk, the server's peak resident memory stays within a bound
that does not grow with the body size. The figures themselves are `make bench-gcs`'s.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_memory.py -s
"""

from __future__ import annotations

import http.client
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.gcs_uploads import MIB, multipart_body, peak_growth_mib, status_kib
from tests.support import tiers
from tests.support.vertex_local_server import VertexLocal, start_vertex_local
from vertex_local.http.bodies import MAX_MULTIPART_BODY_BYTES

UPLOADS = 16
MAX_PEAK_GROWTH_MIB = 96  # a few MiB per upload in flight; buffering the bodies would take 512
BOMB_INFLATED_MIB = 256  # zeros: about 0.25 MiB once gzipped
MAX_BOMB_GROWTH_MIB = 48  # a few 1 MiB pieces in flight; inflating it whole would take 256


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path_factory.mktemp("memory") / "state")
    yield running
    running.stop()


def test_concurrent_large_multipart_uploads_keep_the_server_memory_bounded(server: VertexLocal) -> None:
    framing = len(multipart_body("memory/00", b"")[0])
    media = os.urandom(MAX_MULTIPART_BODY_BYTES - framing)
    warm_up, _ = peak_growth_mib(server.process.pid, server.url, server.bucket, 1, media[:MIB], "warm-up")
    growth, statuses = peak_growth_mib(server.process.pid, server.url, server.bucket, UPLOADS, media, "memory")
    print(f"{UPLOADS} x {len(media) / MIB:.1f} MiB multipart uploads at once: server peak +{growth:.1f} MiB "
          f"(one 1 MiB upload: +{warm_up:.1f} MiB)")  # fmt: skip
    assert statuses == [200] * UPLOADS
    assert growth < MAX_PEAK_GROWTH_MIB
    stored = server.storage_client().bucket(server.bucket).get_blob("memory/7")
    assert stored.size == len(media)
    assert stored.download_as_bytes() == media  # checked against the stored checksums by the client


def gzip_bomb(inflated_mib: int) -> bytes:
    compress, zeros = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), bytes(MIB)
    return b"".join(compress.compress(zeros) for _ in range(inflated_mib)) + compress.flush()


def served_zeros(url: str, path: str) -> tuple[int, int]:
    """(status, how many bytes came) of a download read a piece at a time; every byte must be a zero."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=300)
    try:
        connection.request("GET", path)  # no Accept-Encoding: the server inflates
        response, served = connection.getresponse(), 0
        while piece := response.read(MIB):
            assert piece.count(0) == len(piece), "the inflated bytes are not the zeros that were compressed"
            served += len(piece)
        return response.status, served
    finally:
        connection.close()


def test_a_gzip_bomb_is_inflated_a_bounded_piece_at_a_time(server: VertexLocal) -> None:
    bomb = gzip_bomb(BOMB_INFLATED_MIB)
    blob = server.storage_client().bucket(server.bucket).blob("memory/bomb")
    blob.content_encoding = "gzip"
    blob.upload_from_string(bomb, content_type="application/octet-stream")
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the high-water mark restarts from the current RSS
    before = status_kib(pid, "VmRSS")
    status, served = served_zeros(server.url, f"/storage/v1/b/{server.bucket}/o/memory%2Fbomb?alt=media")
    growth = (status_kib(pid, "VmHWM") - before) / 1024
    print(f"gzip bomb: {len(bomb) / MIB:.2f} MiB stored, {served / MIB:.0f} MiB served inflated, "
          f"server peak +{growth:.1f} MiB")  # fmt: skip
    assert status == 200 and served == BOMB_INFLATED_MIB * MIB
    assert growth < MAX_BOMB_GROWTH_MIB
