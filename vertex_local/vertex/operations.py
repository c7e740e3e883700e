"""Long-running operations (google.longrunning.Operation), kept in the state store.

Quick work (uploads, creates, deletes) answers with an operation that is already done; deploys and
undeploys answer `done: false` and finish in the background. The SDK polls unfinished ones at
GET /ui/{name} (and our own callers may use /v1/{name}).

An operation is named under the resource it works on, as Vertex names them (the SDK logs e.g. "Create Model backing
LRO: projects/P/locations/L/models/M/operations/O"): uploads under the model, endpoint creates, deploys and undeploys
under the endpoint; deletes stay under the location, as Vertex's are. Operations stored with a location-level name
by an earlier vertex-local are still found at that name.

Each operation carries Vertex's `metadata`: the call's own *OperationMetadata type around a
GenericOperationMetadata (createTime, updateTime). The SDK unpacks it as the type the call names, so the
"@type" must be exactly that one (google/cloud/aiplatform_v1/services/*/client.py, `metadata_type=`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.documents import OperationDoc
from vertex_local.errors import ApiError, rpc_status
from vertex_local.state import StateStore
from vertex_local.vertex.fields import json_response, location_path, now

KIND = "operation"
TYPE_PREFIX = "type.googleapis.com/"
EMPTY = "google.protobuf.Empty"
V1 = "google.cloud.aiplatform.v1."
# The metadata type of each call (the SDK's `metadata_type=`), one per operation kind vertex-local starts.
UPLOAD_MODEL = V1 + "UploadModelOperationMetadata"
CREATE_ENDPOINT = V1 + "CreateEndpointOperationMetadata"
DEPLOY_MODEL = V1 + "DeployModelOperationMetadata"
UNDEPLOY_MODEL = V1 + "UndeployModelOperationMetadata"
DELETE = V1 + "DeleteOperationMetadata"
# DeployModelOperationMetadata.deploymentStage (output only; aiplatform_v1/types/deployment_stage.py): Vertex's
# DeployedModel has no such field in v1, its deploy operation does. vertex-local's stages are the first and the
# two last: the cluster, node and image stages between have nothing local to stand for.
STAGED = (DEPLOY_MODEL,)
STAGE_STARTED, STAGE_DONE, STAGE_FAILED = "STARTING_DEPLOYMENT", "SUCCESSFULLY_DEPLOYED", "FAILED_TO_DEPLOY"


def typed(type_name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON `Any`: the message's fields plus its "@type"."""
    return {"@type": TYPE_PREFIX + type_name, **(body or {})}


def touched(operation: OperationDoc, stage: str | None = None) -> OperationDoc:
    """The operation with its metadata's updateTime set to now (when it has metadata), and its deploymentStage
    set to `stage` where its type has one."""
    metadata = operation.get("metadata")
    if not metadata:
        return operation
    generic = {**metadata.get("genericMetadata", {}), "updateTime": now()}
    metadata = {**metadata, "genericMetadata": generic}
    if stage and "deploymentStage" in metadata:
        metadata["deploymentStage"] = stage
    return {**operation, "metadata": metadata}


class Operations:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def start(self, owner: str, metadata_type: str | None = None) -> OperationDoc:
        """A new operation under `owner` (a location or a resource name), not done yet, with `metadata_type`'s
        metadata (none when not given)."""
        op_id = self.store.next_id()
        operation: OperationDoc = {"name": f"{owner}/operations/{op_id}", "done": False}
        if metadata_type:
            stamp = now()
            operation["metadata"] = typed(
                metadata_type, {"genericMetadata": {"createTime": stamp, "updateTime": stamp}}
            )
            if metadata_type in STAGED:
                operation["metadata"]["deploymentStage"] = STAGE_STARTED
        self.store.put(KIND, op_id, operation)
        return operation

    def finish(self, operation: OperationDoc, response: dict[str, Any]) -> OperationDoc:
        done = {**touched(operation, STAGE_DONE), "done": True, "response": response}
        self.store.put(KIND, operation["name"].rsplit("/", 1)[1], done)
        return done

    def fail(self, operation: OperationDoc, code_name: str, message: str) -> OperationDoc:
        failed = {**touched(operation, STAGE_FAILED), "done": True, "error": rpc_status(code_name, message)}
        failed.pop("pendingResponse", None)
        self.store.put(KIND, operation["name"].rsplit("/", 1)[1], failed)
        return failed

    def completed(self, owner: str, response: dict[str, Any], metadata_type: str | None = None) -> OperationDoc:
        """An operation for work that is already over."""
        return self.finish(self.start(owner, metadata_type), response)

    def set_pending_response(self, operation: OperationDoc, response: dict[str, Any]) -> OperationDoc:
        """Record the answer once the durable part is done, so a restart can finish the operation."""
        updated = {**operation, "pendingResponse": response}
        self.store.put(KIND, operation["name"].rsplit("/", 1)[1], updated)
        return updated

    def recover(self) -> int:
        """After a restart: finish operations whose work was committed, fail the rest. Returns how many."""
        unfinished = [op for op in self.store.list(KIND) if not op.get("done")]
        for operation in unfinished:
            if "pendingResponse" in operation:
                self.finish(
                    {k: v for k, v in operation.items() if k != "pendingResponse"},
                    operation["pendingResponse"],
                )
            else:
                self.fail(operation, "ABORTED", "vertex-local restarted before the operation finished")
        return len(unfinished)

    def current(self, operation: OperationDoc) -> dict[str, Any]:
        """The operation as stored now, rendered."""
        return self.render(self.store.get(KIND, operation["name"].rsplit("/", 1)[1]) or operation)

    def render(self, operation: OperationDoc) -> dict[str, Any]:
        return {k: v for k, v in operation.items() if k != "pendingResponse"}

    async def get(self, request: Request) -> Response:
        """GET {location}/operations/O or {location}/{collection}/{id}/operations/O: found only at its own name."""
        params, op_id = request.path_params, request.path_params["operation_id"]
        owner = location_path(request)
        if "collection" in params:
            owner += f"/{params['collection']}/{params['resource']}"
        name, operation = f"{owner}/operations/{op_id}", self.store.get(KIND, op_id)
        if operation is None or operation["name"] != name:
            raise ApiError(404, f"operation {name} not found")
        return json_response(self.render(operation))
