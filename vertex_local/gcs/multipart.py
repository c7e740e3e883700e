"""A multipart/related upload body (metadata part, then media part) streamed to a scratch file.

The media part goes to disk as it arrives, so memory per upload stays at one network chunk however many uploads
run at once; only the metadata part (JSON, at most MAX_JSON_BODY_BYTES) is held. A whole body is at most
MAX_MULTIPART_BODY_BYTES (413 past it: the client sends larger files as resumable uploads). The parsing is
python-multipart's (the parser Starlette's forms use), which works for any multipart/* body. That parser wants CRLF
line breaks, as RFC 2046 does; gcsfs frames its uploads with bare LF, which Cloud Storage accepts, so a body whose
first line ends in a bare LF has its framing (not its media) rewritten to CRLF on the way in (LfFraming).
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


class LfFraming:
    """Feeds `parser` a body framed with bare LF line breaks as if it were framed with CRLF.

    The boundary line and header lines get CRLF; in a part's data only the LF of an LF + delimiter becomes CRLF, so
    the media's own bytes (a CR before that LF included) reach the parser unchanged. Data is scanned with find(),
    holding back only a possible split delimiter between network chunks.
    """

    def __init__(self, boundary: bytes, parser: MultipartParser) -> None:
        self.parser, self.delimiter = parser, b"\n--" + boundary
        self.state, self.line_empty, self.held = "line", True, b""

    def write(self, chunk: bytes) -> None:
        data, self.held = self.held + chunk, b""
        while data:
            data = self._data(data) if self.state == "data" else self._line(data)

    def finalize(self) -> None:
        if self.held:
            self.parser.write(self.held)
        self.parser.finalize()

    def _data(self, data: bytes) -> bytes:
        found = data.find(self.delimiter)
        if found < 0:
            keep = len(self.delimiter) - 1
            self.parser.write(data[:-keep] if len(data) > keep else b"")
            self.held = data[-keep:] if len(data) > keep else data
            return b""
        self.parser.write(data[:found] + b"\r" + self.delimiter)
        self.state = "line"  # the rest of the delimiter line: "--" after the last part, or nothing
        return data[found + len(self.delimiter) :]

    def _line(self, data: bytes) -> bytes:
        """The boundary line ("line") or a header line ("headers"); an empty header line starts the data."""
        end = data.find(b"\n")
        if end < 0:
            self.parser.write(data)
            self.line_empty = self.line_empty and not data
            return b""
        ends_headers = self.state == "headers" and self.line_empty and end == 0
        self.parser.write(data[:end] + b"\r\n")
        self.state, self.line_empty = ("data" if ends_headers else "headers"), True
        return data[end + 1 :]


async def first_line(chunks, limit: int) -> tuple[bytes, bool]:
    """Bytes read until the first LF (at most `limit`), and whether that LF came without a CR before it."""
    head = b""
    async for chunk in chunks:
        head += chunk
        end = head.find(b"\n")
        if end >= 0 or len(head) > limit:
            return head, end > 0 and head[end - 1 : end] != b"\r"
    return head, False


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
    too_big = f"request body exceeds the limit of {MAX_MULTIPART_BODY_BYTES} bytes"  # the error made if needed
    declared = request.headers.get("content-length", "")
    if is_ascii_digits(declared) and int(declared) > MAX_MULTIPART_BODY_BYTES:
        raise ApiError(413, too_big)
    content_type = request.headers.get("content-type", "")
    match = BOUNDARY.search(content_type)
    if not content_type.startswith("multipart/related") or match is None:
        await read_limited(request, MAX_MULTIPART_BODY_BYTES)  # an oversized body is still a 413 first
        raise ApiError(400, f"a multipart upload needs Content-Type multipart/related with a boundary, "
                            f"got {content_type!r}")  # fmt: skip
    parts, boundary = RelatedParts(media), match.group(1).encode("latin-1")
    chunks = request.stream()
    head, bare_lf = await first_line(chunks, len(boundary) + 80)  # "--boundary" and its line break
    parser = MultipartParser(boundary, parts.callbacks())
    framing = LfFraming(boundary, parser) if bare_lf else parser
    received = len(head)
    try:
        framing.write(head)
        async for chunk in chunks:
            received += len(chunk)
            if received > MAX_MULTIPART_BODY_BYTES:
                raise ApiError(413, too_big)
            framing.write(chunk)
        framing.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, f"the multipart upload body is malformed: {exc}") from None
    if parts.parts != 2:
        raise ApiError(400, "a multipart upload has exactly two parts: the metadata, then the media")
    try:
        metadata = orjson.loads(bytes(parts.metadata)) if parts.metadata.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the multipart metadata part is not valid JSON: {exc}") from None
    return metadata, parts.media_type, parts
