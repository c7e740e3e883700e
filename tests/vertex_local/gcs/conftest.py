"""What the Cloud Storage tests share: a keep-alive HTTP client on the session's vertex-local, one per module (a
module whose `client` is the SDK's, or needs another timeout, defines its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal


@pytest.fixture(scope="module")
def client(vertex_local: VertexLocal) -> Iterator[HttpClient]:
    keep_alive = HttpClient(vertex_local.url)
    yield keep_alive
    keep_alive.close()
