"""Vertex AI EndpointService routes: create, get, list, update (traffic split), delete.

Deploying and undeploying live in vertex/deployments.py. An endpoint document keeps, besides the
Endpoint resource's fields, a private "serving" map (deployed model id -> artifact and display name)
that a restart needs to load every deployed model again. Handlers read the request body first and
change a stored endpoint in one transaction that re-reads it, so no concurrent write is lost.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.documents import EndpointDoc
from vertex_local.errors import ApiError
from vertex_local.http.bodies import read_json
from vertex_local.serving.traffic import TrafficTable
from vertex_local.state import StateStore
from vertex_local.vertex.fields import (
    display_name_field,
    json_response,
    labels_field,
    location_path,
    now,
    text_field,
    update_mask,
)
from vertex_local.vertex.filters import compile_filter
from vertex_local.vertex.operations import CREATE_ENDPOINT, DELETE, EMPTY, Operations, typed

KIND = "endpoint"
ENDPOINT_ID_CHARS = set("0123456789")
# ListEndpoints' filter: "endpoint supports = and !=. endpoint represents the Endpoint ID ... display_name
# supports = and !=. labels supports general map functions" (v1 REST reference, endpoints.list).
FILTER_FIELDS = {"endpoint", "displayName"}
UPDATABLE = {"displayName", "description", "labels", "trafficSplit"}
PRIVATE_KEYS = {"id", "parent", "serving"}


def checked_split(split: Any, deployed_ids: set[str], allow_new: bool) -> dict[str, int]:
    """A traffic split naming only deployed models (and "0", the one being deployed), summing to 100."""
    if not isinstance(split, dict):
        raise ApiError(400, "trafficSplit must be an object of deployed model id -> percent")
    for key, percent in split.items():
        if key not in deployed_ids and not (allow_new and key == "0"):
            raise ApiError(400, f"trafficSplit names deployed model {key!r}, which is not deployed on this endpoint")
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            raise ApiError(400, f"trafficSplit[{key!r}] = {percent!r}: must be an integer from 0 to 100")
    total = sum(split.values())
    if split and total != 100:
        raise ApiError(400, f"trafficSplit percentages must sum to 100, got {total}")
    return dict(split)


def endpoint_name(doc: EndpointDoc) -> str:
    return f"{doc['parent']}/endpoints/{doc['id']}"


def render(doc: EndpointDoc) -> dict[str, Any]:
    return {"name": endpoint_name(doc), **{k: v for k, v in doc.items() if k not in PRIVATE_KEYS}}


class EndpointService:
    def __init__(self, store: StateStore, operations: Operations, table: TrafficTable) -> None:
        self.store = store
        self.operations = operations
        self.table = table

    def doc(self, parent: str, endpoint_id: str) -> EndpointDoc:
        doc = self.store.get(KIND, endpoint_id)
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"endpoint {parent}/endpoints/{endpoint_id} not found")
        return doc

    def save(self, doc: EndpointDoc) -> None:
        """Write an endpoint and publish it to predict, in that order."""
        doc["updateTime"] = now()
        self.store.put(KIND, doc["id"], doc)
        self.table.publish(doc)

    def deployments_of(self, model_name: str) -> list[tuple[str, str, str]]:
        """Where a model is deployed: [(version id, endpoint name, deployed model id)]."""
        return [
            (deployed["modelVersionId"], endpoint_name(doc), deployed["id"])
            for doc in self.store.list(KIND)
            for deployed in doc["deployedModels"]
            if deployed["model"] == model_name
        ]

    async def create(self, request: Request) -> Response:
        body, parent = await read_json(request), location_path(request)
        display_name = display_name_field(body, "endpoint")
        description, labels = text_field(body, "description", "endpoint"), labels_field(body, "endpoint")
        stamp = now()
        with self.store.transaction():
            endpoint_id = request.query_params.get("endpointId") or self.store.next_id()
            if not set(endpoint_id) <= ENDPOINT_ID_CHARS or self.store.get(KIND, endpoint_id):
                raise ApiError(400, f"endpointId {endpoint_id!r} must be numeric and unused")
            doc = {"id": endpoint_id, "parent": parent, "displayName": display_name,
                   "description": description, "labels": labels,
                   "createTime": stamp, "deployedModels": [], "trafficSplit": {}, "serving": {}}  # fmt: skip
            self.save(doc)
        endpoint = typed("google.cloud.aiplatform.v1.Endpoint", render(doc))
        return json_response(self.operations.completed(endpoint["name"], endpoint, CREATE_ENDPOINT))

    async def get(self, request: Request) -> Response:
        return json_response(render(self.doc(location_path(request), request.path_params["endpoint"])))

    async def list(self, request: Request) -> Response:
        matches = compile_filter(request.query_params.get("filter", ""), FILTER_FIELDS)
        parent = location_path(request)
        found = [render(doc) for doc in self.store.list(KIND) if doc["parent"] == parent]
        return json_response({"endpoints": [e for e in found if matches({**e, "endpoint": e["name"].rsplit("/")[-1]})]})

    async def update(self, request: Request) -> Response:
        body, mask = await read_json(request), self._mask(request)
        changes = {key: self._checked(body, key) for key in mask if key != "trafficSplit"}
        with self.store.transaction():
            doc = self.doc(location_path(request), request.path_params["endpoint"])
            if "trafficSplit" in mask:
                deployed = {deployed["id"] for deployed in doc["deployedModels"]}
                # An empty split is allowed: the endpoint then takes no traffic, as on Vertex.
                doc["trafficSplit"] = checked_split(body.get("trafficSplit") or {}, deployed, allow_new=False)
            doc.update(changes)
            self.save(doc)
        return json_response(render(doc))

    @staticmethod
    def _checked(body: dict[str, Any], key: str) -> Any:
        if key == "labels":
            return labels_field(body, "endpoint")
        if key == "displayName":
            return display_name_field(body, "endpoint")
        return text_field(body, key, "endpoint")

    def _mask(self, request: Request) -> list[str]:
        mask = update_mask(request)
        if not mask or not set(mask) <= UPDATABLE:
            raise ApiError(400, f"updateMask {mask} must name some of {sorted(UPDATABLE)}")
        return mask

    async def delete(self, request: Request) -> Response:
        parent = location_path(request)
        with self.store.transaction():
            doc = self.doc(parent, request.path_params["endpoint"])
            if doc["deployedModels"]:
                ids = [deployed["id"] for deployed in doc["deployedModels"]]
                raise ApiError(400, f"endpoint still has deployed models {ids}; undeploy them first",
                               "FAILED_PRECONDITION")  # fmt: skip
            self.store.delete(KIND, doc["id"])
            self.table.withdraw(doc["id"])
        return json_response(self.operations.completed(parent, typed(EMPTY), DELETE))
