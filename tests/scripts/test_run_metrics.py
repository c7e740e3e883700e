"""scripts/run_metrics.py: the fields of a run's metrics.json the pipeline relies on, and how figures print."""

from __future__ import annotations

import pytest

from scripts import run_metrics
from scripts.contract import StepError


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "not a schema_version 1"),
        ([0.98], "not a schema_version 1"),
        ({"accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": 2, "accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": 1, "loss": 0.1}, "accuracy = None"),
        ({"schema_version": 1, "accuracy": "0.98", "loss": 0.1}, "accuracy = '0.98'"),
        ({"schema_version": 1, "accuracy": True, "loss": 0.1}, "accuracy = True"),
        ({"schema_version": 1, "accuracy": float("nan"), "loss": 0.1}, "accuracy = nan"),
        ({"schema_version": 1, "accuracy": 98.1, "loss": 0.1}, "outside"),
        ({"schema_version": 1, "accuracy": 0.98}, "loss = None"),
    ],
)
def test_corrupt_metrics_are_refused_with_the_field_named(data: object, message: str) -> None:
    with pytest.raises(StepError, match=message):
        run_metrics.parse_metrics(data, "gs://b/m")


@pytest.mark.parametrize(("value", "text"), [(0.97, "0.970"), (0.9695, "0.9695"), (1.0, "1.000"), (0.12345, "0.1235")])
def test_fmt_shows_three_decimals_and_a_fourth_only_when_it_says_something(value: float, text: str) -> None:
    assert run_metrics.fmt(value) == text


def test_good_metrics_give_the_figures_as_floats() -> None:
    parsed = run_metrics.parse_metrics({"schema_version": 1, "accuracy": 1, "loss": 0.25}, "gs://b/m")
    assert parsed == run_metrics.Metrics(accuracy=1.0, loss=0.25, model_dir="gs://b/m")
    assert isinstance(parsed.accuracy, float)
