"""Object uploads as google-cloud-storage sends them: uploadType=media, multipart and resumable.

The client picks multipart for small files and resumable past 8 MiB or when blob.chunk_size is set: POST opens a
session (Location header), then PUTs carry chunks with Content-Range and get 308 with the Range received so far,
until the last one gets the object; an empty PUT with `bytes */N` asks how far it got, or finishes an upload whose N
bytes are all in. gcsfs sends the same chunks with POST to the session URI, which Cloud Storage takes as a PUT; a
DELETE of the session URI cancels it and answers 499, after which the session is gone (404)
(https://cloud.google.com/storage/docs/performing-resumable-uploads#status-check, ...#cancel-upload).
Every kind streams its bytes to a scratch file (gcs/content.py); a session's
bytes and settings live under <gcs_root>/.uploads, so it survives a restart. Checksums a client sends (metadata
md5Hash/crc32c, or x-goog-hash) must match the bytes, else 400 and nothing is stored
(https://cloud.google.com/storage/docs/data-validation, .../docs/json_api/v1/objects/insert,
.../docs/performing-resumable-uploads).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.content import Digests, disk_errors
from vertex_local.gcs.fields import apply_fields, refuse_encryption_keys, refuse_unimplemented
from vertex_local.gcs.multipart import stream_multipart
from vertex_local.gcs.names import check_object_name
from vertex_local.gcs.preconditions import NAMES, Preconditions
from vertex_local.gcs.resources import now_rfc3339
from vertex_local.gcs.store import NewContent, ObjectStore
from vertex_local.http.bodies import read_json

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
CONTENT_RANGE = re.compile(r"bytes (?:(?P<start>\d+)-(?P<end>\d+)|\*)/(?P<total>\d+|\*)")
DEFAULT_CONTENT_TYPE = "application/octet-stream"

Render = Callable[[ObjectRecord, Request], dict]


@dataclasses.dataclass(frozen=True)
class Upload:
    """What an upload writes, checked before any byte is stored; a resumable session keeps it as JSON."""

    bucket: str
    name: str
    meta: dict[str, Any]
    preconditions: dict[str, str]  # the query's if* parameters, applied when the bytes are complete
    claims: tuple[tuple[str, str], ...] = ()  # (md5Hash | crc32c, base64 value) the client says the bytes have

    def claiming(self, header: str | None) -> Upload:
        """Add the checksums of an x-goog-hash header (`crc32c=...,md5=...`): every claim must hold."""
        found = [item.strip().partition("=")[::2] for item in (header or "").split(",") if "=" in item]
        labels = {"md5": "md5Hash", "crc32c": "crc32c"}
        return dataclasses.replace(self, claims=self.claims + tuple((labels[k], v) for k, v in found if k in labels))


def new_upload(request: Request, metadata: object, media_type: str) -> Upload:
    """Check an upload's name, metadata and preconditions before any byte is stored."""
    if not isinstance(metadata, dict):
        raise ApiError(400, "object metadata must be a JSON object")
    query = request.query_params
    for param in ("predefinedAcl", "kmsKeyName"):
        if query.get(param):
            raise ApiError(400, f"{param} is not implemented by vertex-local (ACLs and KMS keys are not enforced "
                                "locally, so they are refused)")  # fmt: skip
    refuse_unimplemented(metadata, "upload metadata")
    name = check_object_name(metadata.get("name") or query.get("name"))
    Preconditions.from_query(query)  # 400 now for a malformed one
    fields = {"contentType": media_type or DEFAULT_CONTENT_TYPE, "contentEncoding": query.get("contentEncoding")}
    meta = apply_fields({}, fields | metadata, replace=True, now=now_rfc3339())
    claims = tuple((key, str(metadata[key])) for key in ("md5Hash", "crc32c") if metadata.get(key))
    wanted = {"if" + key: query["if" + key] for key in NAMES if "if" + key in query}
    return Upload(request.path_params["bucket"], name, meta, wanted, claims)


