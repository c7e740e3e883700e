"""scripts/core/demo_timing.py: the demo's per-phase table, and the smoke test split out of the deploy phase."""

from __future__ import annotations

import math

import pytest

from scripts.core.demo_timing import Phases


def rows_of(table: str) -> dict[str, tuple[float, str]]:
    lines = table.strip().splitlines()[1:]
    return {line[:26].strip(): (float(line[26:35]), line[35:].strip()) for line in lines}


def test_the_table_lists_phases_in_the_order_they_ran_and_their_total() -> None:
    phases = Phases({"server start": (1.25, ""), "training": (30.0, "the job"), "deploy": (4.0, "")})
    assert rows_of(phases.table()) == {
        "server start": (1.2, ""),  # one decimal, as printed
        "training": (30.0, "the job"),
        "deploy": (4.0, ""),
        "total": (35.2, ""),
    }


def test_a_timed_phase_counts_its_block_even_when_it_raises() -> None:
    phases = Phases()
    with pytest.raises(RuntimeError), phases.timed("gate", "note"):
        raise RuntimeError("the step failed")
    assert list(phases.rows) == ["gate"] and phases.rows["gate"][0] >= 0 and phases.rows["gate"][1] == "note"


def test_the_smoke_test_is_split_out_of_the_deploy_phase_right_after_it() -> None:
    phases = Phases({"deploy": (10.0, ""), "walkthrough call": (1.0, "")})
    phases.split("deploy", "smoke test", 3.5, "100 digits, 10 calls")
    assert list(phases.rows.items()) == [
        ("deploy", (6.5, "")),
        ("smoke test", (3.5, "100 digits, 10 calls")),
        ("walkthrough call", (1.0, "")),
    ]


@pytest.mark.parametrize("seconds", [None, "3", -0.1, 10.5, math.nan, math.inf])
def test_a_smoke_time_that_is_not_seconds_within_the_deploy_phase_is_left_out(seconds: object) -> None:
    phases = Phases({"deploy": (10.0, "")})
    phases.split("deploy", "smoke test", seconds, "")  # type: ignore[arg-type]
    assert phases.rows == {"deploy": (10.0, "")}


def test_a_split_of_a_phase_that_never_ran_is_left_out() -> None:
    phases = Phases({"training": (30.0, "")})
    phases.split("deploy", "smoke test", 1.0, "")
    assert phases.rows == {"training": (30.0, "")}
