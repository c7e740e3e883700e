"""Object bytes on disk: scratch files while they arrive, then immutable content files under derived names.

<gcs_root>/.uploads/<id>      bytes still arriving (media, multipart, resumable sessions; <id>.json: a session)
<gcs_root>/.objects/ab/<id>   one generation's bytes, never modified; a catalog row points at it

A write fills a scratch file and moves it into .objects/ before the catalog transaction that makes it visible, so a
process crash (kill -9 included: written bytes are in the kernel's page cache) leaves either no row (the file is swept
at the next start) or a row with all its bytes. A full disk answers 503 and leaves neither a scratch file nor a
content file behind.

What an OS crash or power cut may lose: the bytes reach the disk by the Flusher below, a thread that fsyncs the
content files sealed in the last FLUSH_INTERVAL_S (and their directories) after their uploads were answered, not
before: an fsync took 7 ms here, more than a whole small upload. So the uploads answered since the Flusher's last
completed round may be lost; the catalog's own commits are not fsynced either (state.py: synchronous=NORMAL).
What survives is never a row without its bytes: the store keeps a marker file while it runs, and a start that finds
it (the last run did not close the store) drops every row whose content file is missing or not of the row's size
(gcs/store.py). That check relies on the filesystem never showing a file longer than the data that reached the disk
(ext4's default data=ordered, XFS, btrfs).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import google_crc32c

from vertex_local.errors import ApiError

READ_CHUNK = 1 << 20
FLUSH_INTERVAL_S = 0.2  # how long a sealed content file waits for its fsync at most, while the Flusher keeps up
SHARDS = [f"{index:02x}" for index in range(256)]  # .objects/ab/: the first two hex digits of a content name
FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_DISK_MESSAGE = "no space left on the disk holding vertex-local's state: free some space, then retry"


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """Disk failures as answers that name no server path: a full disk (file writes or SQLite) is a 503 the client
    retries once there is room, any other I/O error a 500 with the system's reason."""
    try:
        yield
    except OSError as exc:
        if exc.errno in FULL_DISK_ERRNOS:
            raise ApiError(503, FULL_DISK_MESSAGE) from None
        raise ApiError(500, f"vertex-local could not read or write its object store: {exc.strerror}") from None
    except sqlite3.OperationalError as exc:
        if "full" in str(exc):
            raise ApiError(503, FULL_DISK_MESSAGE) from None
        raise ApiError(500, f"vertex-local's object catalog failed: {exc}") from None


class Digests:
    """MD5 and CRC32C of bytes fed in order, base64-encoded as the JSON API writes md5Hash and crc32c."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = google_crc32c.Checksum()

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._crc.update(chunk)

    @property
    def md5(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()

    @property
    def crc32c(self) -> str:
        return base64.b64encode(self._crc.digest()).decode()

    @classmethod
    def of_file(cls, path: Path) -> Digests:
        digests = cls()
        with path.open("rb") as stream:
            while chunk := stream.read(READ_CHUNK):
                digests.update(chunk)
        return digests


class ContentFiles:
    """Scratch and content files under one root (one filesystem, so moving a scratch file in is atomic)."""

    def __init__(self, root: Path) -> None:
        self.scratch_dir = root / ".uploads"
        self.objects_dir = root / ".objects"
        self._objects = str(self.objects_dir)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        for shard in SHARDS:  # made once here, so sealing a file is one rename
            (self.objects_dir / shard).mkdir(parents=True, exist_ok=True)
        self.flusher = Flusher()

    def new_scratch(self, scratch_id: str | None = None) -> Path:
        path = self.scratch_dir / (scratch_id or secrets.token_hex(16))
        with disk_errors():
            path.touch(exist_ok=False)
        return path

    def path(self, content: str) -> Path:
        return Path(self.location(content))

    def location(self, content: str) -> str:
        """The content file's path as a string: what os.open takes, without pathlib's parsing."""
        return f"{self._objects}/{content[:2]}/{content}"

    def seal(self, scratch: Path) -> str:
        """Move a finished scratch file in as a content file (the Flusher fsyncs it soon); returns its name."""
        content = secrets.token_hex(16)
        target = self.path(content)
        try:
            with disk_errors():
                os.replace(scratch, target)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        self.flusher.add(target)
        return content

    def duplicate(self, content: str) -> str:
        """Another name for the same bytes (a hard link: content files never change), for copies."""
        duplicate = secrets.token_hex(16)
        target = self.path(duplicate)
        with disk_errors():
            os.link(self.path(content), target)
        self.flusher.add(target)  # the new name's directory entry
        return duplicate

    def remove(self, contents: Iterable[str]) -> None:
        for content in contents:
            self.path(content).unlink(missing_ok=True)

    def sweep(self, referenced: set[str], sessions: set[str]) -> list[str]:
        """At startup, before any request: delete content files no row points at and scratch files no resumable
        session owns (what a crash left between writing bytes and committing their row)."""
        removed = []
        for path in self.objects_dir.glob("*/*"):
            if path.name not in referenced:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        for path in self.scratch_dir.iterdir():
            if path.name.removesuffix(".json") not in sessions:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


class Flusher:
    """fsyncs sealed content files and their directories in a background thread, every FLUSH_INTERVAL_S, after
    their uploads were answered (see the module doc for what that means for an OS crash). `add` only appends to a
    list: waking a thread per upload would cost the upload more than the fsync saves on a busy machine.
    `after_round` runs after each round (the catalog's checkpoint, gcs/store.py)."""

    def __init__(self) -> None:
        self.after_round: Callable[[], None] = lambda: None
        self._pending: list[Path] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._last_error = ""
        self._thread = threading.Thread(target=self._run, name="gcs-flusher", daemon=True)
        self._thread.start()

    def add(self, path: Path) -> None:
        with self._lock:
            self._pending.append(path)

    def close(self) -> None:
        """Sync what is pending, then stop: after this every content file sealed so far is on the disk."""
        self._closing.set()
        self._thread.join()

    def flush(self) -> None:
        """One round: fsync every pending file, then each directory that got one (a file replaced or deleted since
        it was added is skipped: nothing points at it any more); then `after_round`. What a failing disk left
        unsynced stays pending for the next round."""
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            for path in batch:
                with contextlib.suppress(FileNotFoundError):
                    sync_path(path)
            for directory in {path.parent for path in batch}:
                sync_path(directory)
        except OSError:
            with self._lock:
                self._pending[:0] = batch
            raise
        self.after_round()

    def _run(self) -> None:
        while not self._closing.wait(FLUSH_INTERVAL_S):
            self._flush_logged()
        self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except (OSError, sqlite3.Error) as exc:  # a full or failing disk: the next round tries the files again
            if str(exc) != self._last_error:  # once per kind of failure, not every round
                logging.getLogger(__name__).warning("could not flush sealed object files to the disk: %s", exc)
            self._last_error = str(exc)
        else:
            self._last_error = ""


def sync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes the names in it durable)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
