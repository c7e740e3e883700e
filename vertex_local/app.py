"""The vertex-local Starlette app: one state object, one route table.

Served by `python -m vertex_local serve`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pipeline_config import Serving
from vertex_local.console.routes import ConsoleApi, console_routes
from vertex_local.errors import (
    ApiError,
    api_error_handler,
    client_gone_handler,
    http_exception_handler,
    internal_error_handler,
)
from vertex_local.gcs import ObjectStore
from vertex_local.gcs.routes import storage_routes
from vertex_local.serving.history import MetricsHistory
from vertex_local.serving.model_server import ModelServer
from vertex_local.serving.predict import PredictApi, PredictRoute
from vertex_local.serving.prometheus import LATENCY_BUCKETS, ServingMetrics
from vertex_local.serving.raw_predict import RawPredict
from vertex_local.serving.traffic import TrafficTable
from vertex_local.state import StateStore
from vertex_local.vertex.batch.service import BatchPredictionService, Settings
from vertex_local.vertex.containers import Containers
from vertex_local.vertex.deployments import Deployments
from vertex_local.vertex.endpoint_service import EndpointService
from vertex_local.vertex.jobs.service import JobService
from vertex_local.vertex.jobs.training_pipelines import TrainingPipelineService
from vertex_local.vertex.model_registry import ModelRegistry
from vertex_local.vertex.model_service import ModelService
from vertex_local.vertex.operations import Operations
from vertex_local.vertex.serving_copies import ServingCopies

LOG = logging.getLogger("vertex_local")
P = "/v1/projects/{project}/locations/{location}"


@dataclasses.dataclass(frozen=True)
class AppConfig:
    state_dir: Path
    limits: Serving
    workdir: Path  # where custom jobs' commands run: the repository root
    job_env: Mapping[str, str]  # the environment custom jobs start from
    storage_url: str  # this server's URL as jobs reach it: their STORAGE_EMULATOR_HOST
    buckets: tuple[BucketSpec, ...] = ()  # created at startup when missing (serve --staging-bucket)
    own_serving_image: str = ""  # this repository's serving image, by name (runtimes.py): served in-process
    # The date the prebuilt-image table (runtimes.PREBUILT_TF_DATES) is read at: None is the wall clock's; tests
    # fix it (serve --today) so that no test changes its answer on the day Google retires an image.
    today: datetime.date | None = None
    own_image_mode: str = "in-process"  # or "subprocess": its container.py as a process, :predict forwarded to it
    docker: bool = False  # a Docker engine answers here: other custom images run with `docker run`
    preload_tensorflow: bool = False  # import TensorFlow at start, in the background (serve --preload-tensorflow)

    def clock(self) -> Callable[[], datetime.date]:
        fixed = self.today
        return datetime.date.today if fixed is None else lambda: fixed


@dataclasses.dataclass(frozen=True)
class BucketSpec:
    name: str
    location: str
    project: str


@dataclasses.dataclass
class Services:
    """Everything the routes share; built once per app, no module globals."""

    store: StateStore
    objects: ObjectStore
    operations: Operations
    jobs: JobService
    pipelines: TrainingPipelineService
    batch: BatchPredictionService
    models: ModelService
    endpoints: EndpointService
    deployments: Deployments
    predict: PredictApi
    raw_predict: RawPredict
    server: ModelServer
    metrics: ServingMetrics
    history: MetricsHistory

    @classmethod
    def create(cls, config: AppConfig) -> Services:
        gcs_root = config.state_dir / "gcs"
        gcs_root.mkdir(parents=True, exist_ok=True)
        store = StateStore(config.state_dir / "state.sqlite3")
        objects = ObjectStore(gcs_root)
        operations = Operations(store)
        table = TrafficTable()
        server = ModelServer(config.limits)
        endpoints = EndpointService(store, operations, table)
        registry = ModelRegistry(store)
        containers = Containers(config.state_dir / "containers", config.storage_url, config.workdir, config.job_env,
                                config.own_serving_image, config.own_image_mode, config.docker)  # fmt: skip
        deployments = Deployments(
            endpoints,
            registry,
            operations,
            server,
            ServingCopies(objects, config.state_dir / "serving"),
            config.own_serving_image,
            config.clock(),
            containers,
        )
        metrics = ServingMetrics()
        predict = PredictApi(table, server, metrics, config.limits, containers.forwarders)
        batch_settings = Settings(config.state_dir / "batch", config.workdir, config.job_env, config.storage_url,
                                  config.limits)  # fmt: skip
        jobs = JobService(store, operations, objects, config.state_dir / "jobs", config.workdir, config.job_env,
                          config.storage_url, config.limits)  # fmt: skip
        return cls(
            store=store,
            objects=objects,
            operations=operations,
            jobs=jobs,
            pipelines=TrainingPipelineService(
                store,
                operations,
                jobs,
                registry,
                objects,
                deployments.warm_up,
                config.own_serving_image,
                config.clock(),
            ),
            batch=BatchPredictionService(store, operations, objects, registry, batch_settings),
            models=ModelService(
                registry,
                operations,
                endpoints.deployments_of,
                deployments.deploying_of,
                deployments.warm_up,
                config.own_serving_image,
                config.clock(),
            ),
            endpoints=endpoints,
            deployments=deployments,
            predict=predict,
            raw_predict=RawPredict(predict),
            server=server,
            metrics=metrics,
            history=MetricsHistory(config.state_dir / "metrics.sqlite3", LATENCY_BUCKETS, metrics.totals),
        )


def vertex_routes(s: Services) -> list[BaseRoute]:
    """The Vertex AI v1 subset. Routes with a ':verb' come before the plain ones they would also match."""
    jobs, models, endpoints, deploys = s.jobs, s.models, s.endpoints, s.deployments
    return [
        Route(P + "/customJobs/{job}:logs", jobs.logs, methods=["GET"]),
        *job_routes("customJobs", "job", jobs),
        *job_routes("batchPredictionJobs", "job", s.batch),
        *job_routes("trainingPipelines", "pipeline", s.pipelines),
        Route(P + "/models:upload", models.upload, methods=["POST"]),
        Route(P + "/models", models.list, methods=["GET"]),
        Route(P + "/models/{model}:listVersions", models.list_versions, methods=["GET"]),
        Route(P + "/models/{model}:mergeVersionAliases", models.merge_version_aliases, methods=["POST"]),
        Route(P + "/models/{model}:deleteVersion", models.delete_version, methods=["DELETE"]),
        Route(P + "/models/{model}", models.get, methods=["GET"]),
        Route(P + "/models/{model}", models.update, methods=["PATCH"]),
        Route(P + "/models/{model}", models.delete, methods=["DELETE"]),
        Route(P + "/endpoints", endpoints.create, methods=["POST"]),
        Route(P + "/endpoints", endpoints.list, methods=["GET"]),
        Route(P + "/endpoints/{endpoint}:deployModel", deploys.deploy, methods=["POST"]),
        Route(P + "/endpoints/{endpoint}:undeployModel", deploys.undeploy, methods=["POST"]),
        Route(P + "/endpoints/{endpoint}:rawPredict", s.raw_predict.raw_predict, methods=["POST"]),
        Route(P + "/endpoints/{endpoint}", endpoints.get, methods=["GET"]),
        Route(P + "/endpoints/{endpoint}", endpoints.update, methods=["PATCH"]),
        Route(P + "/endpoints/{endpoint}", endpoints.delete, methods=["DELETE"]),
        # The SDK polls unfinished operations under /ui/, not /v1/.
        *[
            Route(prefix + tail, s.operations.get, methods=["GET"])
            for prefix in (P, P.replace("/v1/", "/ui/", 1))
            for tail in ("/operations/{operation_id}", "/{collection}/{resource}/operations/{operation_id}")
        ],
    ]


def health_route(state_dir: Path) -> Route:
    """/healthz: ok, and which server answers (its pid and state dir), so `start` can tell that the server
    answering on its port is the one it started, not an earlier one still holding the port (daemon.py)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid(), "stateDir": str(state_dir)})

    return Route("/healthz", healthz, methods=["GET"])


