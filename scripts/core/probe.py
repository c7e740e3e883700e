"""The smoke-test library: real test digits through endpoint.predict, and the checks on the answers.

Checks one row of probabilities per example (one per class of the task: tasks/), each row summing to 1
(within 1e-3), accuracy >= [smoke] min_accuracy and the p95 latency of a predict call <= [smoke] p95_latency_ms.
Used by the deploy step on its canary and by the smoke_test step; walkthrough_lines() ends like the walkthrough
(`real : 7` / `predicted : 7`).

Targeting one deployed model: endpoint.predict cannot choose one, so requests follow the endpoint's traffic
split and only answers carrying that deployedModelId count; a batch is re-sent until the target has answered it.

The calls are the SDK's PredictionService.Predict (aiplatform.gapic), the call endpoint.predict makes, with each
batch's request built once: endpoint.predict converts its nested lists into protobuf Values on every call, about
half of a call's client time, and a batch under a 10 % canary is sent ~10 times. The same JSON goes on the wire.
A counted call's latency is what endpoint.predict(instances=...) costs a user's client: building the batch's
request, the call (JSON encoding, HTTP round trip, parsing the answer) and the predictions as Python lists.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from google.cloud import aiplatform
from google.cloud.aiplatform import initializer
from google.protobuf import json_format, struct_pb2

from pipeline_config import Smoke
from scripts.core.step import StepError
from tasks import Task, TaskError
from tasks.mnist import TASK as MNIST

DIGITS_PER_REQUEST = 10  # 10 MNIST digits are ~150 kB of JSON, far below Vertex's 1.5 MB request limit
ROW_SUM_TOLERANCE = 1e-3
CLASSES = MNIST.num_classes  # the default task's: one probability per digit
MISS_ODDS = 1e-8  # how unlikely it may be that a canary never answers a batch
LATENCY_QUANTILE = 0.95


@dataclasses.dataclass
class SmokeResult:
    digits: int = 0
    correct: int = 0
    calls: int = 0  # every predict call, including those answered by other deployed models
    latencies_ms: list[float] = dataclasses.field(default_factory=list)  # of the counted calls
    problems: list[str] = dataclasses.field(default_factory=list)
    first_label: int | None = None
    first_predicted: int | None = None
    seconds: float = 0.0  # the whole smoke test, digits loaded and sent
    classes: int = CLASSES  # probabilities per row: the task's class count


def load_digits(dataset: str, seed: int, count: int, task: Task = MNIST) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` examples of the test split the trainer evaluates on (dataset: pipeline.toml's value)."""
    try:
        _, (x_test, y_test) = task.load_data(task.resolve_dataset(dataset), seed, None)
    except TaskError as exc:
        raise StepError(str(exc)) from None
    return x_test[:count], y_test[:count]


def check_rows(predictions: Any, expected_rows: int, classes: int = CLASSES) -> tuple[list[int], list[str]]:
    """Predicted classes (-1 for a bad row) and the schema problems found in one answer."""
    if not isinstance(predictions, list | tuple) or len(predictions) != expected_rows:
        size = len(predictions) if isinstance(predictions, list | tuple) else type(predictions).__name__
        return [-1] * expected_rows, [f"expected {expected_rows} prediction rows, got {size}"]
    predicted, problems = [], []
    for row in predictions:
        values = list(row) if isinstance(row, list | tuple) else []
        if len(values) != classes or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            predicted.append(-1)
            problems.append(f"a prediction row is not {classes} finite numbers: {str(row)[:80]}")
        elif abs(sum(values) - 1.0) > ROW_SUM_TOLERANCE or min(values) < 0:
            predicted.append(-1)
            problems.append(f"a probability row sums to {sum(values):.6f} with minimum {min(values):g}")
        else:
            predicted.append(int(np.argmax(values)))
    return predicted, problems


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (the slowest call of up to 20)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(LATENCY_QUANTILE * len(ordered)) - 1, 0)] if ordered else math.nan


def evaluate(result: SmokeResult, smoke: Smoke) -> list[str]:
    """Every reason the smoke test fails; empty when it passes."""
    problems = list(dict.fromkeys(result.problems))[:3]
    if result.digits == 0:
        return [*problems, "no digit was answered"]
    accuracy = result.correct / result.digits
    # Written `not (good)`: a nan threshold or figure fails the smoke test instead of comparing false and passing.
    if not accuracy >= smoke.min_accuracy:
        problems.append(f"accuracy {accuracy:.3f} < minimum {smoke.min_accuracy:.3f} on {result.digits} digits")
    latency = p95(result.latencies_ms)
    if not latency <= smoke.p95_latency_ms:
        problems.append(f"p95 latency {latency:.0f} ms > budget {smoke.p95_latency_ms:.0f} ms")
    return problems


