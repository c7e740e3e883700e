"""Request bodies read over raw ASGI with a size bound, and JSON bodies parsed in Google's error shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from vertex_local.errors import ApiError

# Management requests and upload metadata are small JSON documents; a bound keeps one request from filling memory.
MAX_JSON_BODY_BYTES = 1 << 20
# The storage client sends files up to 8 MiB as one multipart request (larger ones go resumable, in chunks).
MAX_MULTIPART_BODY_BYTES = 32 << 20


class ClientGone(Exception):
    """The client closed the connection before its body arrived: there is no one to answer."""


async def read_body(scope: Scope, receive: Receive, limit: int, too_big: ApiError) -> bytes:
    """The whole body over raw ASGI, refused with `too_big` as soon as it is known to exceed `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_big
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_limited(request: Request, limit: int) -> bytes:
    """A Starlette route's body, refused with 413 past `limit` bytes."""
    too_big = ApiError(413, f"request body exceeds the limit of {limit} bytes")
    try:
        return await read_body(request.scope, request.receive, limit, too_big)
    except ClientGone:
        raise ClientDisconnect() from None


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 for anything else. An empty body reads as {}."""
    body = await read_limited(request, MAX_JSON_BODY_BYTES)
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(value).__name__}")
    return value
