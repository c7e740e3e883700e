"""Connection limits for `python -m vertex_local serve`: slow or stalled clients cannot hold the server.

uvicorn's httptools protocol closes idle keep-alive connections (timeout_keep_alive) but has no limit on
a request that is still arriving: a client that sends half its headers, or a body that stops, holds its
connection, its buffers and (for a predict) the undeploy drain forever, and a header that never ends
grows without bound. This subclass adds these limits from pipeline.toml's [serving] table:

    head_timeout_s   from the connection (or the next request's first byte) to the end of its headers
    max_head_bytes   request line and headers together
    body_timeout_s   from the end of the headers to the end of the body, and the longest silence in it;
                     /upload/ bodies have upload_body_timeout_s in all (google-cloud-storage sends
                     resumable uploads in 100 MiB chunks: blob.py's _DEFAULT_CHUNKSIZE)
    max_connections  open connections; one more is answered 503 at once (uvicorn's limit_concurrency
                     answers only once the request's head has arrived, and in plain text)

A head that breaks them is answered 408 or 431 in Google's error shape and the connection is closed. A
stalled body ends as a disconnect for the app; the client gets 408 unless an answer had already started.
An answer sent before its request has fully arrived closes the connection gently (linger.py).
"""

from __future__ import annotations

import asyncio
import http

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.http.linger import LingeringClose, RequestDropped

UPLOAD_PREFIX = "/upload/"  # Cloud Storage media, multipart and resumable uploads


def error_bytes(code: int, message: str) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection, written straight to the socket."""
    body = orjson.dumps(ApiError(code, message).body())
    head = f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}\r\ncontent-type: application/json\r\n"
    return (head + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class GuardedHttpToolsProtocol(LingeringClose, HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap, head and body deadlines, and a gentle close."""

    limits: Serving  # set on the subclass guarded_httptools() builds

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = True  # between requests or inside headers; False while a body may still arrive
        self._head_bytes = 0
        self._body_budget = 0.0  # seconds the body being read may take in all
        self._body_deadline = 0.0  # loop time by which it must have arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(self.wrap(transport))  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections:  # this one included
            message = f"vertex-local has its limit of {self.limits.max_connections} connections open; retry shortly"
            self._refuse(503, message)  # its request may be on its way already: dropped, so the client reads this
            return
        self._arm(self.limits.head_timeout_s, self._head_too_slow)  # also a client that never says a word

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._drop(data)
            return
        if self._in_head:
            allowance = self.limits.max_head_bytes - self._head_bytes
            self._head_bytes += len(data)
            if len(data) > allowance and data.find(b"\r\n\r\n", 0, max(allowance, 0) + 4) == -1:
                self._refuse(431, f"request line and headers exceed {self.limits.max_head_bytes} bytes")
                return  # before the parser buffers any of it
        super().data_received(data)
        if self._raw.is_closing() or self._lingering:
            return
        if self._in_head and self._head_bytes and self._timer is None:  # a head's deadline: from its first byte
            self._arm(self.limits.head_timeout_s, self._head_too_slow)
        elif not self._in_head:  # part of a body: due whole by its deadline, and never silent for body_timeout_s
            self._arm(min(self.limits.body_timeout_s, self._body_deadline - self.loop.time()), self._body_stalled)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._disarm()
        super().on_headers_complete()
        upload = self.scope.get("path", "").startswith(UPLOAD_PREFIX)
        self._body_budget = self.limits.upload_body_timeout_s if upload else self.limits.body_timeout_s
        self._body_deadline = self.loop.time() + self._body_budget

    def on_message_complete(self) -> None:
        self._in_head = True
        self._disarm()
        if self._lingering:  # the rest of an answered request has been dropped: close, parse no further
            self._close_now()
            raise RequestDropped
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
        self._refuse(408, f"the request headers did not arrive within {self.limits.head_timeout_s:g} s", linger=False)

    def _body_stalled(self) -> None:
        self._timer = None
        now, silence = self.loop.time(), self.limits.body_timeout_s
        if self.flow.read_paused:  # we stopped reading (the app has not caught up): not the client's silence
            self._body_deadline = max(self._body_deadline, now + silence)
            self._arm(silence, self._body_stalled)
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.disconnected = True  # the app's next read ends as a disconnect; its answer, if any, is dropped
            cycle.message_event.set()
            if self._body_deadline - now < silence / 2:  # the whole-body deadline fired, not the silence
                message = f"the request body did not arrive within {self._body_budget:g} s"
            else:
                message = f"the request body sent nothing for {silence:g} s"
            self._write_now(error_bytes(408, message + "; the connection is closed"))
        self._close_now()  # a slow client gets no lingering

    def _refuse(self, code: int, message: str, linger: bool = True) -> None:
        """Answer a request whose head broke a limit, then close; mid-answer to an earlier request, just close."""
        if self.cycle is None or self.cycle.response_complete:
            self._write_now(error_bytes(code, message))
        if linger:
            self._linger()
        else:
            self._close_now()


def guarded_httptools(limits: Serving) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn.run(http=...), holding these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
