"""objects.list as the pipeline and TensorFlow use it: a prefix, '/' as delimiter (items and prefixes), placeholders
with includeTrailingDelimiter, start/end offsets, pages, and matchGlob.
https://cloud.google.com/storage/docs/json_api/v1/objects/list"""

from __future__ import annotations

import pytest

from tests.contract.gcs import fresh_blob

TREE = ["a.txt", "model/", "model/saved_model.pb", "model/variables/v.data", "model/variables/v.index", "z"]


@pytest.fixture(scope="module")
def tree(contract_target) -> str:
    """TREE uploaded once under a fresh prefix; returns the prefix (ending in '/')."""
    root = contract_target.object_name("tree") + "/"
    for name in TREE:
        fresh_blob(contract_target, "", name=root + name).upload_from_string(name.encode())
    return root


def names(target, **options) -> tuple[list[str], set[str]]:
    iterator = target.storage_client().list_blobs(target.bucket, **options)
    items = [blob.name for blob in iterator]
    return items, set(iterator.prefixes)


def test_a_delimiter_folds_deeper_names_into_prefixes(target, tree: str) -> None:
    assert names(target, prefix=tree, delimiter="/") == ([tree + "a.txt", tree + "z"], {tree + "model/"})
    items, prefixes = names(target, prefix=tree + "model/", delimiter="/")
    assert (items, prefixes) == ([tree + "model/", tree + "model/saved_model.pb"], {tree + "model/variables/"})


def test_include_trailing_delimiter_lists_a_placeholder_beside_its_prefix(target, tree: str) -> None:
    items, prefixes = names(target, prefix=tree, delimiter="/", include_trailing_delimiter=True)
    assert (items, prefixes) == ([tree + "a.txt", tree + "model/", tree + "z"], {tree + "model/"})


def test_without_a_delimiter_every_name_under_the_prefix_is_listed_in_order(target, tree: str) -> None:
    assert names(target, prefix=tree + "model/var")[0] == [
        tree + "model/variables/v.data",
        tree + "model/variables/v.index",
    ]
    assert names(target, prefix=tree)[0] == [tree + name for name in TREE]


def test_start_and_end_offsets_bound_the_names(target, tree: str) -> None:
    listed = names(target, prefix=tree, start_offset=tree + "model/s", end_offset=tree + "model/variables/v.index")
    assert listed[0] == [tree + "model/saved_model.pb", tree + "model/variables/v.data"]


def test_pages_hold_every_name_once(target, tree: str) -> None:
    iterator = target.storage_client().list_blobs(target.bucket, prefix=tree, page_size=4)
    pages = [[blob.name for blob in page] for page in iterator.pages]
    assert [len(page) for page in pages] == [4, 2]
    assert [name for page in pages for name in page] == [tree + name for name in TREE]


def test_pages_count_prefixes_too(target, tree: str) -> None:
    iterator = target.storage_client().list_blobs(target.bucket, prefix=tree, delimiter="/", page_size=2)
    pages = [([blob.name for blob in page], set(page.prefixes)) for page in iterator.pages]
    assert pages == [([tree + "a.txt"], {tree + "model/"}), ([tree + "z"], set())]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [("*.txt", ["a.txt"]), ("model/**", TREE[1:5]), ("**/v.*", TREE[3:5]), ("model/*", TREE[1:3]),
     ("model/variables/v.[di]*", TREE[3:5]), ("{a.txt,z}", ["a.txt", "z"])],
)  # fmt: skip
def test_match_glob_selects_names(target, tree: str, glob: str, expected: list[str]) -> None:
    assert names(target, prefix=tree, match_glob=tree + glob)[0] == [tree + name for name in expected]
