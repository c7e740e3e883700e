"""The console's routes: its page and files under /console/, and the reads the Vertex API has no method for."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from vertex_local.errors import ApiError
from vertex_local.serving.history import WINDOWS, MetricsHistory
from vertex_local.state import StateStore
from vertex_local.vertex.fields import json_response
from vertex_local.vertex.jobs.runner import output_env

STATIC = Path(__file__).parent / "static"
# Any site the user visits can point a browser at this server: the console runs only its own files (no inline
# code, so nothing injected can run), and no other site may frame it to steer clicks.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The document kinds vertex/model_registry.py, endpoint_service.py and job_service.py store.
RESOURCE_KINDS = ("model", "endpoint", "customJob")


class ConsoleFiles(StaticFiles):
    """The console's static files, with its security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


class ConsoleApi:
    def __init__(self, store: StateStore, history: MetricsHistory) -> None:
        self.store = store
        self.history = history

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse("/console/")

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def locations(self, request: Request) -> Response:
        """Every projects/P/locations/L that holds a model, an endpoint or a custom job: the console's picker."""
        parents = {doc["parent"] for kind in RESOURCE_KINDS for doc in self.store.list(kind)}
        return json_response({"locations": sorted(parents)})

    async def endpoint_metrics(self, request: Request) -> Response:
        """?window=5m|1h|6h|1d|7d|30d: the endpoint's serving figures per deployed model, slot by slot."""
        window = request.query_params.get("window", "1h")
        if window not in WINDOWS:
            raise ApiError(400, f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
        endpoint_id = request.path_params["endpoint"]
        answer = await asyncio.to_thread(self.history.query, endpoint_id, window)
        return json_response(answer)

    async def job_environment(self, request: Request) -> Response:
        """The variables vertex-local set for a custom job's replicas (AIP_*, CLOUD_ML_JOB_ID), never the server's
        own environment: that may hold secrets."""
        parent = f"projects/{request.path_params['project']}/locations/{request.path_params['location']}"
        doc = self.store.get("customJob", request.path_params["job"])
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"customJob {parent}/customJobs/{request.path_params['job']} not found")
        environment = {**output_env(doc["jobSpec"]), "CLOUD_ML_JOB_ID": doc["id"]}
        return json_response({"environment": environment})


def console_routes(api: ConsoleApi) -> list[BaseRoute]:
    job = "/console/api/projects/{project}/locations/{location}/customJobs/{job}"
    return [
        Route("/console", api.redirect, methods=["GET"]),
        Route("/console/", api.index, methods=["GET"]),
        Mount("/console/static", ConsoleFiles(directory=STATIC), name="console-static"),
        Route("/console/api/locations", api.locations, methods=["GET"]),
        Route("/console/api/endpoints/{endpoint}/metrics", api.endpoint_metrics, methods=["GET"]),
        Route(job + "/environment", api.job_environment, methods=["GET"]),
    ]
