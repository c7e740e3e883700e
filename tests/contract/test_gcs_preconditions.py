"""Request preconditions, generations, metagenerations and ETags as Cloud Storage applies them: a failed *Match is
412 (PreconditionFailed), a failed *NotMatch or If-None-Match is 304 (NotModified), and nothing changes either way.
https://cloud.google.com/storage/docs/request-preconditions"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.contract.gcs import fresh_blob

STALE = 1  # a generation no object has


def test_a_create_only_upload_succeeds_once_and_then_fails(target) -> None:
    blob = fresh_blob(target, "once")
    blob.upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.bucket.blob(blob.name).upload_from_string(b"second", if_generation_match=0)
    assert blob.download_as_bytes() == b"first"


def test_a_delete_with_a_wrong_generation_is_refused_and_keeps_the_object(target) -> None:
    blob = fresh_blob(target, "kept")
    blob.upload_from_string(b"data")
    with pytest.raises(exceptions.PreconditionFailed):
        blob.delete(if_generation_match=blob.generation + 1)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.delete(if_metageneration_match=blob.metageneration + 1)
    assert blob.bucket.get_blob(blob.name).download_as_bytes() == b"data"
    blob.delete(if_generation_match=blob.generation, if_metageneration_match=blob.metageneration)
    assert blob.bucket.get_blob(blob.name) is None


def test_every_write_against_a_stale_generation_is_refused(target) -> None:
    blob = fresh_blob(target, "stale")
    blob.upload_from_string(b"v1")
    first = blob.generation
    blob.upload_from_string(b"v2", if_generation_match=first)
    assert blob.generation > first  # generations only grow
    with pytest.raises(exceptions.PreconditionFailed):
        blob.bucket.blob(blob.name).upload_from_string(b"v3", if_generation_match=first)
    stale = blob.bucket.blob(blob.name)
    stale.metadata = {"k": "v"}
    with pytest.raises(exceptions.PreconditionFailed):
        stale.patch(if_generation_match=first)
    assert blob.bucket.get_blob(blob.name).metadata is None
    assert blob.download_as_bytes(if_generation_match=blob.generation) == b"v2"
    with pytest.raises(exceptions.PreconditionFailed):
        blob.download_as_bytes(if_generation_match=first)


def test_a_metadata_patch_raises_the_metageneration_and_changes_the_etag(target) -> None:
    blob = fresh_blob(target, "meta")
    blob.upload_from_string(b"data", content_type="text/plain")
    generation, etag = blob.generation, blob.etag
    assert blob.metageneration == 1
    blob.metadata = {"stage": "gated"}
    blob.patch(if_metageneration_match=1)
    assert (blob.generation, blob.metageneration, blob.metadata) == (generation, 2, {"stage": "gated"})
    assert blob.etag != etag
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_match=1)
    blob.metadata = {"stage": None}  # a null value removes the key
    blob.content_type = "application/json"
    blob.patch()
    fetched = blob.bucket.get_blob(blob.name)
    assert (fetched.metageneration, fetched.metadata, fetched.content_type) == (3, None, "application/json")


def test_a_full_update_replaces_the_writable_metadata(target) -> None:
    blob = fresh_blob(target, "update")
    blob.metadata = {"a": "1", "b": "2"}
    blob.upload_from_string(b"data")
    blob.metadata = {"c": "3"}
    blob.update()
    assert blob.bucket.get_blob(blob.name).metadata == {"c": "3"}


def test_the_download_etag_header_is_the_metadata_etag(target) -> None:
    blob = fresh_blob(target, "etag")
    blob.upload_from_string(b"data")
    reader = blob.bucket.blob(blob.name)
    assert reader.etag is None
    assert reader.download_as_bytes() == b"data"  # the client keeps the download's ETag header
    assert reader.etag == blob.bucket.get_blob(blob.name).etag == blob.etag


def test_not_match_preconditions_and_if_none_match_answer_not_modified(target) -> None:
    blob = fresh_blob(target, "not-modified")
    blob.upload_from_string(b"data")
    reader = blob.bucket.blob(blob.name)
    with pytest.raises(exceptions.NotModified):
        reader.reload(if_generation_not_match=blob.generation)
    with pytest.raises(exceptions.NotModified):
        reader.reload(if_metageneration_not_match=blob.metageneration)
    with pytest.raises(exceptions.NotModified):
        reader.download_as_bytes(if_generation_not_match=blob.generation)
    with pytest.raises(exceptions.NotModified):
        reader.reload(if_etag_not_match=blob.etag)
    reader.reload(if_generation_not_match=STALE)
    assert reader.download_as_bytes(if_etag_match=blob.etag) == b"data"


def test_if_match_etag_on_reads(target) -> None:
    blob = fresh_blob(target, "if-match")
    blob.upload_from_string(b"data")
    reader = blob.bucket.blob(blob.name)
    with pytest.raises(exceptions.PreconditionFailed):
        reader.reload(if_etag_match="kittens")
    with pytest.raises(exceptions.PreconditionFailed):
        reader.download_as_bytes(if_etag_match="kittens")
    assert reader.exists(if_etag_match=blob.etag)


def test_preconditions_on_an_object_that_does_not_exist(target) -> None:
    blob = fresh_blob(target, "absent")
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"x", if_generation_match=STALE)
    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"x", if_metageneration_match=1)
    assert blob.bucket.get_blob(blob.name) is None