def attempts_per_batch(share_percent: int) -> int:
    """Enough re-sends that a target with this traffic share misses a batch with odds below MISS_ODDS."""
    return max(1, math.ceil(math.log(MISS_ODDS) / math.log(1 - share_percent / 100))) if share_percent < 100 else 1


def prediction_client(endpoint: aiplatform.Endpoint) -> aiplatform.gapic.PredictionServiceClient:
    """The PredictionService client endpoint.predict uses, made the way the SDK makes it (aiplatform.init's
    api_endpoint, transport and credentials, the endpoint's region); initializer.global_config is aiplatform.init's
    own state, the public way to a client with the same settings."""
    return initializer.global_config.create_client(
        client_class=aiplatform.gapic.PredictionServiceClient,
        credentials=endpoint.credentials,
        location_override=endpoint.location,
        prediction_client=True,
    )


def predict_request(endpoint_name: str, instances: list[Any]) -> aiplatform.gapic.PredictRequest:
    """endpoint.predict's request for these instances, their protobuf Values built once: ListValue.extend converts
    lists, floats and ints as the SDK's own conversion does (equal messages: tests/scripts/test_probe.py)."""
    values = struct_pb2.ListValue()
    values.extend(instances)
    request_type = aiplatform.gapic.PredictRequest
    return request_type.wrap(request_type.pb()(endpoint=endpoint_name, instances=values.values))


def send_digits(
    endpoint: aiplatform.Endpoint, x: np.ndarray, y: np.ndarray, target_id: str | None, attempts: int,
    classes: int = CLASSES,
) -> SmokeResult:  # fmt: skip
    """Predict every example once by the target (any deployed model when target_id is None)."""
    result, client = SmokeResult(classes=classes), prediction_client(endpoint)
    for start in range(0, len(x), DIGITS_PER_REQUEST):
        built = time.perf_counter()
        instances = x[start : start + DIGITS_PER_REQUEST].tolist()  # MNIST: rows of 28 x 28 floats, as the walkthrough
        request = predict_request(endpoint.resource_name, instances)
        building_s = time.perf_counter() - built
        labels = y[start : start + DIGITS_PER_REQUEST]
        for _ in range(attempts):
            began = time.perf_counter()
            response = client.predict(request=request)
            result.calls += 1
            if target_id is None or response.deployed_model_id == target_id:
                # As endpoint.predict hands them over: each prediction Value as a Python value.
                predictions = [json_format.MessageToDict(value) for value in type(response).pb(response).predictions]
                result.latencies_ms.append((building_s + time.perf_counter() - began) * 1000)
                record(result, predictions, labels)
                break
        else:
            raise StepError(f"deployed model {target_id} answered none of {attempts} requests")
    return result


def record(result: SmokeResult, predictions: Any, labels: np.ndarray) -> None:
    """Count one answered batch: its digits, the right answers and any schema problems."""
    classes, problems = check_rows(predictions, len(labels), result.classes)
    if result.first_label is None:
        result.first_label, result.first_predicted = int(labels[0]), classes[0]
    result.digits += len(labels)
    result.correct += int(np.sum(np.asarray(classes) == labels))
    result.problems += problems


def smoke_test(
    endpoint: aiplatform.Endpoint, target_id: str | None, smoke: Smoke, dataset: str, seed: int, count: int,
    task: Task = MNIST,
) -> tuple[SmokeResult, list[str]]:  # fmt: skip
    """Smoke-test one deployed model (or the whole endpoint): the result and every problem found."""
    began = time.perf_counter()
    x, y = load_digits(dataset, seed, count, task)
    share = endpoint.traffic_split.get(target_id, 0) if target_id else 100
    if not share > 0:
        raise StepError(f"deployed model {target_id} gets no traffic on {endpoint.resource_name}")
    result = send_digits(endpoint, x, y, target_id, attempts_per_batch(share), task.num_classes)
    result.seconds = time.perf_counter() - began
    return result, evaluate(result, smoke)


def summary(result: SmokeResult) -> dict[str, Any]:
    """The figures the steps record and print."""
    return {
        "digits": result.digits,
        "accuracy": round(result.correct / result.digits, 4) if result.digits else None,
        "p95_latency_ms": round(p95(result.latencies_ms), 1),
        "calls": result.calls,
        "seconds": round(result.seconds, 2),
        "real": result.first_label,
        "predicted": result.first_predicted,
    }


def walkthrough_lines(result: SmokeResult) -> str:
    """The walkthrough's closing lines, for test digit 0."""
    return f"real : {result.first_label}\npredicted : {result.first_predicted}"
