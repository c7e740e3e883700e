"""The cyclic garbage collector around heavy imports: native_logs.collector_paused, and the suite's collection."""

from __future__ import annotations

import gc

import pytest

from native_logs import collector_paused


def test_what_a_paused_block_makes_is_made_without_collections_and_frozen_after() -> None:
    frozen_before = gc.get_freeze_count()
    with collector_paused():
        collecting_inside = gc.isenabled()
        made = [[index] for index in range(1000)]  # tracked objects, as an import makes them
    assert not collecting_inside
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(made)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was_when_an_import_fails(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(ImportError), collector_paused():
            raise ImportError("No module named 'missing'")
        assert gc.isenabled() == enabled
    finally:
        gc.enable()


def test_a_nested_block_leaves_the_collector_to_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            pass
        still_paused = not gc.isenabled()
    assert still_paused and gc.isenabled()


def test_the_tests_run_with_the_collector_on() -> None:
    # tests/conftest.py pauses the collector while this process collects; it is on again before the first test.
    assert gc.isenabled()
