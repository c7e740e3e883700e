"""Cloud Storage objects as the pipeline and TensorFlow use them: every upload kind, checksums, ranges, metadata, and
the names Cloud Storage accepts (placeholders, "a" beside "a/b", long segments) or refuses."""

from __future__ import annotations

import gzip
import io
import os

import pytest
from google.api_core import exceptions

from tests.contract.gcs import digests, fresh_blob

CHUNK = 256 * 1024  # the smallest resumable chunk the client sends


def test_an_uploaded_object_reads_back_with_its_crc32c(target) -> None:
    blob = fresh_blob(target, "metrics.json")
    data = b'{"accuracy": 0.98}\n'
    blob.upload_from_string(data, content_type="application/json")
    fetched = blob.bucket.get_blob(blob.name)
    assert fetched.download_as_bytes() == data
    assert (fetched.md5_hash, fetched.crc32c) == digests(data)
    assert fetched.content_type == "application/json" and fetched.size == len(data)


def test_a_resumable_upload_in_chunks_reads_back_byte_exact(target) -> None:
    data = os.urandom(3 * CHUNK + 12_345)
    blob = fresh_blob(target, "variables.data")
    blob.chunk_size = CHUNK
    blob.upload_from_file(io.BytesIO(data))  # no size: the client streams it as a resumable upload, in chunks
    assert (blob.size, blob.crc32c) == (len(data), digests(data)[1])
    assert blob.bucket.blob(blob.name).download_as_bytes() == data


@pytest.mark.parametrize("kind", ["multipart", "resumable"])
def test_an_upload_whose_claimed_checksum_does_not_match_is_refused_and_stores_nothing(target, kind) -> None:
    blob, lie = fresh_blob(target, f"lies-{kind}"), digests(b"other bytes")
    if kind == "resumable":  # the claim travels in the session's metadata, the client's own in x-goog-hash
        with pytest.raises(exceptions.BadRequest):
            blob.upload_from_file(io.BytesIO(b"these bytes"), crc32c_checksum_value=lie[1])
    else:  # the claim travels in the metadata part
        blob.md5_hash = lie[0]
        with pytest.raises(exceptions.BadRequest):
            blob.upload_from_string(b"these bytes")
    assert blob.bucket.get_blob(blob.name) is None


def test_a_media_upload_whose_x_goog_hash_does_not_match_is_refused(target) -> None:
    """https://cloud.google.com/storage/docs/data-validation: a checksum sent with an upload is checked server-side."""
    client = target.storage_client()
    blob = fresh_blob(target, "media")
    url = f"{client._connection.API_BASE_URL}/upload/storage/v1/b/{target.bucket}/o"
    params = {"uploadType": "media", "name": blob.name}
    answer = client._http.post(url, params=params, data=b"abc", headers={"x-goog-hash": f"md5={digests(b'x')[0]}"})
    assert answer.status_code == 400, answer.text
    assert blob.bucket.get_blob(blob.name) is None
    answer = client._http.post(url, params=params, data=b"abc", headers={"x-goog-hash": f"md5={digests(b'abc')[0]}"})
    assert answer.status_code == 200 and blob.download_as_bytes() == b"abc"


def test_an_empty_object_round_trips(target) -> None:
    blob = fresh_blob(target, "empty")
    blob.upload_from_string(b"")
    assert blob.bucket.get_blob(blob.name).size == 0
    assert blob.download_as_bytes() == b""


def test_a_ranged_download_returns_the_slice(target) -> None:
    blob = fresh_blob(target, "digits.txt")
    blob.upload_from_string(b"0123456789abcdef")
    assert blob.download_as_bytes(start=4, end=9) == b"456789"


def test_a_ranged_download_of_a_large_object_returns_the_slice_across_read_pieces(target) -> None:
    media = os.urandom(9 << 20)  # past vertex-local's whole-read size (256 KiB) and its 4 MiB read pieces
    blob = fresh_blob(target, "large.bin")
    blob.upload_from_string(media)
    start, end = (4 << 20) - 5, (8 << 20) + 5  # inclusive, as the SDK takes them
    assert blob.download_as_bytes(start=start, end=end) == media[start : end + 1]
    assert blob.download_as_bytes() == media


def test_content_type_custom_metadata_and_cache_control_round_trip(target) -> None:
    blob = fresh_blob(target, "metrics.json")
    blob.metadata = {"git_sha": "3f2a"}
    blob.cache_control = "no-cache"
    blob.upload_from_string(b"{}", content_type="application/json")
    fetched = blob.bucket.get_blob(blob.name)
    assert (fetched.content_type, fetched.metadata, fetched.cache_control) == ("application/json", {"git_sha": "3f2a"},
                                                                              "no-cache")  # fmt: skip


def test_a_gzip_encoded_object_is_decompressed_unless_asked_for_raw(target) -> None:
    payload = b"DEADBEEF" * 1000
    blob = fresh_blob(target, "log.gz")
    blob.content_encoding = "gzip"
    blob.upload_from_string(gzip.compress(payload))
    assert blob.download_as_bytes() == payload
    assert gzip.decompress(blob.download_as_bytes(raw_download=True)) == payload


def test_a_missing_object_is_not_found(target) -> None:
    blob = fresh_blob(target, "nothing-here")
    assert blob.bucket.get_blob(blob.name) is None
    with pytest.raises(exceptions.NotFound):
        blob.download_as_bytes()
    with pytest.raises(exceptions.NotFound):
        blob.delete()


def test_an_object_and_objects_under_its_name_coexist(target) -> None:
    base = fresh_blob(target, "a")
    nested = fresh_blob(target, "", name=base.name + "/b")
    base.upload_from_string(b"file")
    nested.upload_from_string(b"nested")
    assert (base.download_as_bytes(), nested.download_as_bytes()) == (b"file", b"nested")


def test_a_folder_placeholder_ending_in_a_slash_is_an_object(target) -> None:
    placeholder = fresh_blob(target, "", name=target.object_name("model") + "/")
    placeholder.upload_from_string(b"")
    assert placeholder.bucket.get_blob(placeholder.name).size == 0
    listed = [b.name for b in placeholder.bucket.list_blobs(prefix=placeholder.name)]
    assert listed == [placeholder.name]


@pytest.mark.parametrize(
    "tail",
    ["s" * 300 + "/x", "../up", "a//b", "x/./y", "Caf\u00e9 #1 [x]*?.txt", "\u65e5\u672c/\u8a9e", "tab\there"],
    ids=["300-byte-segment", "dot-dot", "double-slash", "dot", "punctuation", "cjk", "tab"],
)
def test_every_name_cloud_storage_accepts_round_trips(target, tail: str) -> None:
    blob = fresh_blob(target, "", name=f"{target.object_name('names')}/{tail}")
    blob.upload_from_string(tail.encode())
    assert blob.bucket.blob(blob.name).download_as_bytes() == tail.encode()
    assert [b.name for b in blob.bucket.list_blobs(prefix=blob.name)] == [blob.name]


@pytest.mark.parametrize(
    "name",
    ["line\nfeed", "carriage\rreturn", "x" * 1025, ".", "..", ".well-known/acme-challenge/token"],
    ids=["lf", "cr", "1025-bytes", "dot", "dot-dot", "acme"],
)
def test_names_cloud_storage_refuses_are_a_bad_request(target, name: str) -> None:
    blob = target.storage_client().bucket(target.bucket).blob(name)
    with pytest.raises(exceptions.BadRequest):
        blob.upload_from_string(b"x")
