"""A connection's transport as uvicorn sees it: its close() can wait for the client to stop sending first, and
its writes of one event-loop turn leave in one send.

Closing a TCP socket with unread bytes in its receive buffer makes the kernel send a reset, not a FIN. A
client that writes its whole body before reading (Python's urllib, http.client, curl without Expect) then
fails with "Broken pipe" or "Connection reset" and never reads the 400/413/503 it was sent. So when the
server answers before the request has fully arrived, uvicorn's close() becomes a lingering close, as
Apache's and nginx's: half-close (the client reads the answer, then EOF), read and drop what the client
still sends, and close for real once it stops, or at the [serving] linger_timeout_s / linger_max_bytes bound.

uvicorn writes an answer's head and its body in two calls, so a small answer costs two send() system calls and
two TCP segments. The transport holds small writes until the end of the event loop's turn (the app writes the
body in the same turn) and sends them as one; a write that makes the held bytes larger than COALESCE_MAX_BYTES
(a large one goes out on its own, uncopied), and every close, half-close and raw write, sends what is held first,
so the order on the wire never changes. A whole answer does not wait for the end of the turn: the protocol sends
it the moment its last byte is written (uvicorn's on_response_complete), a loop iteration sooner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl

from pipeline_config import Serving

COALESCE_MAX_BYTES = 65536  # more held than this is sent at once: large answers stream as they did


class LingeringTransport:
    """Wraps the real transport; everything but write(), close() and is_closing() goes straight through."""

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None], lingering: Callable[[], bool]) -> None:
        self.raw = transport
        self._close = close
        self._lingering = lingering
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._loop = asyncio.get_running_loop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)

    def write(self, data: bytes) -> None:
        """Held until the end of this event-loop turn, with whatever else is written in it (see module doc); a
        write larger than COALESCE_MAX_BYTES goes out at once, after what is held, and on its own: joined to the
        head, a large body (a mapped object, gcs/download.py) would be copied whole for nothing."""
        if len(data) > COALESCE_MAX_BYTES:
            self.flush()
            if not self.raw.is_closing():
                self.raw.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes > COALESCE_MAX_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send what is held, in one write."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held, self._held_bytes = [], 0
        if not self.raw.is_closing():
            self.raw.write(data)

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
        self._wrapped = LingeringTransport(transport, self._close_gently, self._is_lingering)
        return self._wrapped

    def on_response_complete(self) -> None:
        """uvicorn's hook when an answer's last byte is written: send it now, not at the end of this turn (no
        other write can join it in this turn but the next pipelined answer's, which the client reads after it)."""
        self._wrapped.flush()
        super().on_response_complete()  # type: ignore[misc]  # HttpToolsProtocol's, after this mixin

    def _write_now(self, data: bytes) -> None:
        """Write straight to the socket, after what uvicorn wrote before it."""
        self._wrapped.flush()
        self._raw.write(data)

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
        self._wrapped.flush()
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
        self._wrapped.flush()
        self._raw.close()
