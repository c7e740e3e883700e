"""What vertex-local knows about buckets and objects, in SQLite: one row per bucket, one per object generation.

A row names the content file holding the generation's bytes (gcs/content.py); the bytes never move once written.
Every change is one transaction (BEGIN IMMEDIATE), so a precondition checked inside it still holds when the row is
written, and a crash leaves the previous rows. A partial unique index keeps one live generation per name whatever
the races; versioned buckets keep the others as noncurrent rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from vertex_local.state import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, name TEXT NOT NULL, generation INTEGER NOT NULL,
    live INTEGER NOT NULL, metageneration INTEGER NOT NULL, size INTEGER NOT NULL,
    md5 TEXT, crc32c TEXT NOT NULL, content TEXT NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL, deleted INTEGER, meta TEXT NOT NULL,
    PRIMARY KEY (bucket, name, generation)
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_generation ON objects (bucket, name) WHERE live = 1;
CREATE TABLE IF NOT EXISTS clock (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
"""
COLUMNS = "bucket, name, generation, live, metageneration, size, md5, crc32c, content, created, updated, deleted, meta"


@dataclasses.dataclass(frozen=True)
class ObjectRecord:
    """One generation of an object. Times are microseconds since the epoch, like generations."""

    bucket: str
    name: str
    generation: int
    live: bool
    metageneration: int
    size: int
    md5: str | None  # base64; None for composed objects, as Cloud Storage leaves them
    crc32c: str  # base64 of the big-endian CRC32C
    content: str  # the content file's name (gcs/content.py)
    created: int
    updated: int
    deleted: int | None  # when it became noncurrent
    meta: dict[str, Any]  # contentType, metadata, cacheControl, ... (gcs/fields.py)

    def row(self) -> tuple:
        # Not dataclasses.astuple: it deep-copies meta first.
        return (self.bucket, self.name, self.generation, self.live, self.metageneration, self.size, self.md5,
                self.crc32c, self.content, self.created, self.updated, self.deleted,
                json.dumps(self.meta, separators=(",", ":")))  # fmt: skip

    @classmethod
    def from_row(cls, row: tuple) -> ObjectRecord:
        *head, meta = row
        head[3] = bool(head[3])
        return cls(*head, orjson.loads(meta))  # a fifth of a small download's time with json.loads


