"""Connection limits for `python -m vertex_local serve`: slow or stalled clients cannot hold the server.

uvicorn's httptools protocol closes idle keep-alive connections (timeout_keep_alive) but has no limit on
a request that is still arriving: a client that sends half its headers, or a body that stops, holds its
connection, its buffers and (for a predict) the undeploy drain forever, and a header that never ends
grows without bound. This subclass adds three limits from pipeline.toml's [serving] table:

    head_timeout_s   from the connection (or the next request's first byte) to the end of its headers
    max_head_bytes   request line and headers together
    body_timeout_s   the longest silence while a request body is still arriving

A head that breaks them is answered 408 or 431 in Google's error shape and the connection is closed. A
stalled body ends as a disconnect for the app; the client gets 408 unless an answer had already started.
"""

from __future__ import annotations

import asyncio
import http

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline_config import Serving
from vertex_local.errors import ApiError


def error_bytes(code: int, message: str) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection, written straight to the socket."""
    body = orjson.dumps(ApiError(code, message).body())
    head = f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}\r\ncontent-type: application/json\r\n"
    return (head + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a head size limit and a body silence limit."""

    limits: Serving  # set on the subclass guarded_httptools() builds

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = True  # between requests or inside headers; False while a body may still arrive
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.head_timeout_s, self._head_too_slow)  # also a client that never says a word

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            allowance = self.limits.max_head_bytes - self._head_bytes
            self._head_bytes += len(data)
            if len(data) > allowance and data.find(b"\r\n\r\n", 0, max(allowance, 0) + 4) == -1:
                self._refuse(431, f"request line and headers exceed {self.limits.max_head_bytes} bytes")
                return  # before the parser buffers any of it
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes and self._timer is None:  # a head's deadline: from its first byte
            self._arm(self.limits.head_timeout_s, self._head_too_slow)
        elif not self._in_head:  # part of a body: any byte restarts the silence clock
            self._arm(self.limits.body_timeout_s, self._body_stalled)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, callback: object) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)  # type: ignore[arg-type]

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_too_slow(self) -> None:
        self._timer = None
        self._refuse(408, f"the request headers did not arrive within {self.limits.head_timeout_s:g} s")

    def _body_stalled(self) -> None:
        self._timer = None
        if self.flow.read_paused:  # we stopped reading (the app has not caught up): not the client's silence
            self._arm(self.limits.body_timeout_s, self._body_stalled)
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app's next read ends as a disconnect; its answer, if any, is dropped
            cycle.message_event.set()
            message = f"the request body sent nothing for {self.limits.body_timeout_s:g} s; the connection is closed"
            self.transport.write(error_bytes(408, message))
        self.transport.close()

    def _refuse(self, code: int, message: str) -> None:
        """Answer a request whose head broke a limit, then close; mid-answer to an earlier request, just close."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(error_bytes(code, message))
        self.transport.close()


def guarded_httptools(limits: Serving) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn.run(http=...), holding these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
