"""The clients notebooks write to Cloud Storage with: gcsfs (fsspec) and pandas on gs:// URLs, against a real
vertex-local (issue 22). A notebook user points them here with two variables:

    STORAGE_EMULATOR_HOST=http://127.0.0.1:8080 GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false

(the second keeps gcsfs from asking the gRPC Storage Control API for each bucket's layout, which vertex-local does
not speak: without it every call waits out a 60 s gRPC timeout first), and pandas gets `storage_options` (the
anonymous token): without any, pandas hands parquet paths to pyarrow's own GCS client, which ignores
STORAGE_EMULATOR_HOST and waits for Google's metadata server. Also the wire-level rules gcsfs relies on:
bare-LF multipart framing, chunks POSTed to the session URI, a cancelled session answering 499.

Run: .venv/bin/pytest tests/vertex_local/gcs/test_notebook_clients.py
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import uuid
from collections.abc import Iterator

import pandas
import pytest

from tests.support.rest_client import HttpClient
from tests.support.vertex_local_server import VertexLocal

CHUNK = 256 * 1024  # the smallest resumable chunk Cloud Storage takes, so a few hundred KiB is multi-chunk


@pytest.fixture
def fs(vertex_local: VertexLocal, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A gcsfs filesystem as a notebook gets one: from the environment, anonymous."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex_local.url)
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    gcsfs = importlib.import_module("gcsfs")
    assert gcsfs.GCSFileSystem.__module__ == "gcsfs.core", "gcsfs was imported before the variable was set"
    filesystem = gcsfs.GCSFileSystem(project=vertex_local.project, token="anon", skip_instance_cache=True)
    yield filesystem


@pytest.fixture
def bucket(fs) -> str:
    """A new bucket made by gcsfs itself (it sends predefinedAcl and predefinedDefaultObjectAcl)."""
    name = f"notebook-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    return name


def test_gcsfs_makes_a_bucket_writes_reads_lists_and_deletes_small_and_multi_chunk_files(fs, bucket) -> None:
    small, large = b"a,b\n1,2\n", os.urandom(3 * CHUNK + 12_345)
    fs.pipe(f"{bucket}/small.csv", small)
    with fs.open(f"{bucket}/dir/large.bin", "wb", block_size=CHUNK) as out:
        for start in range(0, len(large), 100_000):  # written in pieces, flushed as 256 KiB chunks
            out.write(large[start : start + 100_000])
    assert fs.cat(f"{bucket}/small.csv") == small
    with fs.open(f"{bucket}/dir/large.bin", "rb", block_size=CHUNK) as read_back:
        assert hashlib.sha256(read_back.read()).digest() == hashlib.sha256(large).digest()
    assert fs.info(f"{bucket}/dir/large.bin")["size"] == len(large)
    assert sorted(fs.ls(bucket, refresh=True)) == [f"{bucket}/dir", f"{bucket}/small.csv"]
    assert fs.find(bucket) == [f"{bucket}/dir/large.bin", f"{bucket}/small.csv"]
    fs.rm(f"{bucket}/dir", recursive=True)
    fs.rm(f"{bucket}/small.csv")
    assert fs.find(bucket, refresh=True) == []
    fs.rmdir(bucket)
    assert not fs.exists(bucket, refresh=True)


def test_gcsfs_discarding_a_multi_chunk_write_cancels_its_session_and_stores_nothing(fs, bucket) -> None:
    writer = fs.open(f"{bucket}/abandoned.bin", "wb", block_size=CHUNK)
    writer.write(os.urandom(2 * CHUNK))
    writer.flush()  # opens the session and sends the first chunks
    assert writer.location is not None
    writer.discard()  # DELETE of the session URI; gcsfs takes 499 as "cancelled"
    assert not fs.exists(f"{bucket}/abandoned.bin", refresh=True)


def test_pandas_round_trips_csv_and_parquet_through_gs_urls(fs, bucket) -> None:
    frame = pandas.DataFrame({"digit": [3, 1, 4, 1, 5], "confidence": [0.9, 0.75, 0.5, 0.99, 0.25],
                              "label": ["three", "one", "four", "one", "five"]})  # fmt: skip
    options = {"token": "anon"}
    frame.to_csv(f"gs://{bucket}/table.csv", index=False, storage_options=options)
    frame.to_parquet(f"gs://{bucket}/table.parquet", index=False, storage_options=options)
    read_csv = pandas.read_csv(f"gs://{bucket}/table.csv", storage_options=options)
    pandas.testing.assert_frame_equal(read_csv, frame)
    read_parquet = pandas.read_parquet(f"gs://{bucket}/table.parquet", storage_options=options)
    pandas.testing.assert_frame_equal(read_parquet, frame)
    assert fs.cat(f"{bucket}/table.csv").startswith(b"digit,confidence,label\n3,0.9,three\n")


def related_body(boundary: str, metadata: dict, media: bytes, newline: bytes) -> bytes:
    lines = [f"--{boundary}", "Content-Type: application/json; charset=UTF-8", "", json.dumps(metadata),
             f"--{boundary}", "Content-Type: text/plain", "", ""]  # fmt: skip
    return newline.join(line.encode() for line in lines) + media + newline + f"--{boundary}--".encode()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["bare-LF", "CRLF"])
def test_a_multipart_upload_framed_with_either_line_break_stores_the_media_byte_for_byte(
    vertex_local: VertexLocal, newline: bytes
) -> None:
    client, name = HttpClient(vertex_local.url), f"framing/{uuid.uuid4().hex}.txt"
    media = b"\r\nline one\r\n--not-the-boundary\n\n--==0=\r"  # line breaks and near-delimiters of both kinds
    body = related_body("==0==", {"name": name}, media, newline)
    answer = client.request("POST", f"/upload/storage/v1/b/{vertex_local.bucket}/o?uploadType=multipart", body,
                            {"content-type": 'multipart/related; boundary="==0=="'})  # fmt: skip
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["size"] == str(len(media))
    stored = client.request("GET", f"/download/storage/v1/b/{vertex_local.bucket}/o/{name.replace('/', '%2F')}")
    assert stored.body == media


def test_a_bare_lf_body_with_a_third_part_is_still_refused(vertex_local: VertexLocal) -> None:
    body = related_body("b", {"name": "three-parts"}, b"x\n--b\nContent-Type: text/plain\n\nextra", b"\n")
    answer = HttpClient(vertex_local.url).request(
        "POST", f"/upload/storage/v1/b/{vertex_local.bucket}/o?uploadType=multipart", body,
        {"content-type": "multipart/related; boundary=b"},
    )  # fmt: skip
    assert answer.status == 400 and b"exactly two parts" in answer.body


def open_session(client: HttpClient, vertex_local: VertexLocal, name: str) -> str:
    answer = client.json("POST", f"/upload/storage/v1/b/{vertex_local.bucket}/o?uploadType=resumable", {"name": name})
    assert answer.status == 200, answer.body
    return answer.headers["location"].removeprefix(vertex_local.url)


def test_resumable_chunks_posted_to_the_session_uri_count_as_puts(vertex_local: VertexLocal) -> None:
    client, name = HttpClient(vertex_local.url), f"resumable/{uuid.uuid4().hex}"
    session, data = open_session(client, vertex_local, name), os.urandom(CHUNK + 100)
    first = client.request("POST", session, data[:CHUNK], {"content-range": f"bytes 0-{CHUNK - 1}/*"})
    assert (first.status, first.headers.get("range")) == (308, f"bytes=0-{CHUNK - 1}")
    status = client.request("POST", session, b"", {"content-range": f"bytes */{len(data)}"})
    assert (status.status, status.headers.get("range")) == (308, f"bytes=0-{CHUNK - 1}")
    last = client.request(
        "POST", session, data[CHUNK:], {"content-range": f"bytes {CHUNK}-{len(data) - 1}/{len(data)}"}
    )
    assert last.status == 200 and json.loads(last.body)["size"] == str(len(data))
    stored = client.request("GET", f"/download/storage/v1/b/{vertex_local.bucket}/o/{name.replace('/', '%2F')}")
    assert stored.body == data


def test_deleting_a_session_cancels_it_with_499_and_it_is_gone_after(vertex_local: VertexLocal) -> None:
    client, name = HttpClient(vertex_local.url), f"cancelled/{uuid.uuid4().hex}"
    session = open_session(client, vertex_local, name)
    assert client.request("PUT", session, b"x" * CHUNK, {"content-range": f"bytes 0-{CHUNK - 1}/*"}).status == 308
    assert client.request("DELETE", session).status == 499
    after = client.request("PUT", session, b"", {"content-range": "bytes */*"})
    assert after.status == 404 and b"not found" in after.body
    assert client.request("DELETE", session).status == 404
    missing = client.request("GET", f"/storage/v1/b/{vertex_local.bucket}/o/{name.replace('/', '%2F')}")
    assert missing.status == 404