class JobCollection(Protocol):
    """What the three kinds of job (custom jobs, batch prediction jobs, training pipelines) answer alike."""

    async def create(self, request: Request) -> Response: ...
    async def list(self, request: Request) -> Response: ...
    async def cancel(self, request: Request) -> Response: ...
    async def get(self, request: Request) -> Response: ...
    async def delete(self, request: Request) -> Response: ...


def job_routes(collection: str, param: str, service: JobCollection) -> list[BaseRoute]:
    """create, list, :cancel, get and delete of one job collection (`:cancel` before the plain `{id}` it matches)."""
    one = f"{P}/{collection}/{{{param}}}"
    return [
        Route(f"{P}/{collection}", service.create, methods=["POST"]),
        Route(f"{P}/{collection}", service.list, methods=["GET"]),
        Route(one + ":cancel", service.cancel, methods=["POST"]),
        Route(one, service.get, methods=["GET"]),
        Route(one, service.delete, methods=["DELETE"]),
    ]


def build_app(config: AppConfig) -> Starlette:
    services = Services.create(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        failed_jobs, ended_operations = services.jobs.recover(), services.operations.recover()
        failed_jobs += services.batch.recover() + services.pipelines.recover()
        if failed_jobs or ended_operations:
            LOG.warning(
                "restart: %d running job(s) marked FAILED, %d operation(s) ended",
                failed_jobs,
                ended_operations,
            )
        for bucket in config.buckets:
            if services.objects.ensure_bucket(bucket.name, bucket.location, bucket.project):
                LOG.info("created bucket gs://%s in %s", bucket.name, bucket.location)
        await services.server.start()
        await services.deployments.restore()
        if config.preload_tensorflow:
            services.deployments.preload()
        services.history.start()
        LOG.info("vertex-local ready, state in %s", config.state_dir)
        yield
        await services.jobs.shutdown()
        await services.pipelines.shutdown()
        await services.batch.shutdown()
        await services.history.close()
        await services.deployments.close()
        await services.server.close()
        services.store.close()
        services.objects.close()

    routes = [
        PredictRoute(services.predict),  # .../endpoints/{endpoint}:predict, the hot path: matched first
        health_route(config.state_dir),
        services.metrics.metrics_route(),
        *storage_routes(services.objects),
        *vertex_routes(services),
        *console_routes(ConsoleApi(services.store, services.history, services.server)),
    ]
    handlers = {
        ApiError: api_error_handler,
        HTTPException: http_exception_handler,
        ClientDisconnect: client_gone_handler,
        OSError: internal_error_handler,  # a full disk (503) or a failed read, from any store, answered once
        sqlite3.Error: internal_error_handler,
        Exception: internal_error_handler,
    }
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)  # type: ignore[arg-type]
