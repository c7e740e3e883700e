"""AccessLog: one line per HTTP request, written together per event-loop turn.

Run: .venv/bin/pytest tests/vertex_local/http/test_access_log.py
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import pytest

from vertex_local.http.access_log import AccessLog

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO vertex_local\.access: "
    r'127\.0\.0\.1 "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d+) \d+\.\d ms$'
)


class CountingStream(io.StringIO):
    """A real text stream that also counts the writes it was given."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def answer_by_path(scope: dict, receive: Any, send: Any) -> None:
    """A tiny ASGI app: /fail raises before answering, other paths answer 200 or the status they name."""
    if scope["path"] == "/fail":
        raise RuntimeError("broken handler")
    status = int(scope["path"].strip("/") or 200)
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def http_scope(path: str, method: str = "GET") -> dict:
    return {"type": "http", "method": method, "path": path, "http_version": "1.1", "client": ("127.0.0.1", 5000)}


async def call(app: AccessLog, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def run_requests(paths: list[str]) -> CountingStream:
    stream = CountingStream()
    app = AccessLog(answer_by_path, stream)

    async def all_at_once() -> None:
        await asyncio.gather(*(call(app, http_scope(path, "POST")) for path in paths))
        await asyncio.sleep(0)  # the turn that writes the lines

    asyncio.run(all_at_once())
    return stream


def test_each_request_gets_one_line_with_method_path_status_and_time() -> None:
    stream = run_requests(["/", "/404", "/503"])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["method"], m["path"], m["status"]) for m in parsed] == [
        ("POST", "/", "200"),
        ("POST", "/404", "404"),
        ("POST", "/503", "503"),
    ]


def test_lines_of_one_event_loop_turn_go_out_in_one_write() -> None:
    stream = run_requests([f"/{200 + index % 2}" for index in range(50)])
    assert len(stream.getvalue().splitlines()) == 50
    assert stream.writes == 1


def test_a_request_whose_app_fails_before_answering_is_logged_with_status_0() -> None:
    stream = CountingStream()
    app = AccessLog(answer_by_path, stream)

    async def failing() -> None:
        with pytest.raises(RuntimeError, match="broken handler"):
            await call(app, http_scope("/fail"))
        await asyncio.sleep(0)

    asyncio.run(failing())
    (line,) = stream.getvalue().splitlines()
    assert LINE.match(line)["status"] == "0"


def test_lifespan_events_pass_through_unlogged() -> None:
    seen: list[str] = []

    async def lifespan_app(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    stream = CountingStream()
    asyncio.run(call(AccessLog(lifespan_app, stream), {"type": "lifespan"}))
    assert seen == ["lifespan"] and stream.getvalue() == ""
