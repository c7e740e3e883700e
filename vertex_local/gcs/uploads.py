"""Object uploads as google-cloud-storage sends them: uploadType=media, multipart and resumable.

The client picks multipart for small files and resumable past 8 MiB or when blob.chunk_size is set:
POST opens a session (Location header), then PUTs carry chunks with Content-Range and get 308 with the
Range received so far, until the last one gets the object. Session bytes and settings live under
<gcs_root>/.uploads, so a session survives a restart. Part of `python -m vertex_local serve`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertex_local.errors import ApiError
from vertex_local.gcs.store import NewObject, ObjectInfo, ObjectStore
from vertex_local.http.bodies import MAX_JSON_BODY_BYTES, MAX_MULTIPART_BODY_BYTES, read_limited

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
CONTENT_RANGE = re.compile(r"bytes (?:(?P<start>\d+)-(?P<end>\d+)|\*)/(?P<total>\d+|\*)")
DEFAULT_CONTENT_TYPE = "application/octet-stream"

Render = Callable[[ObjectInfo, Request], dict]


class Uploads:
    """Upload handlers; `render` turns a stored object into the JSON API resource."""

    def __init__(self, store: ObjectStore, render: Render) -> None:
        self.store = store
        self.render = render
        self.sweep_orphans()

    def sweep_orphans(self) -> list[str]:
        """Delete scratch files no resumable session owns: what a crash left of media or multipart uploads."""
        if not self.store.uploads.is_dir():
            return []
        orphans = [
            path
            for path in self.store.uploads.iterdir()
            if path.suffix != ".json" and not self._session_file(path.name).is_file()
        ]
        for path in orphans:
            path.unlink(missing_ok=True)
        return [path.name for path in orphans]

    async def start(self, request: Request) -> Response:
        kind = request.query_params.get("uploadType")
        if kind == "media":
            return await self._media(request)
        if kind == "multipart":
            return await self._multipart(request)
        if kind == "resumable":
            return await self._open_session(request)
        raise ApiError(400, f"uploadType must be media, multipart or resumable, got {kind!r}")

    async def resume(self, request: Request) -> Response:
        """One chunk of a resumable upload (or a status query with an empty body)."""
        upload_id = request.query_params.get("upload_id", "")
        session = await run_in_threadpool(self._load_session, upload_id)
        start, end, total = parse_content_range(request.headers.get("content-range"))
        data = self.store.uploads / upload_id
        size = await append_chunk(request, data, start, end)
        if total is not None and size > total:
            raise ApiError(400, f"upload has {size} bytes, more than the {total} its Content-Range announced")
        if total is None or size < total:
            return Response(status_code=308, headers={"range": f"bytes=0-{size - 1}"} if size else {})
        new = dataclasses.replace(session, **parse_hash_header(request.headers.get("x-goog-hash")))
        try:
            info = await run_in_threadpool(self.store.commit, data, new)
        finally:
            self._session_file(upload_id).unlink(missing_ok=True)
        return JSONResponse(self.render(info, request))

    async def _media(self, request: Request) -> Response:
        content_type = request.headers.get("content-type") or DEFAULT_CONTENT_TYPE
        new = self._checked(new_object(request, {}, content_type))
        scratch = self.store.new_upload_file(secrets.token_hex(16))
        try:
            await append_chunk(request, scratch, 0, None)
        except BaseException:  # a dropped connection must not leave a scratch file behind
            scratch.unlink(missing_ok=True)
            raise
        return JSONResponse(self.render(await run_in_threadpool(self.store.commit, scratch, new), request))

    async def _multipart(self, request: Request) -> Response:
        metadata, part_type, data = split_multipart(
            await read_limited(request, MAX_MULTIPART_BODY_BYTES), request.headers.get("content-type", "")
        )
        new = self._checked(new_object(request, metadata, part_type or DEFAULT_CONTENT_TYPE))
        scratch = self.store.new_upload_file(secrets.token_hex(16))
        await run_in_threadpool(scratch.write_bytes, data)
        return JSONResponse(self.render(await run_in_threadpool(self.store.commit, scratch, new), request))

    async def _open_session(self, request: Request) -> Response:
        body = await read_limited(request, MAX_JSON_BODY_BYTES)
        try:
            metadata = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"resumable upload metadata is not valid JSON: {exc}") from None
        content_type = request.headers.get("x-upload-content-type") or DEFAULT_CONTENT_TYPE
        new = self._checked(new_object(request, metadata, content_type))
        upload_id = secrets.token_hex(16)
        self.store.new_upload_file(upload_id)
        self._session_file(upload_id).write_text(json.dumps(dataclasses.asdict(new)))
        bucket = quote(new.bucket, safe="")
        location = f"{request.base_url}upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
        return Response(status_code=200, headers={"location": location})

    def _checked(self, new: NewObject) -> NewObject:
        """Refuse a missing bucket or an unsafe name now, before any byte is stored."""
        self.store.object_path(new.bucket, new.name)
        return new

    def _session_file(self, upload_id: str) -> Path:
        return self.store.uploads / f"{upload_id}.json"

    def _load_session(self, upload_id: str) -> NewObject:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise ApiError(400, f"upload_id must be 32 hex digits, got {upload_id!r}")
        try:
            session = NewObject(**json.loads(self._session_file(upload_id).read_text()))
        except (OSError, ValueError, TypeError):
            session = None
        if session is None or not (self.store.uploads / upload_id).is_file():
            raise ApiError(404, f"upload session {upload_id} not found (finished, or never started)")
        return session


def new_object(request: Request, metadata: object, content_type: str) -> NewObject:
    """Check an upload's name, content type, metadata and precondition before any byte is stored."""
    if not isinstance(metadata, dict):
        raise ApiError(400, "object metadata must be a JSON object")
    bucket = request.path_params["bucket"]
    name = metadata.get("name") or request.query_params.get("name")
    if not isinstance(name, str):
        raise ApiError(400, "upload needs the object name: 'name' in the metadata or the ?name= parameter")
    custom = metadata.get("metadata") or {}
    if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
        raise ApiError(400, "'metadata' must be an object of string values")
    precondition = request.query_params.get("ifGenerationMatch")
    if precondition is not None and not precondition.isdigit():
        raise ApiError(400, f"ifGenerationMatch must be an integer, got {precondition!r}")
    request_type = metadata.get("contentType")
    new = NewObject(
        bucket,
        name,
        request_type if isinstance(request_type, str) and request_type else content_type,
        custom,
        None if precondition is None else int(precondition),
        metadata.get("md5Hash"),
        metadata.get("crc32c"),
    )
    return new


