"""/metrics against the load that made it: a known mix of predictions and errors on an endpoint with two
deployed models, then every count and the latency histogram checked per endpoint and deployed model.

Run: .venv/bin/pytest tests/vertex_local/test_metrics_accounting.py
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import numpy as np
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.rest_client import HttpClient, deploy, deploy_over_rest, predict_body, upload_model
from tests.support.vertex_local_server import VertexLocal
from vertex_local.serving.prometheus import LATENCY_BUCKETS

SHARED_REQUESTS = 240  # at 50/50, then errors sent to each model alone
BAD_BODIES = [b"{not json", b'{"instances": []}', b'{"instances": [[1, 2, 3]]}', b'{"instances": [NaN]}',
              json.dumps({"instances": [[["x"] * 28] * 28]}).encode(), b'{"rows": 1}']  # fmt: skip


def series(server: VertexLocal, endpoint_id: str) -> dict[tuple[str, str], float]:
    """(sample name, deployed model id) -> value, plus ("le=<bound>", id) for the total latency's buckets and
    ("model le=<bound>", id) for the model latency's."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(requests.get(f"{server.url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.labels.get("endpoint_id") != endpoint_id:
                continue
            name = f"le={sample.labels['le']}" if sample.name.endswith("_bucket") else sample.name
            if sample.name == "vertex_local_prediction_model_latency_seconds_bucket":
                name = f"model {name}"
            found[(name, sample.labels["deployed_model_id"])] = sample.value
    return found


class Tally:
    """What the client sent and saw, per deployed model."""

    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.predictions: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)

    def send(self, client: HttpClient, path: str, body: bytes, routed_to: str | None = None) -> None:
        """One predict; a success names its model, an error is credited to `routed_to` (a 100 % split)."""
        started = time.perf_counter()
        answer = client.request("POST", path, body, {"content-type": "application/json"})
        elapsed = time.perf_counter() - started
        if answer.status == 200:
            deployed_id = answer.json()["deployedModelId"]
            self.predictions[deployed_id] += len(answer.json()["predictions"])
        else:
            assert answer.status == 400 and routed_to is not None, answer.body
            deployed_id = routed_to
            self.errors[deployed_id] += 1
        self.requests[deployed_id] += 1
        self.latencies[deployed_id].append(elapsed)


def set_split(client: HttpClient, server: VertexLocal, endpoint_id: str, split: dict[str, int]) -> None:
    path = f"/v1/{server.parent}/endpoints/{endpoint_id}?updateMask=trafficSplit"
    assert client.json("PATCH", path, {"trafficSplit": split}).status == 200


def test_metrics_match_the_requests_predictions_errors_and_latencies_sent_to_each_deployed_model(
    vertex_local: VertexLocal, trained_model_dir: Path, mnist_test_digits
) -> None:
    uri = vertex_local.stage_model(trained_model_dir, "metrics-accounting")
    first = deploy_over_rest(vertex_local, uri, "metrics-accounting")
    client, tally = HttpClient(vertex_local.url), Tally()
    a, endpoint_id, path = first.deployed_model_id, first.endpoint_id, first.predict_path(vertex_local)
    b = deploy(
        client, vertex_local, endpoint_id, upload_model(client, vertex_local, "metrics-b", uri), {a: 50, "0": 50}
    )
    digits = mnist_test_digits[0]
    for index in range(SHARED_REQUESTS):
        tally.send(client, path, predict_body(digits[index % 50 : index % 50 + 1 + index % 3]))  # 1-3 digits
    for alone, count in ((a, 13), (b, 7)):
        set_split(client, vertex_local, endpoint_id, {a: 100, b: 0} if alone == a else {a: 0, b: 100})
        for index in range(count):
            tally.send(client, path, BAD_BODIES[index % len(BAD_BODIES)], routed_to=alone)
        tally.send(client, path, predict_body(digits[:4]))
    missing = f"/v1/{vertex_local.parent}/endpoints/987654321:predict"
    assert client.json("POST", missing, {"instances": digits[:1].tolist()}).status == 404  # no model: in no series
    client.close()

    found = series(vertex_local, endpoint_id)
    assert {deployed for _, deployed in found} == {a, b}
    assert min(tally.requests[a], tally.requests[b]) > SHARED_REQUESTS / 4  # both took a share at 50/50
    for deployed in (a, b):
        assert found[("vertex_local_prediction_requests_total", deployed)] == tally.requests[deployed]
        assert found[("vertex_local_predictions_total", deployed)] == tally.predictions[deployed]
        assert found[("vertex_local_prediction_errors_total", deployed)] == tally.errors[deployed]
        assert found[("vertex_local_prediction_latency_seconds_count", deployed)] == tally.requests[deployed]
        # The server times part of what the client waits for: its histogram can only be faster.
        assert 0 < found[("vertex_local_prediction_latency_seconds_sum", deployed)] <= sum(tally.latencies[deployed])
        client_seen = np.array(tally.latencies[deployed])
        for bound in LATENCY_BUCKETS:
            assert found[(f"le={bound}", deployed)] >= (client_seen <= bound).sum(), bound
        assert found[("le=+Inf", deployed)] == tally.requests[deployed]
        # Time inside the model: only requests that reached it (not the bad bodies), and never more than the total.
        good = tally.requests[deployed] - tally.errors[deployed]
        assert found[("model le=+Inf", deployed)] == good
        inside = found[("vertex_local_prediction_model_latency_seconds_sum", deployed)]
        assert 0 < inside < found[("vertex_local_prediction_latency_seconds_sum", deployed)]
    assert (tally.errors[a], tally.errors[b]) == (13, 7)
