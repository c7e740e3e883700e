"""POST .../endpoints/{id}:predict: pick a deployed model by the traffic split and run the batch through it.

The hot path: it reads only the in-memory RoutingTable, never SQLite or disk.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from trainer.config import Serving
from vertex_local.errors import ApiError
from vertex_local.metrics import ServingMetrics
from vertex_local.resources import json_response, location_path
from vertex_local.routing import RoutingTable
from vertex_local.serving import ModelServer, parse_instances


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes (Vertex answers 400 for oversized payloads)."""
    too_big = ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


class PredictApi:
    def __init__(self, table: RoutingTable, server: ModelServer, metrics: ServingMetrics, limits: Serving) -> None:
        self.table = table
        self.server = server
        self.metrics = metrics
        self.limits = limits

    async def predict(self, request: Request) -> Response:
        endpoint_id = request.path_params["endpoint"]
        route = self.table.route(location_path(request), endpoint_id)
        body = await read_limited(request, self.limits.max_body_bytes)
        instances = parse_instances(body, self.limits)
        target = route.pick(self.table.rng)
        deployed_id = target.deployed_model_id
        if deployed_id in self.table.unavailable:
            raise ApiError(503, f"deployed model {deployed_id} is not loaded: {self.table.unavailable[deployed_id]}")
        started = time.perf_counter()
        self.table.in_flight[deployed_id] += 1
        try:
            predictions = await self.server.predict(deployed_id, instances)
        except Exception:
            self.metrics.observe(endpoint_id, deployed_id, 0, time.perf_counter() - started, True)
            raise
        finally:
            self.table.in_flight[deployed_id] -= 1
        self.metrics.observe(endpoint_id, deployed_id, len(predictions), time.perf_counter() - started, False)
        return json_response(
            {
                "predictions": predictions,
                "deployedModelId": deployed_id,
                "model": target.model,
                "modelVersionId": target.model_version_id,
                "modelDisplayName": target.model_display_name,
            }
        )
