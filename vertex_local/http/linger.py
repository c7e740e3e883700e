"""A connection's transport as uvicorn sees it, whose close() can wait for the client to stop sending first.

Closing a TCP socket with unread bytes in its receive buffer makes the kernel send a reset, not a FIN. A
client that writes its whole body before reading (Python's urllib, http.client, curl without Expect) then
fails with "Broken pipe" or "Connection reset" and never reads the 400/413/503 it was sent. So when the
server answers before the request has fully arrived, uvicorn's close() becomes a lingering close, as
Apache's and nginx's: half-close (the client reads the answer, then EOF), read and drop what the client
still sends, and close for real once it stops, or at the [serving] linger_timeout_s / linger_max_bytes bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class LingeringTransport:
    """Wraps the real transport; everything but close() and is_closing() goes straight through."""

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None], lingering: Callable[[], bool]) -> None:
        self.raw = transport
        self.write = transport.write  # the hot path: no delegation through __getattr__
        self._close = close
        self._lingering = lingering

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def close(self) -> None:
        """uvicorn's close: the protocol decides whether the client may still be sending (see module doc)."""
        self._close()

    def is_closing(self) -> bool:
        # A lingering connection is closing as far as uvicorn is concerned: no keep-alive, no next request.
        return self.raw.is_closing() or self._lingering()


def half_close(transport: asyncio.Transport) -> None:
    """Send FIN after what is already written, keep reading: the client sees the whole answer, then EOF."""
    if transport.can_write_eof() and not transport.is_closing():
        transport.write_eof()
