"""Object media: the bytes of one generation, a Range of them, or gzip-stored bytes decompressed on the way out.

Headers as the JSON API's media download sends them (the client reads them instead of asking for the metadata):
ETag (the metadata etag, unquoted), X-Goog-Generation/-Metageneration, X-Goog-Hash of the stored bytes,
X-Goog-Stored-Content-Length/-Encoding; Content-Type as stored (Starlette's media_type would add a charset). A
gzip-encoded object goes out as stored to a client that accepts gzip, else decompressed and whole, ignoring Range
(https://cloud.google.com/storage/docs/transcoding), a bounded piece at a time. An object of at most SMALL_BYTES
is read whole by the call that finds it (ObjectStore.run: on the event loop unless another thread holds the catalog),
so a small download hops to no worker thread (on a busy machine each hop waits for a core). A larger one is mapped
(mmap, read-only: content files never change) and its bytes handed to the transport as one view of the mapping, so
they are copied once, from the page cache into the socket, by the event loop's own writes: no read into Python
bytes, no thread hop per chunk (a 64 MiB download took 16 of each). The kernel is asked to read the file ahead
(MADV_WILLNEED), so a file no longer in the page cache is read while the first bytes go out.
Every answer carries http/inert.py's headers: stored HTML never scripts the API.
"""

from __future__ import annotations

import mmap
import os
import re
import zlib
from collections.abc import AsyncIterator, Mapping

from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response, StreamingResponse

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.content import disk_errors
from vertex_local.gcs.fields import HEADER_CHARS
from vertex_local.gcs.preconditions import Preconditions, check_etag, parse_int
from vertex_local.gcs.resources import object_etag
from vertex_local.gcs.store import ObjectStore
from vertex_local.http.inert import INERT_HEADERS, content_disposition

CHUNK = 1 << 20  # bytes inflated at a time, and stored gzip bytes fed to the inflater at a time
SMALL_BYTES = 256 << 10  # objects read whole with their record; larger ones are mapped
GZIP_WINDOW = 16 + zlib.MAX_WBITS
HEADER_VALUE = re.compile(HEADER_CHARS.pattern + "*")  # fields.py's header_value, for a whole value at once


def media_headers(record: ObjectRecord) -> dict[str, str]:
    hashes = f"crc32c={record.crc32c}" + (f",md5={record.md5}" if record.md5 else "")
    headers = {
        "etag": object_etag(record),
        "x-goog-generation": str(record.generation),
        "x-goog-metageneration": str(record.metageneration),
        "x-goog-hash": hashes,
        "x-goog-stored-content-length": str(record.size),
        "x-goog-stored-content-encoding": record.meta.get("contentEncoding", "identity"),
        "x-goog-storage-class": record.meta.get("storageClass", "STANDARD"),
        "accept-ranges": "bytes",
    }
    for field, header in (("cacheControl", "cache-control"), ("contentLanguage", "content-language")):
        if field in record.meta:
            headers[header] = record.meta[field]
    headers["content-type"] = record.meta.get("contentType", "application/octet-stream")
    disposition = content_disposition(headers["content-type"], record.meta.get("contentDisposition"))
    if disposition is not None:
        headers["content-disposition"] = disposition
    return {name: value for name, value in headers.items() if sendable(value)} | INERT_HEADERS


