"""scripts/core/run_metrics.py: the fields of a run's metrics.json the pipeline relies on, and how figures print."""

from __future__ import annotations

import pytest

from scripts.core import run_metrics
from scripts.core.step import StepError

FINGERPRINT = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "not a schema_version 1"),
        ([0.98], "not a schema_version 1"),
        ({"accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": 2, "accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": True, "accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": 1.0, "accuracy": 0.98, "loss": 0.1}, "not a schema_version 1"),
        ({"schema_version": 1, "loss": 0.1}, "accuracy = None is not a finite number"),
        ({"schema_version": 1, "accuracy": "0.98", "loss": 0.1}, "accuracy = '0.98'"),
        ({"schema_version": 1, "accuracy": True, "loss": 0.1}, "accuracy = True"),
        ({"schema_version": 1, "accuracy": float("nan"), "loss": 0.1}, "accuracy = nan"),
        ({"schema_version": 1, "accuracy": float("inf"), "loss": 0.1}, "accuracy = inf"),
        ({"schema_version": 1, "accuracy": 10**400, "loss": 0.1}, "accuracy = 1000"),
        ({"schema_version": 1, "accuracy": 98.1, "loss": 0.1}, "outside"),
        ({"schema_version": 1, "accuracy": 0.98}, "loss = None"),
        ({"schema_version": 1, "accuracy": 0.98, "loss": -0.5}, "loss = -0.5 is negative"),
    ],
)
def test_corrupt_metrics_are_refused_with_the_field_named(data: object, message: str) -> None:
    with pytest.raises(StepError, match=message):
        run_metrics.parse_metrics(data, "gs://b/m")


def test_a_bad_value_is_shown_short_whatever_its_size() -> None:
    nested: list = []
    for _ in range(500):
        nested = [nested]
    for value in (nested, "x" * 100_000, 10**4000, {str(n): n for n in range(10_000)}):
        with pytest.raises(StepError) as raised:
            run_metrics.parse_metrics({"schema_version": 1, "accuracy": value, "loss": 0.1}, "gs://b/m")
        assert len(str(raised.value)) < 150


SPLIT = {
    "schema_version": 1,
    "dataset": "mnist-sample",
    "hyperparameters": {"seed": 42},
    "test_fingerprint": FINGERPRINT,
    "test_examples": 1000,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": ""}, "dataset = '' is not a dataset"),
        ({"dataset": ["mnist"]}, "dataset = ['mnist'] is not"),
        ({"hyperparameters": []}, "hyperparameters.seed = None"),
        ({"hyperparameters": {"seed": 4.2}}, "hyperparameters.seed = 4.2"),
        ({"hyperparameters": {"seed": 2**32}}, "not a seed (0-4294967295)"),
        ({"test_fingerprint": FINGERPRINT.upper()}, "is not sha256:<64 hex digits>"),
        ({"test_fingerprint": None}, "trained before the trainer recorded its test split? retrain"),
        ({"test_examples": True}, "test_examples = True"),
    ],
)
def test_the_split_a_candidate_was_tested_on_must_be_fully_recorded(change: dict, message: str) -> None:
    with pytest.raises(StepError) as raised:
        run_metrics.parse_split({**SPLIT, **change}, "gs://b/m")
    assert str(raised.value).startswith("gs://b/m/metrics.json: ") and message in str(raised.value)


def test_a_recorded_split_gives_what_the_gate_rebuilds_it_from() -> None:
    assert run_metrics.parse_split(SPLIT, "gs://b/m") == run_metrics.SplitSpec("mnist-sample", 42, FINGERPRINT, 1000)


@pytest.mark.parametrize(("value", "text"), [(0.97, "0.970"), (0.9695, "0.9695"), (1.0, "1.000"), (0.12345, "0.1235")])
def test_fmt_shows_three_decimals_and_a_fourth_only_when_it_says_something(value: float, text: str) -> None:
    assert run_metrics.fmt(value) == text


def test_good_metrics_give_the_figures_as_floats() -> None:
    parsed = run_metrics.parse_metrics({"schema_version": 1, "accuracy": 1, "loss": 0.25}, "gs://b/m")
    assert parsed == run_metrics.Metrics(accuracy=1.0, loss=0.25, model_dir="gs://b/m")
    assert isinstance(parsed.accuracy, float)
