"""Prometheus metrics for online prediction, scraped at GET /metrics of `python -m vertex_local serve`.

The series mirror what the Vertex AI console charts per endpoint and deployed model: requests,
predictions (instances), errors and latency. Each ServingMetrics owns its CollectorRegistry, so two
servers in one process (tests) never share counts.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LABELS = ("endpoint_id", "deployed_model_id")
# Seconds; fine at the low end, where a local predict lands (about a millisecond), up to a slow 10 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


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

    def observe(
        self, endpoint_id: str, deployed_model_id: str, predictions: int, latency_s: float, error: bool
    ) -> None:
        """Record one predict request."""
        labels = (endpoint_id, deployed_model_id)
        self.requests.labels(*labels).inc()
        if predictions:
            self.predictions.labels(*labels).inc(predictions)
        if error:
            self.errors.labels(*labels).inc()
        self.latency.labels(*labels).observe(latency_s)

    def scrape(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)

    def metrics_route(self) -> Route:
        """GET /metrics for a Starlette route table."""

        async def metrics(request: Request) -> Response:
            return Response(self.scrape(), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])
