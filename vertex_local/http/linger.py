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

import httptools
from uvicorn.protocols.http.flow_control import FlowControl

from pipeline_config import Serving


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


class RequestDropped(Exception):
    """Raised inside the parser to stop it once a lingering connection's request has been read to its end."""


class LingeringClose:
    """The gentle close, mixed into vertex_local/http/protocol.py's protocol, which supplies `limits`, `flow`,
    `parser`, `_in_head` (False while a request body may still arrive) and its one timer, `_arm` / `_disarm`."""

    limits: Serving
    flow: FlowControl
    parser: httptools.HttpRequestParser
    _in_head: bool
    _arm: Callable[[float, Callable[[], None]], None]
    _disarm: Callable[[], None]
    _lingering = False
    _dropped_bytes = 0

    def wrap(self, transport: asyncio.Transport) -> LingeringTransport:
        """The transport to hand uvicorn: its close() comes here."""
        self._raw = transport
        return LingeringTransport(transport, self._close_gently, self._is_lingering)

    def eof_received(self) -> None:
        if self._lingering:  # the client has sent all it will: nothing more to wait for
            self._close_now()

    def _is_lingering(self) -> bool:
        return self._lingering

    def _close_gently(self) -> None:
        """uvicorn's close(): linger while the request's body may still be arriving, else close now."""
        if self._lingering or self._in_head or self._raw.is_closing():
            self._close_now()
        else:
            self._linger()

    def _linger(self) -> None:
        self._lingering, self._dropped_bytes = True, 0
        half_close(self._raw)
        self.flow.resume_reading()
        self._arm(self.limits.linger_timeout_s, self._close_now)

    def _drop(self, data: bytes) -> None:
        """Read and drop what a lingering client still sends; the parser finds where its request body ends."""
        self._dropped_bytes += len(data)
        if self._dropped_bytes > self.limits.linger_max_bytes:
            self._close_now()
        elif not self._in_head:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:  # RequestDropped (the end), or a malformed rest: either way, done
                self._close_now()

    def _close_now(self) -> None:
        self._disarm()
        self._raw.close()