class Uploads:
    """Upload handlers; `render` turns a stored object into the JSON API resource."""

    def __init__(self, store: ObjectStore, render: Render) -> None:
        self.store = store
        self.render = render
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one chunk at a time per session
        store.recover(self.sessions())

    def sessions(self) -> set[str]:
        return {path.stem for path in self.store.files.scratch_dir.glob("*.json")}

    async def start(self, request: Request) -> Response:
        if "upload_id" in request.query_params:
            return await self.resume(request)  # a chunk POSTed to the session URI (gcsfs)
        refuse_encryption_keys(request.headers)
        kind = request.query_params.get("uploadType")
        if kind == "media":
            content_type = request.headers.get("content-type") or DEFAULT_CONTENT_TYPE
            return await self._stream(request, lambda scratch: self._media(request, scratch, content_type))
        if kind == "multipart":
            return await self._stream(request, lambda scratch: self._multipart(request, scratch))
        if kind == "resumable":
            return await self._open_session(request)
        raise ApiError(400, f"uploadType must be media, multipart or resumable, got {kind!r}")

    async def _stream(self, request: Request, receive: Callable) -> Response:
        """Receive a whole upload into a scratch file, then commit it; the scratch file never outlives this."""
        scratch = self.store.files.new_scratch()
        try:
            upload, digests, size = await receive(scratch)
            record = await self.store.run(self._commit, scratch, upload, digests, size)  # a rename and a commit
        finally:
            scratch.unlink(missing_ok=True)  # moved in on success; a failure, a disconnect or a full disk leave none
        return JSONResponse(self.render(record, request))

    async def _media(self, request: Request, scratch: Path, content_type: str) -> tuple[Upload, Digests, int]:
        upload = new_upload(request, {}, content_type).claiming(request.headers.get("x-goog-hash"))
        await self.store.run(self.store.bucket, upload.bucket)  # 404 before the body is read
        digests, size = Digests(), 0
        with disk_errors(), scratch.open("ab") as out:
            async for chunk in request.stream():
                out.write(chunk)
                digests.update(chunk)
                size += len(chunk)
        return upload, digests, size

    async def _multipart(self, request: Request, scratch: Path) -> tuple[Upload, Digests, int]:
        with scratch.open("ab") as out:
            metadata, media_type, parts = await stream_multipart(request, out)
        upload = new_upload(request, metadata, media_type).claiming(request.headers.get("x-goog-hash"))
        return upload, parts.digests, parts.size

    def _commit(self, scratch: Path, upload: Upload, digests: Digests, size: int) -> ObjectRecord:
        """Check the claimed checksums, move the bytes in and make them the live generation; blocking."""
        for label, claimed in upload.claims:
            actual = digests.md5 if label == "md5Hash" else digests.crc32c
            if claimed != actual:
                raise ApiError(400, f"the {label} sent for gs://{upload.bucket}/{upload.name} ({claimed}) does not "
                                    f"match the {size} bytes received ({actual}); nothing was stored")  # fmt: skip
        content = self.store.files.seal(scratch)
        new = NewContent(content, size, digests.md5, digests.crc32c, upload.meta)
        return self.store.write(upload.bucket, upload.name, new, Preconditions.from_query(upload.preconditions))

    async def _open_session(self, request: Request) -> Response:
        metadata = await read_json(request)
        content_type = request.headers.get("x-upload-content-type") or DEFAULT_CONTENT_TYPE
        upload = new_upload(request, metadata, content_type)
        await self.store.run(self.store.bucket, upload.bucket)
        data = self.store.files.new_scratch()
        session, scratch = self._session_file(data.name), data.with_name(f"{data.name}.json.tmp")
        try:
            with disk_errors():  # written whole, then renamed: a crash never leaves half a session
                scratch.write_text(json.dumps(dataclasses.asdict(upload)))
                os.replace(scratch, session)
        except BaseException:
            for path in (data, scratch):
                path.unlink(missing_ok=True)
            raise
        upload_id = data.name
        bucket = quote(upload.bucket, safe="")
        location = f"{request.base_url}upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
        return Response(status_code=200, headers={"location": location})

    async def resume(self, request: Request) -> Response:
        """One chunk of a resumable upload (or a status query with an empty body)."""
        refuse_encryption_keys(request.headers)
        upload_id = request.query_params.get("upload_id", "")
        async with self.locks[upload_id]:
            return await self._resume(request, upload_id)

    async def _resume(self, request: Request, upload_id: str) -> Response:
        try:
            upload = await run_in_threadpool(self._load_session, upload_id)
        except ApiError:
            self.locks.pop(upload_id, None)  # no such session: keep no lock for it
            raise
        start, end, total = parse_content_range(request.headers.get("content-range"))
        data = self.store.files.scratch_dir / upload_id
        size = await append_chunk(request, data, start, end)
        if total is not None and size > total:
            raise ApiError(400, f"upload has {size} bytes, more than the {total} its Content-Range announced")
        if total is None or size < total:
            return Response(status_code=308, headers={"range": f"bytes=0-{size - 1}"} if size else {})
        upload = upload.claiming(request.headers.get("x-goog-hash"))
        digests = await run_in_threadpool(Digests.of_file, data)
        try:
            record = await run_in_threadpool(self._commit, data, upload, digests, size)
        finally:
            data.unlink(missing_ok=True)
            self._session_file(upload_id).unlink(missing_ok=True)
            self.locks.pop(upload_id, None)
        return JSONResponse(self.render(record, request))

    async def cancel(self, request: Request) -> Response:
        """DELETE of a session URI: its bytes and settings go, and Cloud Storage's answer is 499."""
        upload_id = request.query_params.get("upload_id", "")
        async with self.locks[upload_id]:
            try:
                await run_in_threadpool(self._load_session, upload_id)
            finally:
                self.locks.pop(upload_id, None)
            (self.store.files.scratch_dir / upload_id).unlink(missing_ok=True)
            self._session_file(upload_id).unlink(missing_ok=True)
        return Response(status_code=499)

    def _session_file(self, upload_id: str) -> Path:
        return self.store.files.scratch_dir / f"{upload_id}.json"

    def _load_session(self, upload_id: str) -> Upload:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise ApiError(400, f"upload_id must be 32 hex digits, got {upload_id!r}")
        try:
            saved = json.loads(self._session_file(upload_id).read_text())
            upload = Upload(**saved | {"claims": tuple(map(tuple, saved["claims"]))})
        except (OSError, ValueError, TypeError):
            upload = None
        if upload is None or not (self.store.files.scratch_dir / upload_id).is_file():
            raise ApiError(404, f"upload session {upload_id} not found (finished, or never started)")
        return upload


