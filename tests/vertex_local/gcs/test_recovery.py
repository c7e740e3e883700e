"""Crashes leave nothing behind in the object store: kill -9 under concurrent uploads, then a restart.

After each restart every listed object downloads whole with its checksums, there is exactly one content file per
stored generation (the startup sweep removed what a crash left between writing bytes and committing them), no
scratch file outlives its upload, and an open resumable session is still there. What a crash of the machine may
leave (a row whose bytes never reached the disk) is planted by hand: such rows are dropped at the next start.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_recovery.py -s
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import tiers
from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

CRASHES = 3
WRITERS = 6
UPLOADS_BEFORE_KILL = 40
OBJECT_BYTES = 200_000
DEADLINE_S = 60.0


@pytest.fixture
@tiers.live
def server(tmp_path: Path) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path / "state")
    yield running
    running.stop()


def keep_uploading(server: VertexLocal, writer: int, done: list[int], stop: threading.Event) -> None:
    """Overwrite and create objects until told to stop; a connection the kill breaks ends the loop."""
    client, data = HttpClient(server.url, timeout=10), os.urandom(OBJECT_BYTES)
    path = f"/upload/storage/v1/b/{server.bucket}/o?uploadType=media&name="
    try:
        for count in range(10_000):
            if stop.is_set():
                return
            name = f"crash/w{writer}/{count % 5}"  # overwrites too, so old content files must go as well
            if client.request("POST", path + name.replace("/", "%2F"), data).status == 200:
                done.append(1)
    except (OSError, http.client.HTTPException):  # the kill broke the connection
        return
    finally:
        client.close()


def check_store(server: VertexLocal, session: str) -> int:
    bucket = server.storage_client().bucket(server.bucket)
    names = [blob.name for blob in bucket.list_blobs(prefix="crash/")]
    for name in names:
        assert len(bucket.blob(name).download_as_bytes()) == OBJECT_BYTES  # checksums checked by the client
    gcs = server.state_dir / "gcs"
    contents = list((gcs / ".objects").glob("*/*"))
    live = sum(1 for _ in bucket.list_blobs())
    assert len(contents) == live, f"{len(contents)} content files for {live} objects"
    scratch = {path.name for path in (gcs / ".uploads").iterdir()}
    assert scratch == {session, f"{session}.json"}, scratch
    return len(names)


def test_kill_9_under_concurrent_uploads_leaves_whole_objects_and_no_stray_files(server: VertexLocal) -> None:
    session_url = server.storage_client().bucket(server.bucket).blob("open/session").create_resumable_upload_session()
    session = session_url.rsplit("upload_id=", 1)[1]
    first = requests.put(session_url, data=b"x" * 1000, headers={"content-range": "bytes 0-999/*"}, timeout=10)
    assert first.status_code == 308
    for crash in range(CRASHES):
        done: list[int] = []
        stop = threading.Event()
        writers = [threading.Thread(target=keep_uploading, args=(server, i, done, stop)) for i in range(WRITERS)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + DEADLINE_S
        while len(done) < UPLOADS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the writers' progress, with a deadline
        assert len(done) >= UPLOADS_BEFORE_KILL, "the writers made no progress"
        server.kill()  # mid-upload for some writers: the writers keep sending until their connection breaks
        stop.set()
        for writer in writers:
            writer.join()
        server.start()
        stored = check_store(server, session)
        print(f"crash {crash + 1}: killed after {len(done)} uploads, {stored} objects whole, no stray files")
    status = requests.put(session_url, headers={"content-range": "bytes */*"}, timeout=10)
    assert status.status_code == 308 and status.headers["range"] == "bytes=0-999"


def test_the_startup_sweep_removes_orphan_content_files_and_stray_scratch_files(server: VertexLocal) -> None:
    """What a crash between writing bytes and committing them leaves, planted by hand, is gone after a restart."""
    blob = server.storage_client().bucket(server.bucket).blob("kept")
    blob.upload_from_string(b"kept bytes")
    gcs = server.state_dir / "gcs"
    orphan = gcs / ".objects" / "ab" / ("ab" + "0" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"bytes of an upload whose commit never happened")
    stray = gcs / ".uploads" / ("f" * 32)
    stray.write_bytes(b"half a media upload")
    server.kill()
    server.start()
    assert not orphan.exists() and not stray.exists()
    assert server.storage_client().bucket(server.bucket).blob("kept").download_as_bytes() == b"kept bytes"


def content_file(server: VertexLocal, name: str) -> Path:
    """The content file of an object's live generation, from the catalog (gcs/catalog.py, gcs/content.py)."""
    gcs = server.state_dir / "gcs"
    with contextlib.closing(sqlite3.connect(gcs / ".catalog.sqlite3")) as catalog:
        (content,) = catalog.execute("SELECT content FROM objects WHERE name = ? AND live = 1", (name,)).fetchone()
    return gcs / ".objects" / content[:2] / content


def test_after_a_machine_crash_rows_whose_bytes_never_reached_the_disk_are_dropped(server: VertexLocal) -> None:
    """Content files are fsynced after the answer (gcs/content.py): what an OS crash leaves, a row whose file is
    missing or shorter than the row says, planted by hand after a kill -9, is never served after the restart."""
    bucket = server.storage_client().bucket(server.bucket)
    for name in ("whole", "short", "missing"):
        bucket.blob(f"machine-crash/{name}").upload_from_string(name.encode() * 1000)
    marker = server.state_dir / "gcs" / ".running"
    assert marker.exists()  # the store is open
    server.kill()
    content_file(server, "machine-crash/short").write_bytes(b"short")  # a file whose last pages never got written
    content_file(server, "machine-crash/missing").unlink()  # a rename that never reached the disk
    server.start()
    bucket = server.storage_client().bucket(server.bucket)
    assert [blob.name for blob in bucket.list_blobs(prefix="machine-crash/")] == ["machine-crash/whole"]
    assert not bucket.blob("machine-crash/short").exists()
    assert bucket.blob("machine-crash/whole").download_as_bytes() == b"whole" * 1000
    contents = list((server.state_dir / "gcs" / ".objects").glob("*/*"))
    assert len(contents) == 1, contents  # the short file went with its row
    assert "machine-crash/short#" in server.log_tail() and "were lost in a crash of the machine" in server.log_tail()
    assert server.stop() == 0
    assert not marker.exists()  # a clean stop: every file synced, nothing to check at the next start
