"""StateStore: documents survive a reopen, transactions are all or nothing, ids never repeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertex_local.state import StateStore


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state.sqlite3")


def test_documents_survive_closing_and_reopening_the_store(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    store.put("model", "7", {"id": "7", "versions": [{"versionId": "1"}]})
    store.close()
    reopened = StateStore(tmp_path / "state.sqlite3")
    assert reopened.get("model", "7") == {"id": "7", "versions": [{"versionId": "1"}]}


def test_a_failed_transaction_leaves_every_document_as_it_was(store: StateStore) -> None:
    store.put("endpoint", "1", {"trafficSplit": {"5": 100}})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("endpoint", "1", {"trafficSplit": {"6": 100}})
        store.put("endpoint", "2", {"trafficSplit": {}})
        raise RuntimeError("crash between two writes")
    assert store.get("endpoint", "1") == {"trafficSplit": {"5": 100}}
    assert store.get("endpoint", "2") is None


def test_ids_are_numeric_increasing_and_not_reused_after_a_reopen(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.sqlite3")
    first, second = store.next_id(), store.next_id()
    store.close()
    third = StateStore(tmp_path / "state.sqlite3").next_id()
    assert first.isdigit() and int(first) < int(second) < int(third)


def test_list_returns_one_kind_in_id_order_and_delete_removes(store: StateStore) -> None:
    for doc_id in ("1010", "999", "1002"):
        store.put("customJob", doc_id, {"id": doc_id})
    store.put("model", "5", {"id": "5"})
    store.delete("customJob", "1002")
    assert [doc["id"] for doc in store.list("customJob")] == ["999", "1010"]