class StoredHeaders:
    """media_headers() encoded as uvicorn sends them, made once per generation and metageneration: content file
    names are never reused (a new generation, copy or compose gets its own), and every metadata change raises the
    metageneration. Bounded: emptied when full."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._encoded: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}

    def of(self, record: ObjectRecord) -> list[tuple[bytes, bytes]]:
        key = (record.content, record.metageneration)
        encoded = self._encoded.get(key)
        if encoded is None:
            if len(self._encoded) >= self.size:
                self._encoded.clear()
            encoded = [
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in media_headers(record).items()
            ]
            self._encoded[key] = encoded
        return encoded


STORED_HEADERS = StoredHeaders()


class EncodedResponse(Response):
    """A Response whose headers come already encoded (Response would encode each one again per answer)."""

    def __init__(self, body: bytes | memoryview, status_code: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code, self.body, self.raw_headers, self.background = status_code, body, raw_headers, None


def sendable(value: str) -> bool:
    """Whether a header can carry the value (objects stored before fields.py refused CR, LF and non-Latin-1)."""
    return isinstance(value, str) and HEADER_VALUE.fullmatch(value) is not None


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single-range Range header, parsed by Starlette's own parser."""
    if header is None:
        return None
    try:
        ranges = FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader as exc:
        raise ApiError(400, f"invalid Range header {header!r}: {exc.content}") from None
    except RangeNotSatisfiable:
        raise ApiError(416, f"Range {header!r} starts past the object's {size} bytes") from None
    if len(ranges) != 1:
        raise ApiError(400, f"Range {header!r}: one byte range per request")
    return ranges[0]


def open_media(store: ObjectStore, bucket: str, name: str, generation: int | None, checks: Preconditions) -> tuple:
    """(record, its bytes): read whole for a small object, else a view of the mapped file; blocking. Under the
    catalog lock, as ObjectStore.open_record: a writer replacing the object afterwards removes the file's name,
    never the bytes this reader holds."""
    with store.catalog.locked(), disk_errors():
        record = store.describe(bucket, name, generation, checks)
        path = store.files.location(record.content)
        if record.size > SMALL_BYTES:
            return record, mapped(path)
        return record, read_whole(path, record.size)


def read_whole(path: str, size: int) -> bytes:
    """A small file's bytes without a buffered file object: one read, as a regular file's read comes back short
    only at its end; a second read only when the first did not return the record's size."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = [os.read(descriptor, size + 1)]
        if len(parts[0]) == size:
            return parts[0]
        while parts[-1]:
            parts.append(os.read(descriptor, size + 1))
        return b"".join(parts)
    finally:
        os.close(descriptor)


def mapped(path: str) -> memoryview:
    """The file's bytes, mapped read-only. The mapping (and the descriptor mmap keeps) is released with the last
    view of it: once the transport has sent them."""
    with open(path, "rb") as stream:
        mapping = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    mapping.madvise(mmap.MADV_WILLNEED)  # read ahead now, in the kernel, without waiting for it
    return memoryview(mapping)


async def pieces(data: bytes | memoryview) -> AsyncIterator[bytes | memoryview]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


async def gunzipped(stored: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stored bytes inflated at most CHUNK bytes at a time: a small object may inflate to gigabytes (a gzip
    bomb), and each piece is sent before the next is made, so memory stays flat whatever the ratio."""
    inflate = zlib.decompressobj(GZIP_WINDOW)
    async for chunk in stored:
        while True:
            piece = inflate.decompress(chunk, CHUNK)
            if piece:
                yield piece
            chunk = inflate.unconsumed_tail
            if not chunk and len(piece) < CHUNK:
                break
    yield inflate.flush()


async def media(
    store: ObjectStore, query: Mapping[str, str], sent: Mapping[str, str], bucket: str, name: str
) -> Response:
    """The answer to a media download, from the request's query parameters and headers."""
    generation, checks = parse_int(query, "generation"), Preconditions.from_query(query)
    record, data = await store.run(open_media, store, bucket, name, generation, checks)
    check_etag(sent, object_etag(record))
    gzipped = record.meta.get("contentEncoding") == "gzip"
    if gzipped and "gzip" not in sent.get("accept-encoding", ""):
        return StreamingResponse(gunzipped(pieces(data)), headers=media_headers(record))
    span = byte_range(sent.get("range"), record.size)
    start, end = span or (0, record.size)
    headers = [*STORED_HEADERS.of(record), (b"content-length", str(end - start).encode())]
    if gzipped:
        headers.append((b"content-encoding", b"gzip"))
    if span:
        headers.append((b"content-range", f"bytes {start}-{end - 1}/{record.size}".encode()))
    # One body message however large: the transport sends a mapped file's view as the socket takes it.
    return EncodedResponse(data[start:end] if span else data, 206 if span else 200, headers)
