"""The console's routes: its page and files under /console/, and the reads the Vertex API has no method for."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tasks import TaskError, load_task
from tasks.mnist import TASK as MNIST
from vertex_local.errors import ApiError
from vertex_local.serving.history import WINDOWS, MetricsHistory
from vertex_local.serving.model_server import ModelServer
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
# The document kinds vertex/model_registry.py, endpoint_service.py and jobs/service.py store.
RESOURCE_KINDS = ("model", "endpoint", "customJob")
TASK_SAMPLES = 10  # examples the test tab offers for a task it cannot draw: the first of each class, up to this


class ConsoleFiles(StaticFiles):
    """The console's static files, with its security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


class ConsoleApi:
    def __init__(self, store: StateStore, history: MetricsHistory, server: ModelServer | None = None) -> None:
        self.store = store
        self.history = history
        self.server = server

    async def redirect(self, request: Request) -> Response:
        return RedirectResponse("/console/")

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def locations(self, request: Request) -> Response:
        """Every projects/P/locations/L that holds a model, an endpoint or a custom job: the console's picker."""
        parents = {doc["parent"] for kind in RESOURCE_KINDS for doc in self.store.list(kind)}
        return json_response({"locations": sorted(parents)})

    async def endpoint_metrics(self, request: Request) -> Response:
        """?window=5m|1h|6h|12h|1d|7d|30d: the endpoint's serving figures per deployed model, slot by slot."""
        window = request.query_params.get("window", "1h")
        if window not in WINDOWS:
            raise ApiError(400, f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
        endpoint_id = request.path_params["endpoint"]
        answer = await asyncio.to_thread(self.history.query, endpoint_id, window)
        return json_response(answer)

    async def endpoint_task(self, request: Request) -> Response:
        """The task of the model taking most of the endpoint's traffic (its metrics.json's `task`; MNIST for models
        trained before tasks existed): its input, labels and a few test examples, for the test tab."""
        endpoint_id = request.path_params["endpoint"]
        doc = self.store.get("endpoint", endpoint_id)
        split = (doc or {}).get("trafficSplit") or {}
        if not split or self.server is None:
            raise ApiError(404, f"endpoint {endpoint_id} serves no model")
        deployed_id = max(split, key=lambda key: split[key])
        model_dir = self.server.model_dir_of(deployed_id)
        if model_dir is None:
            raise ApiError(404, f"deployed model {deployed_id} is not loaded on this server")
        name = task_name(model_dir / "metrics.json")
        try:
            task = load_task(name)
        except TaskError as exc:
            raise ApiError(404, f"deployed model {deployed_id}: {exc}") from None
        # The drawing pad (digit.js) makes MNIST's images and the page has their sample file; others get a few test
        # examples to send.
        drawable = task.is_image and task.input_shape == MNIST.input_shape
        samples = [] if drawable else await asyncio.to_thread(task_samples, name)
        return json_response({**task.describe(), "deployedModelId": deployed_id, "samples": samples})

    async def job_outputs(self, request: Request) -> Response:
        """Each custom job's AIP_MODEL_DIR in a location: how the console links a job to the versions registered
        from what it wrote (a version's artifactUri) and back."""
        parent = f"projects/{request.path_params['project']}/locations/{request.path_params['location']}"
        jobs = []
        for doc in self.store.list("customJob"):
            if doc["parent"] != parent:
                continue
            try:
                model_dir = output_env(doc["jobSpec"]).get("AIP_MODEL_DIR")
            except ApiError:  # a spec the service refused never ran; it has no output to link
                model_dir = None
            if model_dir:
                jobs.append({"job": doc["id"], "displayName": doc.get("displayName", ""), "modelDir": model_dir})
        return json_response({"jobs": jobs})

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
        Route("/console/api/endpoints/{endpoint}/task", api.endpoint_task, methods=["GET"]),
        Route(job + "/environment", api.job_environment, methods=["GET"]),
        Route("/console/api/projects/{project}/locations/{location}/jobOutputs", api.job_outputs, methods=["GET"]),
    ]


def task_name(metrics_path: Path) -> str:
    """The `task` a run's metrics.json records; MNIST's when it records none or cannot be read."""
    try:
        recorded = json.loads(metrics_path.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return MNIST.name
    return recorded if isinstance(recorded, str) else MNIST.name


@functools.cache
def task_samples(name: str) -> list[dict[str, Any]]:
    """The first test example of each class of the task's offline dataset (blocking: loads the data once)."""
    task = load_task(name)
    x, y = task.samples(len(task.labels) * 50)
    firsts = [int(next(iter((y == label).nonzero()[0]), -1)) for label in range(task.num_classes)]
    picked = [index for index in firsts if index >= 0][:TASK_SAMPLES]
    return [{"label": int(y[i]), "labelName": task.labels[int(y[i])], "instance": task.instances(x[i : i + 1])[0]}
            for i in picked]  # fmt: skip
