"""Concurrent writers against one real vertex-local, many rounds each (issue 10, items 6, 7 and 8).

Every client is its own keep-alive HTTP connection in its own thread; a barrier releases a round's requests
together. Figures per run are printed (pytest -s shows them); the README quotes them.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_races.py -s
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import google_crc32c
import pytest

from tests.support import tiers
from tests.support.rest_client import Answer, HttpClient, google_error_problems
from tests.support.vertex_local_server import VertexLocal, start_vertex_local

CREATE_ONLY_ROUNDS, CREATE_ONLY_WRITERS = 150, 12
OVERWRITE_ROUNDS, OVERWRITERS, OVERWRITE_BYTES = 60, 8, 256 * 1024
DELETE_ROUNDS, DELETE_UPLOADERS = 150, 6


@pytest.fixture(scope="module")
@tiers.live
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    running = start_vertex_local(tmp_path_factory.mktemp("races") / "state")
    yield running
    running.stop()


def race(server: VertexLocal, count: int, rounds: int, request: Callable[[HttpClient, int, int], Answer],
         between: Callable[[int, list[Answer]], None]) -> None:  # fmt: skip
    """`count` clients send `request(client, round, index)` together, `rounds` times; `between(round, answers)` checks
    each round's answers (in client order) and the server's state before the next round starts."""
    clients = [HttpClient(server.url) for _ in range(count)]
    barrier = threading.Barrier(count, timeout=60)
    answers: list[list[tuple[int, Answer]]] = [[] for _ in range(rounds)]

    def client_rounds(index: int) -> None:
        for round_ in range(rounds):
            barrier.wait()
            answer = request(clients[index], round_, index)
            answers[round_].append((index, answer))  # list.append is atomic
            if barrier.wait() == 0:  # one thread checks the finished round while the others wait
                try:
                    between(round_, [answer for _, answer in sorted(answers[round_], key=lambda pair: pair[0])])
                except BaseException:
                    barrier.abort()  # the others stop at their next wait
                    raise
            barrier.wait()

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(client_rounds, i) for i in range(count)]
    for client in clients:
        client.close()
    errors = [future.exception() for future in futures if future.exception() is not None]
    checks = [error for error in errors if not isinstance(error, threading.BrokenBarrierError)]
    if checks or errors:
        raise (checks or errors)[0]


def media_upload(client: HttpClient, bucket: str, name: str, data: bytes, query: str = "") -> Answer:
    path = f"/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(name, safe='')}{query}"
    return client.request("POST", path, data, {"content-type": "application/octet-stream"})


def test_exactly_one_of_concurrent_create_only_uploads_wins(server: VertexLocal) -> None:
    """Item 6: 12 uploads with ifGenerationMatch=0 to one new name: one 200, eleven 412, the winner's bytes stored."""
    names = [f"create-only/{uuid.uuid4().hex}" for _ in range(CREATE_ONLY_ROUNDS)]

    def upload(client: HttpClient, round_: int, index: int) -> Answer:
        return media_upload(client, server.bucket, names[round_], f"writer {index}".encode(), "&ifGenerationMatch=0")

    reader = HttpClient(server.url)

    def check(round_: int, answers: list[Answer]) -> None:
        statuses = sorted(answer.status for answer in answers)
        assert statuses == [200] + [412] * (CREATE_ONLY_WRITERS - 1), f"round {round_}: {statuses}"
        assert all(not google_error_problems(a) for a in answers if a.status == 412)
        winner = next(index for index, answer in enumerate(answers) if answer.status == 200)
        stored = reader.request("GET", f"/download/storage/v1/b/{server.bucket}/o/{quote(names[round_], safe='')}")
        assert stored.body == f"writer {winner}".encode()

    race(server, CREATE_ONLY_WRITERS, CREATE_ONLY_ROUNDS, upload, check)
    reader.close()
    print(f"create-only: {CREATE_ONLY_ROUNDS} rounds x {CREATE_ONLY_WRITERS} writers, exactly one winner each")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_concurrent_overwrites_keep_bytes_generation_and_checksums_together(server: VertexLocal) -> None:
    """Item 7: 8 overwrites of one object at once; after each round the stored bytes are one writer's, and the
    metadata's size, md5Hash, crc32c and generation are those bytes' (so the SDK's checked download works)."""
    name = f"overwrite/{uuid.uuid4().hex}"
    bodies = [[os.urandom(OVERWRITE_BYTES) for _ in range(OVERWRITERS)] for _ in range(OVERWRITE_ROUNDS)]
    bucket = server.storage_client().bucket(server.bucket)

    def upload(client: HttpClient, round_: int, index: int) -> Answer:
        return media_upload(client, server.bucket, name, bodies[round_][index])

    def check(round_: int, answers: list[Answer]) -> None:
        assert [answer.status for answer in answers] == [200] * OVERWRITERS, f"round {round_}"
        blob = bucket.get_blob(name)
        data = blob.download_as_bytes()  # google-cloud-storage checks the bytes against x-goog-hash
        assert data in bodies[round_]
        assert (blob.size, blob.md5_hash) == (len(data), b64(hashlib.md5(data).digest()))
        assert blob.crc32c == b64(google_crc32c.Checksum(data).digest())
        last = max(int(answer.json()["generation"]) for answer in answers)
        assert blob.generation == last, f"round {round_}: the live generation is not the last one written"

    race(server, OVERWRITERS, OVERWRITE_ROUNDS, upload, check)
    print(f"overwrites: {OVERWRITE_ROUNDS} rounds x {OVERWRITERS} writers of {OVERWRITE_BYTES:,} bytes, consistent")


