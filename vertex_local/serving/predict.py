"""POST .../endpoints/{id}:predict: parse the instances, pick a deployed model by the traffic split, run them.

The hot path: it reads only the in-memory TrafficTable, never SQLite or disk. PredictRoute sits first in
the app's route table and speaks raw ASGI: one regex decides a request is a predict, and no Starlette
Request or Response objects are built for it. Errors are raised as ApiError and rendered by the app's
exception handlers, like every other route's.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import orjson
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.http.bodies import ClientGone, read_body
from vertex_local.serving.model_server import IMAGE_SHAPE, INPUT_NAME, ModelServer
from vertex_local.serving.prometheus import ServingMetrics
from vertex_local.serving.traffic import TrafficTable

# As Starlette's "{param}" would match it: any run of characters but "/".
PREDICT_PATH = re.compile(
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/endpoints/(?P<endpoint>[^/]+):predict"
)


class PredictApi:
    def __init__(self, table: TrafficTable, server: ModelServer, metrics: ServingMetrics, limits: Serving) -> None:
        self.table = table
        self.server = server
        self.metrics = metrics
        self.limits = limits

    async def predict(self, params: dict[str, str], body: bytes) -> bytes:
        """The JSON answer for one predict body sent to the endpoint named by the path's `params`."""
        endpoint_id = params["endpoint"]
        route = self.table.route(f"projects/{params['project']}/locations/{params['location']}", endpoint_id)
        target = route.pick(self.table.rng)
        deployed_id = target.deployed_model_id
        started = time.perf_counter()
        self.table.begin(deployed_id)
        try:  # a bad body counts as an error of the model it was routed to, as Vertex's error_count does
            instances = parse_instances(body, self.limits)
            self.table.check_available(deployed_id)
            predictions = await self.server.predict(deployed_id, instances)
        except Exception:
            self.metrics.observe(endpoint_id, deployed_id, 0, time.perf_counter() - started, True)
            raise
        finally:
            self.table.end(deployed_id)
        self.metrics.observe(endpoint_id, deployed_id, len(predictions), time.perf_counter() - started, False)
        answer = {
            "predictions": predictions,
            "deployedModelId": deployed_id,
            "model": target.model,
            "modelVersionId": target.model_version_id,
            "modelDisplayName": target.model_display_name,
        }
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


class PredictRoute(BaseRoute):
    """The :predict route as raw ASGI; put it first in the route table."""

    def __init__(self, api: PredictApi) -> None:
        self.api = api

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = PREDICT_PATH.fullmatch(scope["path"])
        if found is None:
            return Match.NONE, {}
        child_scope = {"endpoint": self.api.predict, "path_params": found.groupdict()}
        return (Match.FULL if scope["method"] == "POST" else Match.PARTIAL), child_scope

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            raise HTTPException(405, headers={"Allow": "POST"})
        limit = self.api.limits.max_body_bytes  # Vertex answers 400 for an oversized predict payload
        try:
            body = await read_body(
                scope, receive, limit, ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")
            )
        except ClientGone:
            return
        answer = await self.api.predict(scope["path_params"], body)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def parse_instances(body: bytes, limits: Serving) -> np.ndarray:
    """A predict body's `instances` as float32 [n, 28, 28]; every bad input is an ApiError 400."""
    if len(body) > limits.max_body_bytes:
        raise ApiError(400, f"request body is {len(body)} bytes, more than the {limits.max_body_bytes} allowed")
    try:
        payload = orjson.loads(body)  # refuses NaN and Infinity: they are not JSON
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, 'request body must be a JSON object like {"instances": [...]}')
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise ApiError(400, "'instances' must be a non-empty list of 28x28 images")
    if len(instances) > limits.max_instances:
        raise ApiError(400, f"{len(instances)} instances in one request, more than the {limits.max_instances} allowed")
    return images_array(unwrap_named_inputs(instances))


def unwrap_named_inputs(instances: list) -> list:
    """TF Serving's object form: each instance {"image": <28x28>} names the model's one input."""
    if not isinstance(instances[0], dict):
        return instances
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != {INPUT_NAME}:
            keys = sorted(instance) if isinstance(instance, dict) else type(instance).__name__
            raise ApiError(
                400, f"instance {index} is {keys}: in the object form every instance is {{'image': <28x28>}}"
            )
    return [instance[INPUT_NAME] for instance in instances]


def images_array(instances: list) -> np.ndarray:
    try:
        raw = np.asarray(instances)  # one pass in C: no per-number Python work
    except (ValueError, TypeError, RecursionError):
        raise ApiError(400, "instances are ragged or nested too deeply: each must be 28 rows of 28 numbers") from None
    if raw.dtype.kind not in "iuf":
        raise ApiError(400, "instance values must all be numbers (found strings, booleans, nulls or ragged rows)")
    if raw.ndim > 3:
        raise ApiError(400, f"instances are nested {raw.ndim} levels deep: each must be 28 rows of 28 numbers")
    if raw.shape[1:] != IMAGE_SHAPE:
        raise ApiError(
            400,
            f"each instance must be 28 rows of 28 numbers (shape [n, 28, 28]), got shape {list(raw.shape)}",
        )
    with np.errstate(over="ignore"):
        images = raw.astype(np.float32)
    if not np.isfinite(images).all():
        raise ApiError(400, "instance values must be finite float32 numbers")
    return images
