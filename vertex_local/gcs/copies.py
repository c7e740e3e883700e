"""Objects made from other objects: copy, rewrite, compose and move, each one store write (gcs/store.py).

Rules: https://cloud.google.com/storage/docs/json_api/v1/objects/copy, .../rewrite, .../compose, .../move.
Sources are checked with the ifSource* preconditions (compose: each source's objectPreconditions), the destination
with the if* ones. A copy shares the source's content file (a hard link: content files never change); a compose
writes the concatenation, which Cloud Storage gives a CRC32C and a componentCount but no MD5.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import IO, Any

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.content import Digests, disk_errors
from vertex_local.gcs.fields import NOT_IMPLEMENTED, TEXT_FIELDS, apply_fields, storage_class
from vertex_local.gcs.names import check_object_name
from vertex_local.gcs.preconditions import Preconditions
from vertex_local.gcs.resources import now_rfc3339
from vertex_local.gcs.store import NewContent, ObjectStore
from vertex_local.numbers import int64

MAX_COMPOSE_SOURCES = 32
MAX_COMPONENTS = 1024
MAX_OBJECT_BYTES = 5 << 40  # 5 TiB: https://cloud.google.com/storage/quotas#objects
COPY_CHUNK = 1 << 20
WRITABLE = (*TEXT_FIELDS, "metadata", "customTime", "contexts", *NOT_IMPLEMENTED)


@dataclasses.dataclass(frozen=True)
class Target:
    bucket: str
    name: str
    generation: int | None = None


def copy_object(store: ObjectStore, source: Target, dest: Target, body: dict[str, Any],
                source_checks: Preconditions, dest_checks: Preconditions) -> ObjectRecord:  # fmt: skip
    """objects.copy and objects.rewrite (done in one call): the destination takes the source's bytes and its
    metadata, changed by any writable field the body names; a storageClass in the body sets the new class."""
    check_object_name(dest.name)
    with store.catalog.locked():
        record = store.find(source.bucket, source.name, source.generation)
        source_checks.check(record, f"source gs://{source.bucket}/{source.name}")
        content = store.files.duplicate(record.content)
    meta = {k: v for k, v in record.meta.items() if k not in ("storageClass", "componentCount")}
    if any(key in body for key in WRITABLE):
        meta = apply_fields(meta, body, replace=False, now=now_rfc3339())
    if body.get("storageClass"):
        meta["storageClass"] = storage_class(body["storageClass"])
    if "componentCount" in record.meta:
        meta["componentCount"] = record.meta["componentCount"]
    new = NewContent(content, record.size, record.md5, record.crc32c, meta)
    return store.write(dest.bucket, dest.name, new, dest_checks)


def compose_sources(body: dict[str, Any], bucket: str) -> list[tuple[Target, Preconditions]]:
    sources = body.get("sourceObjects")
    if not isinstance(sources, list) or not 1 <= len(sources) <= MAX_COMPOSE_SOURCES:
        raise ApiError(400, f"compose takes 1 to {MAX_COMPOSE_SOURCES} sourceObjects")
    found = []
    for index, item in enumerate(sources):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ApiError(400, f"sourceObjects[{index}] needs a string 'name'")
        generation = item.get("generation")
        number = None if generation is None or isinstance(generation, bool) else int64(str(generation))
        if generation is not None and (number is None or number < 0):
            raise ApiError(400, f"sourceObjects[{index}].generation must be a 64-bit integer, got {generation!r}")
        checks = Preconditions.from_body(item.get("objectPreconditions"), f"sourceObjects[{index}]")
        found.append((Target(bucket, item["name"], number or None), checks))
    return found


def check_compose_limits(components: int, size: int) -> None:
    """Refuse before a byte is copied: the limits are known from the sources' records alone."""
    if components > MAX_COMPONENTS:
        raise ApiError(400, f"a composed object has at most {MAX_COMPONENTS} components, this one {components}")
    if size > MAX_OBJECT_BYTES:
        raise ApiError(400, f"a composed object has at most {MAX_OBJECT_BYTES} bytes, this one {size}")


def concatenate(store: ObjectStore, streams: list[IO[bytes]]) -> tuple[str, int, Digests]:
    """The streams' bytes, one after the other, as a sealed content file: (its name, its size, its digests)."""
    scratch = store.files.new_scratch()
    try:
        digests, size = Digests(), 0
        with disk_errors(), scratch.open("wb") as out:
            for stream in streams:
                while chunk := stream.read(COPY_CHUNK):
                    out.write(chunk)
                    digests.update(chunk)
                    size += len(chunk)
        return store.files.seal(scratch), size, digests
    finally:
        scratch.unlink(missing_ok=True)


def compose(store: ObjectStore, dest: Target, body: dict[str, Any], dest_checks: Preconditions) -> ObjectRecord:
    """objects.compose: the sources' bytes in order, in one bucket, as a new generation of `dest`."""
    destination = body.get("destination") or {}
    if not isinstance(destination, dict):
        raise ApiError(400, "compose's 'destination' must be an object resource")
    meta = apply_fields({}, destination, replace=True, now=now_rfc3339())
    sources = compose_sources(body, dest.bucket)
    with contextlib.ExitStack() as opened:
        found = [opened.enter_context(store.open(t.bucket, t.name, t.generation, checks)) for t, checks in sources]
        components = sum(record.meta.get("componentCount", 1) for record, _ in found)
        check_compose_limits(components, sum(record.size for record, _ in found))
        content, size, digests = concatenate(store, [stream for _, stream in found])
    new = NewContent(content, size, None, digests.crc32c, meta | {"componentCount": components})
    record = store.write(dest.bucket, dest.name, new, dest_checks)
    if body.get("deleteSourceObjects"):
        for target, _ in sources:
            if target.name != dest.name:
                store.delete(target.bucket, target.name, target.generation, Preconditions())
    return record


def move(store: ObjectStore, source: Target, dest: Target, source_checks: Preconditions,
         dest_checks: Preconditions) -> ObjectRecord:  # fmt: skip
    """objects.move within a bucket: the destination becomes live with the source's bytes and metadata, and the
    source is deleted, in one transaction (so no reader ever sees both, or neither)."""
    with store.catalog.transaction():
        record = store.find(source.bucket, source.name, None)
        source_checks.check(record, f"source gs://{source.bucket}/{source.name}")
        copied = copy_object(store, source, dest, {}, Preconditions(), dest_checks)
        store.delete(source.bucket, source.name, record.generation, Preconditions())
    return copied