def parse_content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """(start, end, total) of `bytes S-E/T`; start and end are None for `bytes */T`, total for `/*`."""
    match = CONTENT_RANGE.fullmatch(header or "")
    if match is None:
        raise ApiError(400, f"Content-Range must look like 'bytes 0-99/100' or 'bytes */100', got {header!r}")
    start, end, total = (None if v is None or v == "*" else int(v) for v in match.group("start", "end", "total"))
    if start is not None and end is not None and end < start:
        raise ApiError(400, f"Content-Range {header!r} ends before it starts")
    return start, end, total


def parse_hash_header(header: str | None) -> dict[str, str]:
    """The checksums of x-goog-hash (`crc32c=...,md5=...`), keyed like NewObject's fields."""
    found = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key in ("md5", "crc32c") and value:
            found[key] = value
    return found


async def append_chunk(request: Request, path: Path, start: int | None, end: int | None) -> int:
    """Append the body to `path` from byte `start`, skipping bytes already held (a client's retry)."""
    have = path.stat().st_size
    if start is None:
        return have
    if start > have:
        raise ApiError(400, f"chunk starts at byte {start} but only {have} bytes were received so far")
    skip, received = have - start, 0
    with path.open("ab") as out:
        async for chunk in request.stream():
            received += len(chunk)
            dropped = min(skip, len(chunk))
            skip -= dropped
            out.write(chunk[dropped:])  # small writes to the page cache: fine on the event loop
    if end is not None and received != end - start + 1:
        with path.open("r+b") as out:
            out.truncate(have)
        raise ApiError(400, f"Content-Range announced {end - start + 1} bytes but the body has {received}")
    return path.stat().st_size


def split_multipart(body: bytes, content_type: str) -> tuple[object, str, bytes]:
    """(metadata JSON, media content type, media bytes) of a multipart/related upload body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or match is None:
        raise ApiError(
            400,
            f"multipart upload needs Content-Type multipart/related with a boundary, got {content_type!r}",
        )
    delimiter = b"--" + match.group(1).encode()
    first = body.find(delimiter)
    second = body.find(delimiter, first + len(delimiter))
    closing = body.rfind(delimiter + b"--")  # the media may contain anything, so find the end from the back
    if first != 0 or second == -1 or closing <= second:
        raise ApiError(400, "multipart upload body must hold a metadata part and a media part")
    _, meta_json = split_part(body[len(delimiter) : second])
    media_headers, media = split_part(body[second + len(delimiter) : closing])
    try:
        metadata = orjson.loads(meta_json)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"multipart metadata part is not valid JSON: {exc}") from None
    found = re.search(rb"(?im)^content-type:\s*(.+?)\s*$", media_headers)
    return metadata, found.group(1).decode() if found else "", media


def split_part(part: bytes) -> tuple[bytes, bytes]:
    headers, separator, content = part.partition(b"\r\n\r\n")
    if not separator:
        raise ApiError(400, "multipart part has no blank line between its headers and its content")
    return headers, content.removesuffix(b"\r\n")
