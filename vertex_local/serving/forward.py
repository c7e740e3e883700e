"""Forward a predict body to a serving container over HTTP/1.1 keep-alive connections, and read its answer.

Vertex sends :predict and :rawPredict bodies to the container's AIP_PREDICT_ROUTE and returns what it answers
("Custom container requirements for inference", https://cloud.google.com/vertex-ai/docs/predictions/
custom-container-requirements#prediction). The container is a local process (or a `docker run` on the host's
network), so a small pool of asyncio streams does: no client library per request, no second JSON parse of the
request. The container answers with Content-Length (uvicorn does); an answer without one is an error.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from vertex_local.errors import STATUS_NAMES, ApiError

MAX_IDLE = 64  # connections kept open per container: as many as requests in flight on a busy endpoint
MAX_HEAD_BYTES = 65536
ANSWER_TIMEOUT_S = 60.0  # Vertex's own online prediction deadline is 60 s


class Forwarder:
    """One container's predict route, reached at 127.0.0.1:port."""

    def __init__(self, port: int, route: str, deployed_model_id: str) -> None:
        self.port = port
        self.deployed_model_id = deployed_model_id
        self.head = f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def predict(self, body: bytes) -> list:
        """The container's predictions for one body; ApiError with its status and message when it refuses."""
        status, answer = await self.send(body)
        try:
            document = orjson.loads(answer)
        except orjson.JSONDecodeError:
            document = None
        if status == 200 and isinstance(document, dict) and isinstance(document.get("predictions"), list):
            return document["predictions"]
        error = document.get("error") if isinstance(document, dict) else None
        message = error.get("message") if isinstance(error, dict) else answer[:200].decode(errors="replace")
        if status == 200:
            status, message = 500, f"deployed model {self.deployed_model_id}'s container answered no predictions list"
        raise ApiError(status if status in STATUS_NAMES else 500, str(message))

    async def send(self, body: bytes) -> tuple[int, bytes]:
        """POST on an idle connection, or a new one; a kept connection the container closed is retried once."""
        request = self.head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body
        while self.idle:
            reader, writer = self.idle.pop()
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
                return await self.exchange(reader, writer, request)
            writer.close()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            return await self.exchange(reader, writer, request)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            raise ApiError(503, f"deployed model {self.deployed_model_id}'s container does not answer: "
                           f"{type(exc).__name__} {exc}".strip()) from None  # fmt: skip

    async def exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       request: bytes) -> tuple[int, bytes]:  # fmt: skip
        writer.write(request)
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > MAX_HEAD_BYTES:
                raise ValueError("answer head too long")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
            if "content-length" not in headers:
                raise ValueError("the answer has no Content-Length")
            answer = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection") == "close" or len(self.idle) >= MAX_IDLE:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, answer

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()
