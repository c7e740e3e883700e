"""scripts/core/probe.py: the smoke test's answer checks, percentile, verdict and canary re-sends (tables)."""

from __future__ import annotations

import math

import pytest

from pipeline_config import Smoke
from scripts.core import probe
from scripts.core.probe import SmokeResult

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
    got_classes, problems = probe.check_rows(predictions, rows)
    assert got_classes == classes
    assert (problem is None and problems == []) or (problem is not None and problem in " ".join(problems))


@pytest.mark.parametrize(
    ("values", "p95"),
    [([], math.nan), ([5.0], 5.0), ([float(n) for n in range(1, 21)], 19.0), ([float(n) for n in range(1, 11)], 10.0)],
)
def test_p95_is_the_nearest_rank(values: list[float], p95: float) -> None:
    got = probe.p95(values)
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
    assert probe.evaluate(result, SMOKE) == problems


@pytest.mark.parametrize(("share", "attempts"), [(100, 1), (50, 27), (10, 175), (1, 1833)])
def test_a_small_canary_gets_enough_re_sends_to_answer_every_batch(share: int, attempts: int) -> None:
    assert probe.attempts_per_batch(share) == attempts
    if share < 100:
        assert (1 - share / 100) ** attempts < 1e-8


@pytest.mark.parametrize(
    "instances",
    [
        [[[0.0, 0.5], [1.0, 0.25]], [[0.125, 0.0], [0.0, 1.0]]],  # images: rows of floats
        [[1, 2.5, -3.0], [0.1, 1e-9, 7]],  # tabular rows, ints among the floats
        [{"image": [0.5, 0.0]}, {"image": [1.0, 1.0]}],  # instances as objects
    ],
)
def test_a_batchs_request_is_the_one_endpoint_predict_sends(instances: list) -> None:
    """Built once per batch and re-sent: the same message, hence the same JSON on the wire, as the SDK's own
    conversion of the lists makes on every endpoint.predict call."""
    from google.cloud import aiplatform
    from google.protobuf import json_format

    name = "projects/p/locations/us-central1/endpoints/1"
    ours = probe.predict_request(name, instances)
    sdks = aiplatform.gapic.PredictRequest(endpoint=name)  # as PredictionServiceClient.predict(endpoint=, instances=)
    sdks.instances.extend(instances)
    assert ours == sdks
    as_pb = aiplatform.gapic.PredictRequest.pb
    assert json_format.MessageToJson(as_pb(ours)) == json_format.MessageToJson(as_pb(sdks))
    assert [json_format.MessageToDict(value) for value in as_pb(ours).instances] == instances
