"""Objects made from objects: copy, rewrite (one call), compose and move, with source and destination
preconditions. https://cloud.google.com/storage/docs/json_api/v1/objects (copy, rewrite, compose, move)"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.contract.gcs import digests, fresh_blob


def test_a_copy_has_the_source_bytes_checksums_and_metadata(target) -> None:
    source = fresh_blob(target, "source")
    source.metadata = {"git_sha": "3f2a"}
    source.upload_from_string(b"model bytes", content_type="application/octet-stream")
    dest = fresh_blob(target, "copy")
    copied = source.bucket.copy_blob(source, source.bucket, dest.name, if_source_generation_match=source.generation)
    assert copied.download_as_bytes() == b"model bytes"
    assert (copied.md5_hash, copied.crc32c, copied.metadata) == (*digests(b"model bytes"), {"git_sha": "3f2a"})
    assert copied.generation != source.generation


def test_a_copy_from_a_stale_source_generation_is_refused(target) -> None:
    source, dest = fresh_blob(target, "source"), fresh_blob(target, "copy")
    source.upload_from_string(b"v1")
    stale = source.generation
    source.upload_from_string(b"v2")
    with pytest.raises(exceptions.PreconditionFailed):
        source.bucket.copy_blob(source, source.bucket, dest.name, if_source_generation_match=stale)
    with pytest.raises(exceptions.PreconditionFailed):
        source.bucket.copy_blob(source, source.bucket, dest.name, if_generation_match=stale)
    assert source.bucket.get_blob(dest.name) is None


def test_a_rewrite_finishes_in_calls_the_client_loops_over(target) -> None:
    source, dest = fresh_blob(target, "source"), fresh_blob(target, "rewritten")
    source.upload_from_string(b"x" * 1000)
    token, rewritten, total = dest.rewrite(source)
    while token is not None:
        token, rewritten, total = dest.rewrite(source, token=token)
    assert (rewritten, total) == (1000, 1000)
    assert dest.download_as_bytes() == b"x" * 1000 and dest.crc32c == source.crc32c


def test_a_storage_class_changes_by_a_rewrite_in_place(target) -> None:
    blob = fresh_blob(target, "cold")
    blob.upload_from_string(b"archive me")
    blob.update_storage_class("NEARLINE")
    fetched = blob.bucket.get_blob(blob.name)
    assert (fetched.storage_class, fetched.download_as_bytes()) == ("NEARLINE", b"archive me")


def test_compose_concatenates_with_a_crc32c_a_component_count_and_no_md5(target) -> None:
    parts = [fresh_blob(target, f"part-{i}") for i in range(3)]
    for index, part in enumerate(parts):
        part.upload_from_string(f"part {index}\n".encode())
    whole = fresh_blob(target, "whole")
    whole.content_type = "text/plain"
    whole.compose(parts)
    expected = b"part 0\npart 1\npart 2\n"
    fetched = whole.bucket.get_blob(whole.name)
    assert fetched.download_as_bytes() == expected
    assert (fetched.crc32c, fetched.md5_hash, fetched.component_count) == (digests(expected)[1], None, 3)
    assert fetched.content_type == "text/plain"


def test_compose_with_a_stale_source_generation_is_refused_and_writes_nothing(target) -> None:
    first, second, whole = fresh_blob(target, "first"), fresh_blob(target, "second"), fresh_blob(target, "whole")
    first.upload_from_string(b"1")
    second.upload_from_string(b"2")
    with pytest.raises(exceptions.PreconditionFailed):
        whole.compose([first, second], if_source_generation_match=[first.generation, second.generation + 1])
    assert whole.bucket.get_blob(whole.name) is None


def test_a_move_renames_in_one_step(target) -> None:
    source, dest = fresh_blob(target, "before"), fresh_blob(target, "after/renamed")
    source.upload_from_string(b"payload")
    moved = source.bucket.move_blob(source, dest.name, if_source_generation_match=source.generation)
    assert moved.download_as_bytes() == b"payload"
    assert source.bucket.get_blob(source.name) is None
