"""SQLite-backed state: every resource is one JSON document, written in a transaction.

Models (with all their versions), endpoints, operations and custom jobs are documents keyed by (kind, id).
A write replaces a whole document inside one transaction, so a crash mid-write leaves the previous
document, never a half-written one. WAL mode keeps readers and the writer out of each other's way.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS sequence (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

# Resource ids count up from here: long enough to look like Vertex's numeric ids, short enough to read.
FIRST_ID = 1000


class StateStore:
    """One SQLite file of JSON documents; safe to call from the event loop and from worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes: all of them land, or none do."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def next_id(self) -> str:
        """A new numeric id, unique across every kind of resource."""
        with self.transaction():
            row = self._db.execute("SELECT value FROM sequence WHERE name = 'ids'").fetchone()
            value = row[0] + 1 if row else FIRST_ID
            self._db.execute("INSERT OR REPLACE INTO sequence (name, value) VALUES ('ids', ?)", (value,))
        return str(value)

    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM documents WHERE kind = ? AND id = ?", (kind, doc_id)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, doc_id: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"))
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO documents (kind, id, body) VALUES (?, ?, ?)", (kind, doc_id, text))

    def delete(self, kind: str, doc_id: str) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM documents WHERE kind = ? AND id = ?", (kind, doc_id))

    def list(self, kind: str) -> list[dict[str, Any]]:
        """Every document of one kind, oldest id first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM documents WHERE kind = ? ORDER BY CAST(id AS INTEGER)", (kind,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]
