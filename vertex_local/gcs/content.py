"""Object bytes on disk: scratch files while they arrive, then immutable content files under derived names.

<gcs_root>/.uploads/<id>      bytes still arriving (media, multipart, resumable sessions; <id>.json: a session)
<gcs_root>/.objects/ab/<id>   one generation's bytes, never modified; a catalog row points at it

A write fills a scratch file, fsyncs it and moves it into .objects/ before the catalog transaction that makes it
visible, so a crash leaves either no row (the file is swept at the next start) or a row with all its bytes. A full
disk answers 503 and leaves neither a scratch file nor a content file behind.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import google_crc32c

from vertex_local.errors import ApiError

READ_CHUNK = 1 << 20
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
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        self.objects_dir.mkdir(parents=True, exist_ok=True)

    def new_scratch(self, scratch_id: str | None = None) -> Path:
        path = self.scratch_dir / (scratch_id or secrets.token_hex(16))
        with disk_errors():
            path.touch(exist_ok=False)
        return path

    def path(self, content: str) -> Path:
        return self.objects_dir / content[:2] / content

    def seal(self, scratch: Path) -> str:
        """fsync a finished scratch file and move it in as a content file; returns the content file's name."""
        content = secrets.token_hex(16)
        target = self.path(content)
        try:
            with disk_errors():
                with scratch.open("rb+") as stream:
                    os.fsync(stream.fileno())
                target.parent.mkdir(exist_ok=True)
                os.replace(scratch, target)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        return content

    def duplicate(self, content: str) -> str:
        """Another name for the same bytes (a hard link: content files never change), for copies."""
        duplicate = secrets.token_hex(16)
        target = self.path(duplicate)
        with disk_errors():
            target.parent.mkdir(exist_ok=True)
            os.link(self.path(content), target)
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
