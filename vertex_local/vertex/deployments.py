"""Deploy and undeploy models on endpoints, without ever interrupting a prediction in flight.

Deploy loads the model first (off the event loop), then switches the traffic split in one write.
Undeploy takes the model out of the split first, waits for its requests in flight, then unloads it.
Both answer a long-running operation; when the work ends within a few seconds the answer is already done.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.documents import EndpointDoc, OperationDoc
from vertex_local.errors import ApiError
from vertex_local.gcs import local_path
from vertex_local.http.bodies import read_json
from vertex_local.serving.model_server import ModelServer
from vertex_local.vertex.endpoint_service import KIND as ENDPOINT_KIND
from vertex_local.vertex.endpoint_service import EndpointService, checked_split, endpoint_name
from vertex_local.vertex.fields import (
    json_response,
    json_type,
    location_path,
    now,
    object_field,
    resource_id,
    text_field,
)
from vertex_local.vertex.model_registry import ModelRegistry, split_name
from vertex_local.vertex.operations import Operations, typed

LOG = logging.getLogger("vertex_local.deployments")
ANSWER_WAIT_S = 5.0  # how long a deploy/undeploy request waits to answer with a finished operation
V1 = "google.cloud.aiplatform.v1."


def import_tensorflow() -> None:
    try:
        importlib.import_module("tensorflow")
    except ImportError as exc:
        LOG.error("TensorFlow cannot be imported, so no model can be deployed: %s", exc)


def split_without(doc: EndpointDoc, deployed_id: str, requested: Any) -> dict[str, int]:
    """The endpoint's split once `deployed_id` is gone: the one requested, or the current one if it gave
    that model no traffic (or it is the last model)."""
    remaining = {deployed["id"] for deployed in doc["deployedModels"]} - {deployed_id}
    if isinstance(requested, dict) and deployed_id in requested:  # the SDK may name it at 0 %
        if requested[deployed_id] != 0:
            raise ApiError(400, f"trafficSplit gives {requested[deployed_id]}% to {deployed_id}, being undeployed")
        requested = {key: percent for key, percent in requested.items() if key != deployed_id}
    split = checked_split(requested, remaining, allow_new=False)
    if split:
        return split
    share = doc["trafficSplit"].get(deployed_id, 0)
    if share and remaining:
        raise ApiError(400, f"deployed model {deployed_id} still takes {share}% of the traffic; "
                       "send a trafficSplit without it", "FAILED_PRECONDITION")  # fmt: skip
    return {key: percent for key, percent in doc["trafficSplit"].items() if key != deployed_id}


class Deployments:
    def __init__(self, endpoints: EndpointService, registry: ModelRegistry, operations: Operations, server: ModelServer,
                 gcs_root: Path) -> None:  # fmt: skip
        self.endpoints = endpoints
        self.registry = registry
        self.operations = operations
        self.server = server
        self.gcs_root = gcs_root
        self.tasks: set[asyncio.Task] = set()
        self._warm_up: asyncio.Future | None = None

    def warm_up(self) -> asyncio.Future:
        """Import TensorFlow in the background, once (seconds of work the first deploy then skips)."""
        if self._warm_up is None:
            self._warm_up = asyncio.ensure_future(asyncio.to_thread(import_tensorflow))
        return self._warm_up

    async def deploy(self, request: Request) -> Response:
        parent = location_path(request)
        doc = self.endpoints.doc(parent, request.path_params["endpoint"])
        body = await read_json(request)
        spec = object_field(body, "deployedModel")
        model_id, version_ref = split_name(resource_id(str(spec.get("model") or ""), "models", parent))
        if not model_id:
            raise ApiError(400, "deployedModel.model is required")
        text_field(spec, "displayName", "deployedModel")
        for key in ("dedicatedResources", "automaticResources"):
            if key in spec and not isinstance(spec[key], dict):
                raise ApiError(400, f"deployedModel.{key} must be an object, got {json_type(spec[key])}")
        model_doc = self.registry.model(parent, model_id)
        version = self.registry.version(model_doc, version_ref)
        deployed_ids = {deployed["id"] for deployed in doc["deployedModels"]}
        split = checked_split(body.get("trafficSplit") or {}, deployed_ids, allow_new=True)
        entry = {
            "id": self._new_deployed_id(spec.get("id")),
            "model": f"{parent}/models/{model_id}",
            "modelVersionId": version["versionId"],
            "displayName": spec.get("displayName") or version.get("displayName", ""),
            **{k: spec[k] for k in ("dedicatedResources", "automaticResources") if k in spec},
        }
        serving = {
            "artifactUri": version.get("artifactUri", ""),
            "modelDisplayName": version.get("displayName", ""),
        }
        operation = self.operations.start(parent)
        return await self._answer(operation, self._deploy(doc["id"], parent, entry, serving, split, operation))

    def _new_deployed_id(self, wanted: Any) -> str:
        if not wanted:
            return self.endpoints.store.next_id()
        in_use = {d["id"] for doc in self.endpoints.store.list(ENDPOINT_KIND) for d in doc["deployedModels"]}
        if not str(wanted).isdigit() or str(wanted) in in_use or str(wanted) == "0":
            raise ApiError(400, f"deployedModel.id {wanted!r} must be numeric, non-zero and unused")
        return str(wanted)

    async def _deploy(self, endpoint_id: str, parent: str, entry: dict, serving: dict, split: dict, op: dict) -> None:
        deployed_id = entry["id"]
        what = f"{entry['model']}@{entry['modelVersionId']}"
        try:
            if not serving["artifactUri"]:
                raise ValueError("the model version has no artifactUri")
            await asyncio.to_thread(self.server.load, deployed_id, local_path(self.gcs_root, serving["artifactUri"]))
        except ValueError as exc:
            self.operations.fail(op, "FAILED_PRECONDITION", f"cannot deploy {what}: {exc}")
            return
        try:
            with self.endpoints.store.transaction():  # a crash leaves both writes or neither
                self._commit_deploy(endpoint_id, parent, entry, serving, split)
                self.operations.finish(op, typed(V1 + "DeployModelResponse", {"deployedModel": entry}))
        except ApiError as exc:
            await asyncio.to_thread(self.server.unload, deployed_id)
            self.operations.fail(op, "FAILED_PRECONDITION", f"cannot deploy {what}: {exc.message}")
            return
        LOG.info("deployed %s as %s on endpoint %s", what, deployed_id, endpoint_id)

    def _commit_deploy(self, endpoint_id: str, parent: str, entry: dict, serving: dict, split: dict) -> None:
        """Add the loaded model to the endpoint and switch the split in one write (no await in here)."""
        doc = self.endpoints.doc(parent, endpoint_id)
        deployed_ids = {deployed["id"] for deployed in doc["deployedModels"]}
        checked_split(split, deployed_ids, allow_new=True)  # another write may have undeployed a model meanwhile
        entry["createTime"] = now()
        doc["deployedModels"].append(entry)
        doc["serving"][entry["id"]] = serving
        if split:
            doc["trafficSplit"] = {(entry["id"] if key == "0" else key): percent for key, percent in split.items()}
        elif not deployed_ids:
            doc["trafficSplit"] = {entry["id"]: 100}  # the only model takes all traffic
        self.endpoints.save(doc)

    async def undeploy(self, request: Request) -> Response:
        parent = location_path(request)
        doc = self.endpoints.doc(parent, request.path_params["endpoint"])
        body = await read_json(request)
        deployed_id = str(body.get("deployedModelId") or "")
        if deployed_id not in doc["serving"]:
            raise ApiError(404, f"deployed model {deployed_id!r} not found on {endpoint_name(doc)}")
        split = split_without(doc, deployed_id, body.get("trafficSplit") or {})
        doc["deployedModels"] = [deployed for deployed in doc["deployedModels"] if deployed["id"] != deployed_id]
        doc["serving"].pop(deployed_id)
        doc["trafficSplit"] = split
        response = typed(V1 + "UndeployModelResponse")
        with self.endpoints.store.transaction():  # a crash leaves the split and the operation's answer, or neither
            operation = self.operations.set_pending_response(self.operations.start(parent), response)
            self.endpoints.save(doc)  # from here on no new request picks the model
        return await self._answer(operation, self._unload(deployed_id, operation, response))

    async def _unload(self, deployed_id: str, operation: dict, response: dict) -> None:
        await self.endpoints.table.drained(deployed_id)
        await asyncio.to_thread(self.server.unload, deployed_id)
        self.operations.finish(operation, response)
        LOG.info("undeployed %s", deployed_id)

    async def _answer(self, operation: OperationDoc, work: Any) -> Response:
        """Run the work in the background; answer with its operation, done if it ends soon enough."""
        task = asyncio.create_task(self._guarded(operation, work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        await asyncio.wait({task}, timeout=ANSWER_WAIT_S)
        return json_response(self.operations.current(operation))

    async def _guarded(self, operation: OperationDoc, work: Any) -> None:
        try:
            await work
        except Exception as exc:  # a bug must still end the operation, not leave it running forever
            LOG.exception("operation %s failed", operation["name"])
            self.operations.fail(operation, "INTERNAL", f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Let deploys, undeploys and the TensorFlow import under way finish."""
        started = [self._warm_up] if self._warm_up else []
        await asyncio.gather(*self.tasks, *started, return_exceptions=True)

    async def restore(self) -> None:
        """After a start: load every deployed model again and publish every endpoint to predict."""
        for doc in self.endpoints.store.list(ENDPOINT_KIND):
            for deployed_id, serving in doc["serving"].items():
                try:
                    path = local_path(self.gcs_root, serving["artifactUri"])
                    await asyncio.to_thread(self.server.load, deployed_id, path)
                except Exception as exc:
                    LOG.error("deployed model %s on %s cannot be loaded: %s", deployed_id, endpoint_name(doc), exc)
                    self.endpoints.table.mark_unavailable(deployed_id, str(exc))
            self.endpoints.table.publish(doc)