class Catalog:
    """One SQLite file; safe to call from the event loop and from worker threads (one lock, short calls)."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)
        # opened now with its WAL, not at the first checkpoint: a server's open descriptors stay the same once it
        # answers (tests/vertex_local/http/test_connections.py counts them)
        uri = path.absolute().as_uri() + "?mode=rw"  # never creates a database where there is none
        self._checkpointer = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        # Checkpoints (the only fsyncs of a WAL database at synchronous=NORMAL) run in the content Flusher's thread,
        # on a connection of their own (checkpoint() below), not in whichever commit crosses SQLite's 1000 pages:
        # commits run on the event loop.
        self._db.connection.execute("PRAGMA wal_autocheckpoint=0")

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> contextlib.AbstractContextManager:
        """Everything inside lands together or not at all; nested use joins the outer transaction."""
        return self._db.transaction()

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file (PASSIVE: it never waits for readers or the writer, and
        what it could not copy the next one does), on its own connection: the catalog's lock is not held, so
        requests never wait for its fsyncs. Nothing to copy, nothing done. From one thread only (the Flusher's)."""
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close_checkpointer(self) -> None:
        self._checkpointer.close()

    def locked(self) -> threading.RLock:
        """Hold no writer out for a few reads that must agree with each other (`with catalog.locked(): ...`)."""
        return self._db.lock

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._db.query(sql, args)

    def _execute(self, sql: str, args: tuple = ()) -> int:
        return self._db.execute(sql, args)

    def next_generation(self) -> int:
        """A generation later than every one handed out before: the clock in microseconds, or one more."""
        with self.transaction() as db:
            row = db.execute("SELECT generation FROM clock WHERE id = 1").fetchone()
            generation = max(time.time_ns() // 1000, (row[0] + 1) if row else 0)
            db.execute("INSERT OR REPLACE INTO clock (id, generation) VALUES (1, ?)", (generation,))
        return generation

    # Buckets: a JSON body each (gcs/buckets.py decides what is in it).
    def bucket(self, name: str) -> dict[str, Any] | None:
        rows = self._query("SELECT body FROM buckets WHERE name = ?", (name,))
        return orjson.loads(rows[0][0]) if rows else None

    def has_bucket(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM buckets WHERE name = ?", (name,)))

    def buckets(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self._query("SELECT body FROM buckets ORDER BY name")]

    def put_bucket(self, name: str, body: dict[str, Any]) -> None:
        self._execute("INSERT OR REPLACE INTO buckets (name, body) VALUES (?, ?)", (name, json.dumps(body)))

    def delete_bucket(self, name: str) -> None:
        self._execute("DELETE FROM buckets WHERE name = ?", (name,))

    def holds_objects(self, bucket: str) -> bool:
        """Any generation at all, live or noncurrent: Cloud Storage refuses to delete such a bucket."""
        return bool(self._query("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (bucket,)))

    # Objects.
    def live(self, bucket: str, name: str) -> ObjectRecord | None:
        rows = self._query(f"SELECT {COLUMNS} FROM objects WHERE bucket = ? AND name = ? AND live = 1", (bucket, name))
        return ObjectRecord.from_row(rows[0]) if rows else None

    def version(self, bucket: str, name: str, generation: int) -> ObjectRecord | None:
        sql = f"SELECT {COLUMNS} FROM objects WHERE bucket = ? AND name = ? AND generation = ?"
        rows = self._query(sql, (bucket, name, generation))
        return ObjectRecord.from_row(rows[0]) if rows else None

    def insert(self, record: ObjectRecord) -> None:
        marks = ", ".join("?" * len(COLUMNS.split(",")))
        self._execute(f"INSERT INTO objects ({COLUMNS}) VALUES ({marks})", record.row())

    def replace(self, record: ObjectRecord) -> None:
        """Write a changed row of the same generation (metadata patches, becoming noncurrent)."""
        marks = ", ".join("?" * len(COLUMNS.split(",")))
        self._execute(f"INSERT OR REPLACE INTO objects ({COLUMNS}) VALUES ({marks})", record.row())

    def remove(self, record: ObjectRecord) -> None:
        self.remove_generation(record.bucket, record.name, record.generation)

    def remove_generation(self, bucket: str, name: str, generation: int) -> None:
        sql = "DELETE FROM objects WHERE bucket = ? AND name = ? AND generation = ?"
        self._execute(sql, (bucket, name, generation))

    def scan(self, bucket: str, prefix: str, after: tuple[str, int], versions: bool, limit: int) -> list[ObjectRecord]:
        """Up to `limit` records past (name, generation) `after` whose names start with `prefix`, in name order."""
        sql = (
            f"SELECT {COLUMNS} FROM objects WHERE bucket = ? AND (name, generation) > (?, ?)"
            " AND substr(name, 1, ?) = ?" + ("" if versions else " AND live = 1") + " ORDER BY name, generation LIMIT ?"
        )
        rows = self._query(sql, (bucket, *after, len(prefix), prefix, limit))
        return [ObjectRecord.from_row(row) for row in rows]

    def stored(self) -> list[tuple[str, str, int, int, str]]:
        """(bucket, name, generation, size, content) of every row: what a check of the content files needs."""
        return self._query("SELECT bucket, name, generation, size, content FROM objects")

    def contents(self) -> set[str]:
        """Every content file some row points at (what a sweep must keep)."""
        return {content for (content,) in self._query("SELECT content FROM objects")}
