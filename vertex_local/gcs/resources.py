"""Object resources as the JSON API writes them (https://cloud.google.com/storage/docs/json_api/v1/objects#resource).

Fields the client reads: size, checksums, generation and metageneration (int64, so strings), etag (the same value
the download's ETag header carries), times in RFC 3339 with milliseconds, mediaLink.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any
from urllib.parse import quote

from vertex_local.gcs.catalog import ObjectRecord


@functools.lru_cache(maxsize=4096)  # a listing renders each object's times (creation three times) once per page
def rfc3339(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}Z"


def now_rfc3339() -> str:
    """The current time as RFC 3339, for fields stamped when written (object contexts)."""
    return rfc3339(time.time_ns() // 1000)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def object_etag(record: ObjectRecord) -> str:
    """Cloud Storage's object ETags are base64 of generation (field 1) and metageneration (field 2) as protobuf
    varints, e.g. "CJ/F4b6v4OsCEAE=": it changes with every new generation and every metadata change."""
    return etag(record.generation, record.metageneration)


@functools.lru_cache(maxsize=4096)  # every download and metadata GET sends it: made once per generation
def etag(generation: int, metageneration: int) -> str:
    return base64.b64encode(b"\x08" + varint(generation) + b"\x10" + varint(metageneration)).decode()


def object_resource(record: ObjectRecord, base_url: str) -> dict[str, Any]:
    quoted = quote(record.name, safe="")
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{record.bucket}/{record.name}/{record.generation}",
        "selfLink": f"{base_url}storage/v1/b/{record.bucket}/o/{quoted}",
        "mediaLink": f"{base_url}download/storage/v1/b/{record.bucket}/o/{quoted}?generation={record.generation}"
        "&alt=media",
        "name": record.name,
        "bucket": record.bucket,
        "generation": str(record.generation),
        "metageneration": str(record.metageneration),
        "storageClass": record.meta.get("storageClass", "STANDARD"),
        "size": str(record.size),
        "crc32c": record.crc32c,
        "etag": object_etag(record),
        "timeCreated": rfc3339(record.created),
        "updated": rfc3339(record.updated),
        "timeStorageClassUpdated": rfc3339(record.meta.get("timeStorageClassUpdated", record.created)),
        "timeFinalized": rfc3339(record.created),
    }
    if record.md5 is not None:
        resource["md5Hash"] = record.md5
    if record.deleted is not None:
        resource["timeDeleted"] = rfc3339(record.deleted)
    for key, value in record.meta.items():
        if key not in ("storageClass", "timeStorageClassUpdated"):
            resource[key] = value
    return resource