def parse_content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """(start, end, total) of `bytes S-E/T`; start and end are None for `bytes */T`, total for `/*`."""
    match = CONTENT_RANGE.fullmatch(header or "")
    if match is None:
        raise ApiError(400, f"Content-Range must look like 'bytes 0-99/100' or 'bytes */100', got {header!r}")
    start, end, total = (None if v is None or v == "*" else int(v) for v in match.group("start", "end", "total"))
    if start is not None and end is not None and end < start:
        raise ApiError(400, f"Content-Range {header!r} ends before it starts")
    return start, end, total


async def append_chunk(request: Request, path: Path, start: int | None, end: int | None) -> int:
    """Append the body to `path` from byte `start`, skipping bytes already held (a client's retry)."""
    have = path.stat().st_size
    if start is None:
        return have
    if start > have:
        raise ApiError(400, f"chunk starts at byte {start} but only {have} bytes were received so far")
    skip, received = have - start, 0
    try:
        with disk_errors(), path.open("ab") as out:
            async for chunk in request.stream():
                received += len(chunk)
                dropped = min(skip, len(chunk))
                skip -= dropped
                out.write(chunk[dropped:])  # small writes to the page cache: fine on the event loop
        if end is not None and received != end - start + 1:
            raise ApiError(400, f"Content-Range announced {end - start + 1} bytes but the body has {received}")
    except BaseException:
        with path.open("r+b") as out:  # a chunk counts whole or not at all
            out.truncate(have)
        raise
    return path.stat().st_size
