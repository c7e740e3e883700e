"""POST .../endpoints/{id}:predict: parse the instances, pick a deployed model by the traffic split, run them.

The hot path: it reads only the in-memory TrafficTable, never SQLite or disk. PredictRoute sits first in
the app's route table and speaks raw ASGI: one regex decides a request is a predict, and no Starlette
Request or Response objects are built for it. Errors are raised as ApiError and rendered by the app's
exception handlers, like every other route's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import orjson
from starlette.types import Receive, Scope, Send

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.http.bodies import ClientGone, read_body
from vertex_local.http.raw_route import RawRoute
from vertex_local.serving.forward import Forwarder
from vertex_local.serving.instances import InstancesParser
from vertex_local.serving.model_server import ModelServer
from vertex_local.serving.prometheus import ServingMetrics
from vertex_local.serving.traffic import TrafficTable

# As Starlette's "{param}" would match it: any run of characters but "/".
PREDICT_PATH = re.compile(
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/endpoints/(?P<endpoint>[^/]+):predict"
)


class PredictApi:
    def __init__(self, table: TrafficTable, server: ModelServer, metrics: ServingMetrics, limits: Serving,
                 forwarders: Mapping[str, Forwarder] | None = None) -> None:  # fmt: skip
        self.table = table
        self.forwarders = forwarders if forwarders is not None else {}  # models served by their own container
        self.server = server
        self.metrics = metrics
        self.limits = limits
        self.parser = InstancesParser(limits)  # used on the event loop's thread only

    async def predict(self, params: dict[str, str], body: bytes) -> bytes:
        """The JSON answer for one predict body sent to the endpoint named by the path's `params`."""
        endpoint_id = params["endpoint"]
        route = self.table.route(f"projects/{params['project']}/locations/{params['location']}", endpoint_id)
        target = route.pick(self.table.rng)
        deployed_id = target.deployed_model_id
        started = time.perf_counter()
        model_s = None
        self.table.begin(deployed_id)
        try:  # a bad body counts as an error of the model it was routed to, as Vertex's error_count does
            forwarder = self.forwarders.get(deployed_id)
            if forwarder is not None:  # its container parses the body and answers for itself (forward.py)
                self.table.check_available(deployed_id)
                entered = time.perf_counter()
                predictions = await forwarder.predict(body)
            else:
                await self.table.loaded(deployed_id)  # restored after a restart: wait for it, as a deploy would have
                instances = self.parser.parse(body, self.server.input_of(deployed_id))
                self.table.check_available(deployed_id)
                entered = time.perf_counter()
                predictions = await self.server.predict(deployed_id, instances)
            model_s = time.perf_counter() - entered
        except Exception:
            self.metrics.observe(endpoint_id, deployed_id, 0, time.perf_counter() - started, True)
            raise
        finally:
            self.table.end(deployed_id)
        self.metrics.observe(endpoint_id, deployed_id, len(predictions), time.perf_counter() - started, False, model_s)
        answer = {
            "predictions": predictions,
            "deployedModelId": deployed_id,
            "model": target.model,
            "modelVersionId": target.model_version_id,
            "modelDisplayName": target.model_display_name,
        }
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


class PredictRoute(RawRoute):
    """The :predict route as raw ASGI; put it first in the route table."""

    path, methods = PREDICT_PATH, ("POST",)

    def __init__(self, api: PredictApi) -> None:
        self.api = api

    def child_scope(self, found: re.Match[str]) -> Scope:
        return {"endpoint": self.api.predict, "path_params": found.groupdict()}

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
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
