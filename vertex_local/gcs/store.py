"""The object store: the catalog (gcs/catalog.py) says what exists, content files (gcs/content.py) hold the bytes.

Every write puts its bytes in a content file first, then runs ONE catalog transaction that checks the bucket and
every precondition, assigns the generation and swaps the live row; the replaced content file is removed only after
that commit. So bytes, generation and checksums change together, concurrent create-only uploads have exactly one
winner, and a bucket delete either sees an object or the upload sees no bucket. Other surfaces use only
`read_object` and `copy_prefix` (gcs/__init__.py).

While the store is open a marker file (RUNNING) exists; `close` removes it once every content file is on the disk.
A start that finds it checks every row's content file (gcs/content.py says why) before serving anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from vertex_local.errors import ApiError
from vertex_local.gcs import buckets
from vertex_local.gcs.catalog import Catalog, ObjectRecord
from vertex_local.gcs.content import ContentFiles, disk_errors
from vertex_local.gcs.names import check_bucket_name, check_object_name, split_uri
from vertex_local.gcs.preconditions import Preconditions
from vertex_local.gcs.resources import rfc3339

T = TypeVar("T")
RUNNING = ".running"  # the marker file, in the store's root
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NewContent:
    """Bytes already in a content file, and what a write says about them."""

    content: str
    size: int
    md5: str | None
    crc32c: str
    meta: dict[str, Any]


class ObjectStore:
    """Buckets and objects under `root` (the state dir's gcs/ folder); blocking, so routes call it in threads."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.running = root / RUNNING
        self.catalog = Catalog(root / ".catalog.sqlite3")
        self.files = ContentFiles(root)
        self.files.flusher.after_round = self.catalog.checkpoint

    def close(self) -> None:
        """Every content file synced and the catalog checkpointed, then the marker goes: the next start is clean."""
        self.files.flusher.close()
        self.catalog.close_checkpointer()
        self.catalog.close()
        self.running.unlink(missing_ok=True)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run a short call on the catalog (point lookups, a page of a listing, a small file, a small upload's
        commit) on the event loop when no other thread holds the catalog: it takes less than the hop to a worker
        thread, and on a busy machine each hop waits for a core. When another thread holds it (a checkpoint, a
        large upload's commit), in a worker thread, which waits."""
        lock = self.catalog.locked()
        if not lock.acquire(blocking=False):
            return await run_in_threadpool(function, *args)
        try:
            return function(*args)
        finally:
            lock.release()

    def recover(self, sessions: set[str]) -> list[str]:
        """At startup: after a run that did not close the store, drop the rows whose bytes did not reach the disk
        (an OS crash); then remove what a crash left between writing bytes and committing them."""
        if self.running.exists():
            self._drop_rows_without_bytes()
        removed = self.files.sweep(self.catalog.contents(), sessions)
        with open(self.running, "wb") as marker:  # synced, so an OS crash cannot lose it while uploads go on
            os.fsync(marker.fileno())
        self.files.flusher.add(self.running)  # its directory entry, in the first round
        return removed

    def _drop_rows_without_bytes(self) -> None:
        with self.catalog.transaction():
            for bucket, name, generation, size, content in self.catalog.stored():
                try:
                    whole = self.files.path(content).stat().st_size == size
                except FileNotFoundError:
                    whole = False
                if not whole:
                    log.warning("gs://%s/%s#%d: its bytes were lost in a crash of the machine; dropped", bucket, name,
                                generation)  # fmt: skip
                    self.catalog.remove_generation(bucket, name, generation)

    # Buckets.
    def bucket(self, name: str) -> dict[str, Any]:
        found = self.catalog.bucket(check_bucket_name(name))
        if found is None:
            raise ApiError(404, f"bucket {name} not found")
        return found

    def get_bucket(self, name: str, checks: Preconditions) -> dict[str, Any]:
        bucket = self.bucket(name)
        buckets.check_preconditions(checks, bucket)
        return bucket

    def create_bucket(self, body: dict[str, Any], project: str) -> dict[str, Any]:
        with disk_errors(), self.catalog.transaction():
            bucket = buckets.new_bucket(body, project, self.catalog.next_generation())
            if self.catalog.bucket(bucket["name"]) is not None:
                raise ApiError(409, f"bucket {bucket['name']} already exists")
            self.catalog.put_bucket(bucket["name"], bucket)
        return bucket

    def ensure_bucket(self, name: str, location: str, project: str) -> bool:
        """Create the bucket unless it exists (whatever its settings); True when it was created."""
        with disk_errors(), self.catalog.transaction():
            if self.catalog.bucket(check_bucket_name(name)) is not None:
                return False
            self.create_bucket({"name": name, "location": location}, project)
        return True

    def change_bucket(self, name: str, body: dict, replace: bool, preconditions: Preconditions) -> dict[str, Any]:
        with disk_errors(), self.catalog.transaction():
            current = self.bucket(name)
            buckets.check_preconditions(preconditions, current)
            changed = buckets.changed_bucket(current, body, replace, self.catalog.next_generation())
            self.catalog.put_bucket(name, changed)
        return changed

    def delete_bucket(self, name: str, preconditions: Preconditions) -> None:
        with disk_errors(), self.catalog.transaction():
            buckets.check_preconditions(preconditions, self.bucket(name))
            if self.catalog.holds_objects(name):
                raise ApiError(409, f"bucket {name} is not empty: delete its objects (all generations) first")
            self.catalog.delete_bucket(name)

    # Objects.
    def find(self, bucket: str, name: str, generation: int | None = None) -> ObjectRecord:
        """The live object, or the generation asked for; 404 when there is none. The object's row is looked up
        first: a bucket holding an object exists (delete_bucket refuses one that holds any), so the bucket's own
        row is read only when no object was found, to say which of the two is missing, as before."""
        check_bucket_name(bucket)
        found = self.catalog.version(bucket, name, generation) if generation else self.catalog.live(bucket, name)
        if found is None and not self.catalog.has_bucket(bucket):
            raise ApiError(404, f"bucket {bucket} not found")
        check_object_name(name)
        if found is None:
            raise ApiError(404, f"object gs://{bucket}/{name}{f'#{generation}' if generation else ''} not found")
        return found

    def content_path(self, record: ObjectRecord) -> Path:
        return self.files.path(record.content)

    def describe(self, bucket: str, name: str, generation: int | None, checks: Preconditions) -> ObjectRecord:
        """The object's record once its preconditions hold (a metadata GET)."""
        record = self.find(bucket, name, generation)
        checks.check(record, f"gs://{bucket}/{name}")
        return record

    def open_record(self, bucket: str, name: str, generation: int | None, checks: Preconditions) -> tuple:
        """(record, open file) of an object, opened under the catalog lock: a writer that replaces it afterwards
        removes the file's name, never the bytes this reader is streaming. The caller closes the file."""
        with self.catalog.locked(), disk_errors():
            record = self.describe(bucket, name, generation, checks)
            return record, self.content_path(record).open("rb")

    @contextlib.contextmanager
    def open(self, bucket: str, name: str, generation: int | None, checks: Preconditions) -> Iterator[tuple]:
        record, stream = self.open_record(bucket, name, generation, checks)
        with stream:
            yield record, stream

    def write(self, bucket: str, name: str, new: NewContent, checks: Preconditions) -> ObjectRecord:
        """Make `new` the live generation of gs://bucket/name in one transaction; its content file is removed if the
        write is refused, the replaced generation's after the commit (unless a versioned bucket keeps it)."""
        check_object_name(name)
        try:
            with disk_errors(), self.catalog.transaction():
                bucket_doc = self.bucket(bucket)
                current = self.catalog.live(bucket, name)
                checks.check(current, f"gs://{bucket}/{name}")
                now = self.catalog.next_generation()
                meta = {"storageClass": bucket_doc["storageClass"]} | new.meta
                record = ObjectRecord(bucket, name, now, True, 1, new.size, new.md5, new.crc32c, new.content,
                                      now, now, None, meta)  # fmt: skip
                garbage = self._retire(bucket_doc, current, now)
                self.catalog.insert(record)
        except BaseException:
            self.files.remove([new.content])
            raise
        self._collect(garbage)
        return record

    def change(self, bucket: str, name: str, generation: int | None, checks: Preconditions, edit: Any) -> ObjectRecord:
        """A metadata change: `edit(record)` returns the new meta; metageneration goes up by one."""
        with disk_errors(), self.catalog.transaction():
            current = self.find(bucket, name, generation)
            checks.check(current, f"gs://{bucket}/{name}")
            now = self.catalog.next_generation()
            meta = edit(current, rfc3339(now))
            changed = dataclasses.replace(current, metageneration=current.metageneration + 1, updated=now, meta=meta)
            self.catalog.replace(changed)
        return changed

    def delete(self, bucket: str, name: str, generation: int | None, checks: Preconditions) -> None:
        """Delete the live object (kept as noncurrent in a versioned bucket), or, named by its generation, one
        generation for good (https://cloud.google.com/storage/docs/object-versioning)."""
        with disk_errors(), self.catalog.transaction():
            bucket_doc = self.bucket(bucket)
            current = self.find(bucket, name, generation)
            checks.check(current, f"gs://{bucket}/{name}")
            if generation:
                self.catalog.remove(current)
                garbage = [current]
            else:
                garbage = self._retire(bucket_doc, current, self.catalog.next_generation())
        self._collect(garbage)

    def _retire(self, bucket_doc: dict, current: ObjectRecord | None, now: int) -> list[ObjectRecord]:
        """The live generation stops being live: noncurrent in a versioned bucket, else gone (returned, so its
        content file is removed once the transaction commits)."""
        if current is None:
            return []
        if not bucket_doc["versioning"]["enabled"]:
            self.catalog.remove(current)
            return [current]
        self.catalog.replace(dataclasses.replace(current, live=False, deleted=now))
        return []

    def _collect(self, garbage: list[ObjectRecord]) -> None:
        self.files.remove([record.content for record in garbage])

    # What other surfaces use.
    def read_object(self, uri: str, limit: int) -> bytes:
        """The bytes of gs://BUCKET/NAME; ValueError when it is missing or over `limit` bytes."""
        bucket, name = split_uri(uri)
        try:
            with self.open(bucket, name, None, Preconditions()) as (record, stream):
                if record.size > limit:
                    raise ValueError(f"{uri} is {record.size} bytes, more than the {limit} this reader takes")
                return stream.read()
        except ApiError as exc:
            raise ValueError(f"{uri}: {exc.message}") from None

    def copy_prefix(self, uri: str, dest: Path) -> int:
        """Copy every object under gs://BUCKET/PREFIX/ into `dest` as files (how a model server takes a model
        directory); blocking. Returns how many; ValueError when the URI is bad, holds no object, or holds a name
        that is not a safe relative path."""
        bucket, prefix = split_uri(uri.rstrip("/") + "/")
        try:
            names = [name for name in self.names(bucket, prefix) if not name.endswith("/")]
            if not names:
                raise ValueError(f"{uri} holds no objects")
            for name in names:
                relative = name[len(prefix) :]
                if any(part in ("", ".", "..") for part in relative.split("/")):
                    raise ValueError(f"gs://{bucket}/{name} cannot be copied as a file: not a safe relative path")
                target = dest.joinpath(*relative.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.open(bucket, name, None, Preconditions()) as (_, stream), target.open("wb") as out:
                    shutil.copyfileobj(stream, out)
        except ApiError as exc:
            raise ValueError(f"{uri}: {exc.message}") from None
        return len(names)

    def names(self, bucket: str, prefix: str) -> list[str]:
        """Every live object name starting with `prefix`, sorted."""
        self.bucket(bucket)
        found, after = [], (prefix, -1)
        while batch := self.catalog.scan(bucket, prefix, after, versions=False, limit=1000):
            found.extend(record.name for record in batch)
            after = (batch[-1].name, batch[-1].generation)
        return found