def test_a_bucket_delete_racing_uploads_is_a_clean_409_or_a_clean_delete(server: VertexLocal) -> None:
    """Item 8: a bucket DELETE released together with 6 uploads into it: never a 5xx; a 204 only when no upload
    stored anything (they all got 404), else 409 and the bucket holds exactly the uploads that got 200."""
    buckets = [f"race-{uuid.uuid4().hex[:12]}" for _ in range(DELETE_ROUNDS)]
    admin = HttpClient(server.url)
    for bucket in buckets:
        assert admin.json("POST", f"/storage/v1/b?project={server.project}", {"name": bucket}).status == 200
    outcomes = {"deleted": 0, "conflict": 0}

    def request(client: HttpClient, round_: int, index: int) -> Answer:
        if index == DELETE_UPLOADERS:
            for _ in range(round_ % 6):  # a few quick requests first, so the delete lands at varied points
                client.request("GET", "/healthz")
            return client.request("DELETE", f"/storage/v1/b/{buckets[round_]}")
        return media_upload(client, buckets[round_], f"part-{index}", b"data")

    def check(round_: int, answers: list[Answer]) -> None:
        *uploads, delete = answers
        assert all(not google_error_problems(a) for a in answers if a.status >= 400), f"round {round_}"
        assert {a.status for a in uploads} <= {200, 404} and delete.status in (204, 409), f"round {round_}"
        stored = {f"part-{i}" for i, answer in enumerate(uploads) if answer.status == 200}
        listing = admin.request("GET", f"/storage/v1/b/{buckets[round_]}/o")
        if delete.status == 204:
            assert not stored and listing.status == 404, f"round {round_}: deleted, yet {stored} were stored"
            outcomes["deleted"] += 1
        else:
            assert {item["name"] for item in listing.json()["items"]} == stored, f"round {round_}"
            outcomes["conflict"] += 1

    race(server, DELETE_UPLOADERS + 1, DELETE_ROUNDS, request, check)
    admin.close()
    print(f"bucket delete vs uploads: {DELETE_ROUNDS} rounds, {outcomes} (no 5xx, no lost upload)")


def test_the_race_module_server_logged_no_traceback(server: VertexLocal) -> None:
    assert "Traceback" not in Path(server.log_path).read_text()
