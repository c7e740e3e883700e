"""Long-running operations (google.longrunning.Operation), kept in the state store.

Quick work (uploads, creates, deletes) answers with an operation that is already done; deploys and
undeploys answer `done: false` and finish in the background. The SDK polls unfinished ones at
GET /ui/{name} (and our own callers may use /v1/{name}).

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


def typed(type_name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON `Any`: the message's fields plus its "@type"."""
    return {"@type": TYPE_PREFIX + type_name, **(body or {})}


def touched(operation: OperationDoc) -> OperationDoc:
    """The operation with its metadata's updateTime set to now (when it has metadata)."""
    metadata = operation.get("metadata")
    if not metadata:
        return operation
    generic = {**metadata.get("genericMetadata", {}), "updateTime": now()}
    return {**operation, "metadata": {**metadata, "genericMetadata": generic}}


class Operations:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def start(self, parent: str, metadata_type: str | None = None) -> OperationDoc:
        """A new operation, not done yet, with `metadata_type`'s metadata (none when not given)."""
        op_id = self.store.next_id()
        operation: OperationDoc = {"name": f"{parent}/operations/{op_id}", "done": False}
        if metadata_type:
            stamp = now()
            operation["metadata"] = typed(
                metadata_type, {"genericMetadata": {"createTime": stamp, "updateTime": stamp}}
            )
        self.store.put(KIND, op_id, operation)
        return operation

    def finish(self, operation: OperationDoc, response: dict[str, Any]) -> OperationDoc:
        done = {**touched(operation), "done": True, "response": response}
        self.store.put(KIND, operation["name"].rsplit("/", 1)[1], done)
        return done

    def fail(self, operation: OperationDoc, code_name: str, message: str) -> OperationDoc:
        failed = {**touched(operation), "done": True, "error": rpc_status(code_name, message)}
        failed.pop("pendingResponse", None)
        self.store.put(KIND, operation["name"].rsplit("/", 1)[1], failed)
        return failed

    def completed(self, parent: str, response: dict[str, Any], metadata_type: str | None = None) -> OperationDoc:
        """An operation for work that is already over."""
        return self.finish(self.start(parent, metadata_type), response)

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
        op_id = request.path_params["operation_id"]
        operation = self.store.get(KIND, op_id)
        if operation is None or operation["name"] != f"{location_path(request)}/operations/{op_id}":
            raise ApiError(404, f"operation {location_path(request)}/operations/{op_id} not found")
        return json_response(self.render(operation))
