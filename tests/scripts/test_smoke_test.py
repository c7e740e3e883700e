"""scripts/smoke_test.py: real digits through a real endpoint on vertex-local (the checks are test_probe's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import rollback, smoke_test
from tests.support.pipeline_steps import SMOKE_LATENCY_BUDGET_MS, Names, TrainedRun, register_run, set_names, step
from tests.support.vertex_local_server import VertexLocal


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
    assert written["accuracy"] >= 0.8 and written["p95_latency_ms"] < SMOKE_LATENCY_BUDGET_MS


def test_targeting_the_deployed_model_counts_its_answers(served: str, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--deployed-model-id", served, "--count", "10", "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    assert json.loads((tmp_path / "smoke_test.json").read_text())["deployed_model_id"] == served


def test_a_deployed_model_without_traffic_fails_at_once(served: str, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--deployed-model-id", "424242", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("smoke_test: deployed model 424242 gets no traffic on projects/")


def test_a_budget_out_of_reach_fails_with_the_figures(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An accuracy above 1 is refused at load (pipeline_config.RANGES); no predict call answers in a microsecond.
    monkeypatch.setenv("PIPELINE_SMOKE_P95_LATENCY_MS", "0.001")
    result = step(smoke_test.main, "--count", "20", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("smoke_test: p95 latency ") and "ms > budget 0 ms" in result.stderr
    assert json.loads((tmp_path / "smoke_test.json").read_text())["passed"] is False


def test_a_missing_endpoint_is_a_clear_error(names: Names, tmp_path: Path) -> None:
    result = step(smoke_test.main, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr == f"smoke_test: no endpoint named {names.endpoint!r}\n"


def test_a_count_below_one_is_a_usage_error(names: Names, tmp_path: Path) -> None:
    assert step(smoke_test.main, "--count", "0", "--out-dir", str(tmp_path)).status == 2
