"""Deploy and undeploy models on endpoints, one operation at a time per endpoint, never failing a prediction.

Deploy checks the request (deploy_requests.py), then, in its turn on the endpoint: copies the artifact into the
server's own serving folder (serving_copies.py), checks its ops against the serving image's TensorFlow
(runtimes.py), loads it off the event loop, and commits the endpoint and the operation's answer in one
transaction. Undeploy, in its turn, takes the model out of the split, waits for its requests in flight, then
unloads it and deletes its copy. Both answer a long-running operation, already done when the work ends
within a few seconds. While a deploy runs, its model cannot be deleted (ModelService asks `deploying_of`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from native_logs import first_tensorflow_import
from vertex_local.documents import OperationDoc
from vertex_local.errors import ApiError
from vertex_local.http.bodies import read_json
from vertex_local.numbers import is_ascii_digits
from vertex_local.serving.model_server import ModelServer
from vertex_local.vertex import runtimes
from vertex_local.vertex.containers import Containers
from vertex_local.vertex.deploy_requests import DeployPlan, changed_since, plan_deploy, split_without
from vertex_local.vertex.endpoint_service import KIND as ENDPOINT_KIND
from vertex_local.vertex.endpoint_service import EndpointService, checked_split, endpoint_name
from vertex_local.vertex.fields import json_response, location_path, now
from vertex_local.vertex.model_registry import ModelRegistry
from vertex_local.vertex.operations import DEPLOY_MODEL, UNDEPLOY_MODEL, V1, Operations, typed
from vertex_local.vertex.serving_copies import ServingCopies

LOG = logging.getLogger("vertex_local.deployments")
ANSWER_WAIT_S = 5.0  # how long a deploy/undeploy request waits to answer with a finished operation


def import_tensorflow() -> None:
    try:
        with first_tensorflow_import():  # the server never uses Keras: 1.2 s of CPU less
            importlib.import_module("tensorflow")
    except ImportError as exc:
        LOG.error("TensorFlow cannot be imported, so no model can be deployed: %s", exc)
    else:
        LOG.info("TensorFlow imported: deploys load models from now on without waiting for it")


def settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Deployments:
    def __init__(self, endpoints: EndpointService, registry: ModelRegistry, operations: Operations,
                 server: ModelServer, copies: ServingCopies, own_image: str = "",
                 today: Callable[[], datetime.date] = datetime.date.today,
                 containers: Containers | None = None) -> None:  # fmt: skip
        self.endpoints = endpoints
        self.registry = registry
        self.operations = operations
        self.server = server
        self.copies = copies
        self.own_image = own_image  # this repository's serving image, by name (runtimes.py)
        self.today = today  # the date the prebuilt-image table is read at (AppConfig.today)
        self.containers = containers  # serving containers (containers.py): None serves every model in-process
        self.tasks: set[asyncio.Task] = set()
        self.turns: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self.pending: dict[str, DeployPlan] = {}  # deployed model id -> a deploy not committed yet
        self._warm_up: asyncio.Future | None = None
        self._reloading: asyncio.Task | None = None  # a restart's reload of the deployed models (restore)

    def preload(self) -> None:
        """serve --preload-tensorflow: start the import now, so that the first deploy finds TensorFlow there."""
        LOG.info("importing TensorFlow in the background (--preload-tensorflow)")
        self.warm_up()

    def warm_up(self) -> asyncio.Future:
        """Import TensorFlow in the background, once (seconds of work the first deploy then skips). In a daemon
        thread of its own, not the loop's executor (which a stop joins): a server stopped before any deploy needed
        TensorFlow exits without waiting for the import, and the thread ends with the process."""
        if self._warm_up is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()

            def run() -> None:
                try:
                    import_tensorflow()
                finally:
                    with contextlib.suppress(RuntimeError):  # the loop has closed: the server stopped meanwhile
                        loop.call_soon_threadsafe(settle, future)

            threading.Thread(target=run, name="import-tensorflow", daemon=True).start()
            self._warm_up = future
        return self._warm_up

    def deploying_of(self, model_name: str) -> list[tuple[str, str, str]]:
        """Deploys of a model still running: [(version id, endpoint name, deployed model id)]."""
        return [
            (plan.entry["modelVersionId"], f"{plan.parent}/endpoints/{plan.endpoint_id}", f"{deployed_id} (deploying)")
            for deployed_id, plan in self.pending.items()
            if plan.entry["model"] == model_name
        ]

    async def deploy(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        doc = self.endpoints.doc(parent, request.path_params["endpoint"])
        plan = plan_deploy(
            parent, doc, body, self.registry, self._new_deployed_id, self.own_image, self.today(), self.containers
        )
        operation = self.operations.start(f"{parent}/endpoints/{doc['id']}", DEPLOY_MODEL)
        self.pending[plan.deployed_id] = plan  # no await since the checks: a model delete now sees it
        return await self._answer(operation, self._deploy(plan, operation))

    def _new_deployed_id(self, wanted: Any) -> str:
        if not wanted:
            return self.endpoints.store.next_id()
        in_use = {d["id"] for doc in self.endpoints.store.list(ENDPOINT_KIND) for d in doc["deployedModels"]}
        if not is_ascii_digits(str(wanted)) or str(wanted) in in_use | set(self.pending) or str(wanted) == "0":
            raise ApiError(400, f"deployedModel.id {wanted!r} must be numeric, non-zero and unused")
        return str(wanted)

    async def _deploy(self, plan: DeployPlan, operation: OperationDoc) -> None:
        try:
            async with self.turns[plan.endpoint_id]:
                await self._load_and_commit(plan, operation)
        finally:
            self.pending.pop(plan.deployed_id, None)

    async def _load_and_commit(self, plan: DeployPlan, operation: OperationDoc) -> None:
        await self.warm_up()  # TF imported whole first: importing its parts from two threads at once breaks
        if self.containers is not None:
            self.containers.loop = asyncio.get_running_loop()  # forwarders' connections are closed on it
        try:
            await asyncio.to_thread(self._load, plan)
        except (ValueError, OSError) as exc:  # no artifact, not a SavedModel, ops the runtime lacks, disk errors,
            # a container that exited or never answered its health route: nothing of it keeps running
            await asyncio.to_thread(self._forget, plan.deployed_id)
            self.operations.fail(operation, "FAILED_PRECONDITION", f"cannot deploy {plan.what}: {exc}")
            return
        try:
            with self.endpoints.store.transaction():  # a crash leaves both writes or neither
                entry = self._commit_deploy(plan)
                self.operations.finish(operation, typed(V1 + "DeployModelResponse", {"deployedModel": entry}))
        except ApiError as exc:
            await asyncio.to_thread(self._forget, plan.deployed_id)
            self.operations.fail(operation, exc.status, f"cannot deploy {plan.what}: {exc.message}")
            return
        LOG.info("deployed %s as %s on endpoint %s", plan.what, plan.deployed_id, plan.endpoint_id)

    def _load(self, plan: DeployPlan) -> None:
        """Copy, check and load the model, or start its container (blocking: runs in a worker thread)."""
        if "container" in plan.serving and self.containers is not None:
            self.containers.start(plan.deployed_id, plan.serving["container"], plan.serving["artifactUri"])
            return
        model_dir = self.copies.make(plan.deployed_id, plan.serving["artifactUri"])
        if not (model_dir / "saved_model.pb").is_file():
            raise ValueError(f"{plan.serving['artifactUri']} holds no saved_model.pb: it is not a SavedModel")
        if plan.tf_version is not runtimes.OWN_IMAGE:  # ours runs this very TensorFlow: loading it is the check
            runtimes.check_ops(model_dir, plan.tf_version)
        self.server.load(plan.deployed_id, model_dir)

    def _forget(self, deployed_id: str) -> None:
        if self.containers is not None:
            self.containers.stop(deployed_id)
        self.server.unload(deployed_id)
        self.copies.remove(deployed_id)

    def _commit_deploy(self, plan: DeployPlan) -> dict[str, Any]:
        """Add the loaded model to the endpoint and switch the split, checked against the endpoint as it is now
        and the version as it is now (no await in here); returns the DeployedModel."""
        doc = self.endpoints.doc(plan.parent, plan.endpoint_id)
        model = self.registry.model(plan.parent, plan.entry["model"].rsplit("/", 1)[1])
        self.registry.version(model, plan.entry["modelVersionId"])
        deployed_ids = {deployed["id"] for deployed in doc["deployedModels"]}
        checked_split(plan.split, deployed_ids, allow_new=True)  # an undeploy may have run meanwhile
        changed_since(plan, doc)
        entry = {**plan.entry, "createTime": now()}
        doc["deployedModels"].append(entry)
        doc["serving"][entry["id"]] = dict(plan.serving)
        if plan.split:
            doc["trafficSplit"] = {(entry["id"] if key == "0" else key): share for key, share in plan.split.items()}
        elif not deployed_ids:
            doc["trafficSplit"] = {entry["id"]: 100}  # the only model takes all traffic
        self.endpoints.save(doc)
        return entry

    async def undeploy(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        endpoint_id = request.path_params["endpoint"]
        deployed_id, requested = str(body.get("deployedModelId") or ""), body.get("trafficSplit") or {}
        self._checked_undeploy(parent, endpoint_id, deployed_id, requested)  # 4xx now, when it cannot work
        operation = self.operations.start(f"{parent}/endpoints/{endpoint_id}", UNDEPLOY_MODEL)
        return await self._answer(operation, self._undeploy(parent, endpoint_id, deployed_id, requested, operation))

    def _checked_undeploy(self, parent: str, endpoint_id: str, deployed_id: str, requested: Any) -> dict:
        """The endpoint without the deployed model; raises the ApiError that makes the undeploy impossible."""
        doc = self.endpoints.doc(parent, endpoint_id)
        if deployed_id not in doc["serving"]:
            raise ApiError(404, f"deployed model {deployed_id!r} not found on {endpoint_name(doc)}")
        split = split_without(doc, deployed_id, requested)
        doc["deployedModels"] = [deployed for deployed in doc["deployedModels"] if deployed["id"] != deployed_id]
        doc["serving"].pop(deployed_id)
        doc["trafficSplit"] = split
        return doc

    async def _undeploy(self, parent: str, endpoint_id: str, deployed_id: str, requested: Any,
                        operation: OperationDoc) -> None:  # fmt: skip
        response = typed(V1 + "UndeployModelResponse")
        async with self.turns[endpoint_id]:
            try:
                with self.endpoints.store.transaction():  # the split and the operation's answer, or neither
                    doc = self._checked_undeploy(parent, endpoint_id, deployed_id, requested)
                    self.operations.set_pending_response(operation, response)
                    self.endpoints.save(doc)  # from here on no new request picks the model
            except ApiError as exc:  # an operation before it on the endpoint changed what is deployed
                self.operations.fail(operation, exc.status, exc.message)
                return
            await self.endpoints.table.loaded(deployed_id)  # a restore under way: unload after it, not before
            await self.endpoints.table.drained(deployed_id)
            await asyncio.to_thread(self._forget, deployed_id)
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
        """Let deploys and undeploys under way finish (one waiting for the TensorFlow import waits for it here);
        a restart's reload still waiting for the import is cancelled (nothing will be served now), and an import
        nothing waits for is left to end with the process (warm_up)."""
        if self._reloading is not None and self._warm_up is not None and not self._warm_up.done():
            self._reloading.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.containers is not None:
            await asyncio.to_thread(self.containers.stop_all)

    async def restore(self) -> None:
        """After a start: publish every endpoint to predict at once, delete the serving copies no endpoint uses
        (left by a crash mid-deploy or mid-undeploy), and load the deployed models again in the background, so
        the server answers (health, the API) without waiting for TensorFlow; a predict routed to a model still
        loading waits for it (TrafficTable.loaded), one that cannot be loaded answers 503. Serving containers
        start again in the background too (they read the model from this server once it listens)."""
        deployed: set[str] = set()
        restoring: list[tuple[str, dict[str, Any], str]] = []  # (deployed model id, its serving, endpoint name)
        if self.containers is not None:
            self.containers.loop = asyncio.get_running_loop()
            stopped = await asyncio.to_thread(self.containers.sweep)
            if stopped:
                LOG.warning("restart: stopped %d process(es) of serving containers a crash left running", stopped)
        for doc in self.endpoints.store.list(ENDPOINT_KIND):
            for deployed_id, serving in doc["serving"].items():
                deployed.add(deployed_id)
                if "container" in serving and self.containers is not None:
                    self.endpoints.table.mark_unavailable(deployed_id, "its serving container is starting")
                    task = asyncio.create_task(self._restart_container(endpoint_name(doc), deployed_id, serving))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                    continue
                self.endpoints.table.mark_loading(deployed_id)
                restoring.append((deployed_id, serving, endpoint_name(doc)))
            self.endpoints.table.publish(doc)
        removed = await asyncio.to_thread(self.copies.keep_only, deployed)
        if removed:
            LOG.warning("restart: removed serving copies no endpoint uses: %s", removed)
        if restoring:
            task = self._reloading = asyncio.create_task(self._reload_all(restoring))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _reload_all(self, restoring: list[tuple[str, dict[str, Any], str]]) -> None:
        table, done = self.endpoints.table, 0
        try:
            await asyncio.shield(self.warm_up())  # TF imported whole first: a deploy may load beside these
            for deployed_id, serving, endpoint in restoring:
                try:
                    await asyncio.to_thread(self._reload, deployed_id, serving)
                except Exception as exc:
                    LOG.error("deployed model %s on %s cannot be loaded: %s", deployed_id, endpoint, exc)
                    table.mark_unavailable(deployed_id, str(exc))
                table.mark_loaded(deployed_id)
                done += 1
            LOG.info("restart: %d deployed model(s) restored", done)
        finally:  # cancelled at shutdown: nothing may wait for a load that will not come
            for deployed_id, _, _ in restoring[done:]:
                table.mark_unavailable(deployed_id, "vertex-local stopped before it was loaded")
                table.mark_loaded(deployed_id)

    async def _restart_container(self, endpoint: str, deployed_id: str, serving: dict[str, Any]) -> None:
        """Start a deployed model's container again, in the background: it copies the model from this server."""
        assert self.containers is not None
        try:
            await asyncio.to_thread(self.containers.start, deployed_id, serving["container"], serving["artifactUri"])
        except (ValueError, OSError) as exc:
            LOG.error("deployed model %s on %s cannot be served: %s", deployed_id, endpoint, exc)
            self.endpoints.table.mark_unavailable(deployed_id, str(exc))
            return
        self.endpoints.table.mark_available(deployed_id)

    def _reload(self, deployed_id: str, serving: dict[str, Any]) -> None:
        artifact_uri = serving["artifactUri"]
        model_dir = self.copies.path(deployed_id)
        if not model_dir.is_dir():  # deployed by a vertex-local that served from the bucket: copy it now
            model_dir = self.copies.make(deployed_id, artifact_uri)
        self.server.load(deployed_id, model_dir)
