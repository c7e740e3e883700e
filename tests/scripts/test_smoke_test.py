"""scripts/smoke_test.py: answer checks (tables), and real digits through a real endpoint on vertex-local."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_config import Smoke
from scripts import rollback, smoke_test
from scripts.smoke_test import SmokeResult
from tests.conftest import VertexLocal
from tests.scripts.conftest import Names, TrainedRun, register_run, set_names, step

SMOKE = Smoke(count=100, min_accuracy=0.9, p95_latency_ms=500.0)
ONE_HOT_7 = [0.0] * 7 + [1.0] + [0.0] * 2


@pytest.mark.parametrize(
    ("predictions", "rows", "classes", "problem"),
    [
        ([ONE_HOT_7], 1, [7], None),
        ([[0.1] * 10, ONE_HOT_7], 2, [0, 7], None),
        ([[0.1] * 9 + [0.1009]], 1, [9], None),  # within 1e-3
        ([[0.1] * 10], 2, [-1, -1], "expected 2 prediction rows, got 1"),
        ({"probabilities": ONE_HOT_7}, 1, [-1], "expected 1 prediction rows, got dict"),
        ([[0.5, 0.5]], 1, [-1], "not 10 finite numbers"),
        ([[0.2] * 10], 1, [-1], "sums to 2.000000 with minimum 0.2"),
        ([[float("nan")] * 10], 1, [-1], "not 10 finite numbers"),
        ([["0.1"] * 10], 1, [-1], "not 10 finite numbers"),
        ([[-0.5, 1.5] + [0.0] * 8], 1, [-1], "sums to 1.000000 with minimum -0.5"),
    ],
)
def test_check_rows_wants_one_probability_row_per_digit(
    predictions: object, rows: int, classes: list[int], problem: str | None
) -> None:
    got_classes, problems = smoke_test.check_rows(predictions, rows)
    assert got_classes == classes
    assert (problem is None and problems == []) or (problem is not None and problem in " ".join(problems))


@pytest.mark.parametrize(
    ("values", "p95"),
    [([], math.nan), ([5.0], 5.0), ([float(n) for n in range(1, 21)], 19.0), ([float(n) for n in range(1, 11)], 10.0)],
)
def test_p95_is_the_nearest_rank(values: list[float], p95: float) -> None:
    got = smoke_test.p95(values)
    assert (math.isnan(got) and math.isnan(p95)) or got == p95


@pytest.mark.parametrize(
    ("result", "problems"),
    [
        (SmokeResult(digits=100, correct=95, latencies_ms=[20.0] * 10), []),
        (SmokeResult(digits=100, correct=89, latencies_ms=[20.0]), ["accuracy 0.890 < minimum 0.900 on 100 digits"]),
        (SmokeResult(digits=10, correct=10, latencies_ms=[20.0] * 19 + [900.0]), []),  # p95 of 20 is the 19th
        (SmokeResult(digits=10, correct=10, latencies_ms=[600.0]), ["p95 latency 600 ms > budget 500 ms"]),
        (SmokeResult(digits=10, correct=10, latencies_ms=[1.0], problems=["bad row"] * 5), ["bad row"]),
        (SmokeResult(), ["no digit was answered"]),
    ],
)
def test_evaluate_lists_every_reason_to_fail(result: SmokeResult, problems: list[str]) -> None:
    assert smoke_test.evaluate(result, SMOKE) == problems


@pytest.mark.parametrize(("share", "attempts"), [(100, 1), (50, 27), (10, 175), (1, 1833)])
def test_a_small_canary_gets_enough_re_sends_to_answer_every_batch(share: int, attempts: int) -> None:
    assert smoke_test.attempts_per_batch(share) == attempts
    if share < 100:
        assert (1 - share / 100) ** attempts < 1e-8


@pytest.fixture(scope="module")
def served(pipeline_env: VertexLocal, run_a: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Version 1 alone on an endpoint; yields its deployed model id."""
    patch = pytest.MonkeyPatch()
    set_names(patch, "smoke")
    out = tmp_path_factory.mktemp("smoke")
    register_run(run_a, str(out))
    result = step(rollback.main, "--version", "1", "--out-dir", str(out))  # the quickest way onto an endpoint
    assert result.status == 0, result.stderr
    yield json.loads((out / "rollback.json").read_text())["deployed_model_id"]
    patch.undo()


def test_real_digits_get_right_answers_and_the_walkthroughs_closing_lines(served: str, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--out-dir", str(tmp_path), "--count", "30")
    assert result.status == 0, result.stderr
    assert result.stdout.endswith("real : 7\npredicted : 7\n")
    written = json.loads((tmp_path / "smoke_test.json").read_text())
    assert written["passed"] is True and written["digits"] == 30 and written["calls"] == 3
    assert written["accuracy"] >= 0.8 and written["p95_latency_ms"] < 500


def test_targeting_the_deployed_model_counts_its_answers(served: str, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--deployed-model-id", served, "--count", "10", "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    assert json.loads((tmp_path / "smoke_test.json").read_text())["deployed_model_id"] == served


def test_a_deployed_model_without_traffic_fails_at_once(served: str, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--deployed-model-id", "424242", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("smoke_test: deployed model 424242 gets no traffic on projects/")


def test_an_accuracy_threshold_above_reach_fails_with_the_figures(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_SMOKE_MIN_ACCURACY", "1.01")
    result = step(smoke_test.main, "--count", "20", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("smoke_test: accuracy ") and "< minimum 1.010 on 20 digits" in result.stderr
    assert json.loads((tmp_path / "smoke_test.json").read_text())["passed"] is False


def test_a_missing_endpoint_is_a_clear_error(names: Names, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr == f"smoke_test: no endpoint named {names.endpoint!r}\n"


def test_a_count_below_one_is_a_usage_error(names: Names, tmp_path: Path) -> None:
    assert step(smoke_test.main, "--count", "0", "--out-dir", str(tmp_path)).status == 2
