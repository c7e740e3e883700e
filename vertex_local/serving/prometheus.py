"""Prometheus metrics for online prediction, scraped at GET /metrics of `python -m vertex_local serve`.

The series mirror what the Vertex AI console charts per endpoint and deployed model: requests,
predictions (instances), errors and latency. Each ServingMetrics owns its CollectorRegistry, so two
servers in one process (tests) never share counts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LABELS = ("endpoint_id", "deployed_model_id")
# Seconds; fine at the low end, where a local predict lands (about a millisecond), up to a slow 10 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
TOTAL_FIELDS = {"vertex_local_prediction_requests_total": "requests", "vertex_local_predictions_total": "predictions",
                "vertex_local_prediction_errors_total": "errors"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Totals:
    """One deployed model's counts since the server started; buckets are cumulative, as Prometheus's `le`."""

    requests: int = 0
    predictions: int = 0
    errors: int = 0
    buckets: tuple[int, ...] = ()  # one per LATENCY_BUCKETS bound, then +Inf
    model_buckets: tuple[int, ...] = ()  # the same for the time inside the model; () before its first answer


class ServingMetrics:
    """Counters and a latency histogram, labelled by endpoint and deployed model."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vertex_local_prediction_requests",
            "Predict requests answered, successful or not",
            LABELS,
            registry=self.registry,
        )
        self.predictions = Counter("vertex_local_predictions", "Instances predicted", LABELS, registry=self.registry)
        self.errors = Counter(
            "vertex_local_prediction_errors", "Predict requests that failed", LABELS, registry=self.registry
        )
        self.latency = Histogram(
            "vertex_local_prediction_latency_seconds",
            "Time from a predict request's arrival to its answer",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Google's console charts this beside the total as "model latency"; here it is the model's own call
        # (batching and TensorFlow), without parsing the body and writing the answer.
        self.model_latency = Histogram(
            "vertex_local_prediction_model_latency_seconds",
            "Time a predict request spent inside the model",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # labels() hashes and validates its values under a lock on every call; a request looks its five
        # series up here instead, each created by labels() the first time, exactly when it would have been.
        self._children: dict[tuple[int, tuple[str, str]], Any] = {}

    def _child(self, metric: Any, labels: tuple[str, str]) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(
        self,
        endpoint_id: str,
        deployed_model_id: str,
        predictions: int,
        latency_s: float,
        error: bool,
        model_latency_s: float | None = None,
    ) -> None:
        """Record one predict request; model_latency_s is None when it never reached the model."""
        labels = (endpoint_id, deployed_model_id)
        self._child(self.requests, labels).inc()
        if predictions:
            self._child(self.predictions, labels).inc(predictions)
        if error:
            self._child(self.errors, labels).inc()
        self._child(self.latency, labels).observe(latency_s)
        if model_latency_s is not None:
            self._child(self.model_latency, labels).observe(model_latency_s)

    def scrape(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)

    def metrics_route(self) -> Route:
        """GET /metrics for a Starlette route table."""

        async def metrics(request: Request) -> Response:
            return Response(self.scrape(), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])

    def totals(self) -> dict[tuple[str, str], Totals]:
        """Every deployed model's counts so far, by (endpoint id, deployed model id): what serving/history.py
        samples. It reads the registry as a scrape does; observe() pays nothing for it."""
        counts: dict[tuple[str, str], dict[str, int]] = {}
        buckets: dict[tuple[str, str], list[int]] = {}
        model_buckets: dict[tuple[str, str], list[int]] = {}
        for family in self.registry.collect():
            for sample in family.samples:  # a histogram's buckets come in `le` order, +Inf last
                key = (sample.labels["endpoint_id"], sample.labels["deployed_model_id"])
                if sample.name in TOTAL_FIELDS:
                    counts.setdefault(key, {})[TOTAL_FIELDS[sample.name]] = int(sample.value)
                elif sample.name == "vertex_local_prediction_model_latency_seconds_bucket":
                    model_buckets.setdefault(key, []).append(int(sample.value))
                elif sample.name.endswith("_bucket"):
                    buckets.setdefault(key, []).append(int(sample.value))
        keys = counts.keys() | buckets.keys()
        return {
            key: Totals(
                **counts.get(key, {}),
                buckets=tuple(buckets.get(key, ())),
                model_buckets=tuple(model_buckets.get(key, ())),
            )
            for key in keys
        }
