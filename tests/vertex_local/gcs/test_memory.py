"""Issue 10 item 14: concurrent multipart uploads must not add up in the server's memory.

16 uploads of almost 32 MiB each (the largest multipart body) at once: held in memory they would need 512 MiB
(the red-team measured a 761 MB peak); streamed to disk, the server's peak resident memory stays within a bound
that does not grow with the body size. The figures themselves are `make bench-gcs`'s.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_memory.py -s
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from benchmarks.gcs_uploads import MIB, multipart_body, peak_growth_mib
from tests.conftest import VertexLocal, start_vertex_local
from vertex_local.http.bodies import MAX_MULTIPART_BODY_BYTES

UPLOADS = 16
MAX_PEAK_GROWTH_MIB = 96  # a few MiB per upload in flight; buffering the bodies would take 512


@pytest.fixture(scope="module")
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
