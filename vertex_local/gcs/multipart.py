"""A multipart/related upload body (metadata part, then media part) streamed to a scratch file.

The media part goes to disk as it arrives, so memory per upload stays at one network chunk however many uploads
run at once; only the metadata part (JSON, at most MAX_JSON_BODY_BYTES) is held. A whole body is at most
MAX_MULTIPART_BODY_BYTES (413 past it: the client sends larger files as resumable uploads). The parsing is
python-multipart's (the parser Starlette's forms use), which works for any multipart/* body.
"""

from __future__ import annotations

import re
from typing import IO

import orjson
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser
from starlette.requests import Request

from vertex_local.errors import ApiError
from vertex_local.gcs.content import Digests, disk_errors
from vertex_local.http.bodies import MAX_JSON_BODY_BYTES, MAX_MULTIPART_BODY_BYTES, read_limited
from vertex_local.numbers import is_ascii_digits

BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


class RelatedParts:
    """Callbacks for MultipartParser: part 1 is kept (bounded), part 2 is written to `media` with its digests."""

    def __init__(self, media: IO[bytes]) -> None:
        self.media, self.digests = media, Digests()
        self.parts, self.size = 0, 0
        self.metadata, self.media_type = bytearray(), ""
        self._header, self._value = bytearray(), bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_header_field": lambda data, start, end: self._header.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
        }

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > 2:
            raise ApiError(400, "a multipart upload has exactly two parts: the metadata, then the media")

    def _header_end(self) -> None:
        if self.parts == 2 and self._header.decode("latin-1").lower() == "content-type":
            self.media_type = self._value.decode("latin-1").strip()
        self._header.clear()
        self._value.clear()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.parts == 1:
            self.metadata.extend(chunk)
            if len(self.metadata) > MAX_JSON_BODY_BYTES:
                raise ApiError(413, f"the metadata part exceeds {MAX_JSON_BODY_BYTES} bytes")
            return
        with disk_errors():
            self.media.write(chunk)  # a page-cache write of one network chunk: fine on the event loop
        self.digests.update(chunk)
        self.size += len(chunk)


async def stream_multipart(request: Request, media: IO[bytes]) -> tuple[object, str, RelatedParts]:
    """Parse the request body, writing the media part into `media`; returns (metadata, media type, parts)."""
    too_big = ApiError(413, f"request body exceeds the limit of {MAX_MULTIPART_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > MAX_MULTIPART_BODY_BYTES:
        raise too_big
    content_type = request.headers.get("content-type", "")
    match = BOUNDARY.search(content_type)
    if not content_type.startswith("multipart/related") or match is None:
        await read_limited(request, MAX_MULTIPART_BODY_BYTES)  # an oversized body is still a 413 first
        raise ApiError(400, f"a multipart upload needs Content-Type multipart/related with a boundary, "
                            f"got {content_type!r}")  # fmt: skip
    parts, received = RelatedParts(media), 0
    parser = MultipartParser(match.group(1), parts.callbacks())
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_MULTIPART_BODY_BYTES:
                raise too_big
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, f"the multipart upload body is malformed: {exc}") from None
    if parts.parts != 2:
        raise ApiError(400, "a multipart upload has exactly two parts: the metadata, then the media")
    try:
        metadata = orjson.loads(bytes(parts.metadata)) if parts.metadata.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the multipart metadata part is not valid JSON: {exc}") from None
    return metadata, parts.media_type, parts
