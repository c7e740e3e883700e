"""SQLite-backed state: every resource is one JSON document, written in a transaction.

Models (with all their versions), endpoints, operations and custom jobs are documents keyed by (kind, id).
A write replaces a whole document inside one transaction, so a crash mid-write leaves the previous
document, never a half-written one. WAL mode keeps readers and the writer out of each other's way.
"""

from __future__ import annotations

import contextlib
import json
import os
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

# Files 0600, directories 0700: in token mode other users of the machine may reach the server, never its disk.
PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700


def make_private(state_dir: Path) -> None:
    """From now on everything this process (and the jobs it starts) creates is its user's alone: the SQLite files,
    object contents, job logs and workspaces. The state dir itself is closed too, so what an older version left
    readable in it cannot be reached either."""
    os.umask(PRIVATE_UMASK)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(PRIVATE_DIR_MODE)


# Resource ids count up from here: long enough to look like Vertex's numeric ids, short enough to read.
FIRST_ID = 1000


class Database:
    """One SQLite file in WAL mode behind one lock: safe to call from the event loop and from worker threads.

    WAL keeps readers and the writer out of each other's way; synchronous=NORMAL may lose the last commits to a
    power cut, never corrupt the file. Transactions nest: an inner one joins the outer one.
    """

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(schema)

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside lands together or not at all."""
        with self.lock:
            if self.connection.in_transaction:
                yield self.connection
                return
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                self.connection.execute("COMMIT")
            except BaseException:
                if self.connection.in_transaction:  # a failed COMMIT (a full disk) may leave it open
                    self.connection.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.connection.execute(sql, args).fetchall()

    def execute(self, sql: str, args: tuple = ()) -> int:
        """One write in its own transaction (or the caller's); returns the rows it changed."""
        with self.transaction() as connection:
            return connection.execute(sql, args).rowcount


class StateStore:
    """Resource documents by (kind, id) in one Database."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> contextlib.AbstractContextManager:
        """Group several writes: all of them land, or none do."""
        return self._db.transaction()

    def next_id(self) -> str:
        """A new numeric id, unique across every kind of resource."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM sequence WHERE name = 'ids'").fetchone()
            value = row[0] + 1 if row else FIRST_ID
            db.execute("INSERT OR REPLACE INTO sequence (name, value) VALUES ('ids', ?)", (value,))
        return str(value)

    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        rows = self._db.query("SELECT body FROM documents WHERE kind = ? AND id = ?", (kind, doc_id))
        return json.loads(rows[0][0]) if rows else None

    def put(self, kind: str, doc_id: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"))
        self._db.execute("INSERT OR REPLACE INTO documents (kind, id, body) VALUES (?, ?, ?)", (kind, doc_id, text))

    def delete(self, kind: str, doc_id: str) -> None:
        self._db.execute("DELETE FROM documents WHERE kind = ? AND id = ?", (kind, doc_id))

    def list(self, kind: str) -> list[dict[str, Any]]:
        """Every document of one kind, oldest id first."""
        rows = self._db.query("SELECT body FROM documents WHERE kind = ? ORDER BY CAST(id AS INTEGER)", (kind,))
        return [json.loads(row[0]) for row in rows]
