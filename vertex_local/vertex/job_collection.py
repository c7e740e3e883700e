"""What the three job collections (customJobs, batchPredictionJobs, trainingPipelines) answer alike: get, list with a
filter, and delete once the job has ended. Each service names its kind, its ended states, its filter fields and its
URL's path parameter; app.job_routes() routes the same five calls to each."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response

from vertex_local.errors import ApiError
from vertex_local.state import StateStore
from vertex_local.vertex.fields import json_response, location_path
from vertex_local.vertex.filters import compile_filter
from vertex_local.vertex.operations import DELETE, EMPTY, Operations, typed


class JobCollection:
    KIND: ClassVar[str]  # the stored kind, and the API's noun: "customJob"; the collection is KIND + "s"
    DONE_STATES: ClassVar[set[str]]  # states a job only leaves by being deleted
    FILTER_FIELDS: ClassVar[set[str]]  # the fields `filter=` may name
    PATH_PARAM: ClassVar[str] = "job"  # the route's name for the job's id
    store: StateStore
    operations: Operations

    def doc(self, parent: str, job_id: str) -> Any:
        """The stored job, or 404: one of another project or location is not found either."""
        doc = self.store.get(self.KIND, job_id)
        if doc is None or doc["parent"] != parent:
            raise ApiError(404, f"{self.KIND} {parent}/{self.KIND}s/{job_id} not found")
        return doc

    @staticmethod
    def render(doc: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def get(self, request: Request) -> Response:
        return json_response(self.render(self.doc(location_path(request), request.path_params[self.PATH_PARAM])))

    async def list(self, request: Request) -> Response:
        matches = compile_filter(request.query_params.get("filter", ""), self.FILTER_FIELDS)
        parent = location_path(request)
        found = [self.render(doc) for doc in self.store.list(self.KIND) if doc["parent"] == parent]
        return json_response({f"{self.KIND}s": [job for job in found if matches(job)]})

    async def delete(self, request: Request) -> Response:
        """Delete a job that has ended ("Can only be called on jobs that already finished."); the operation
        carries DeleteOperationMetadata."""
        parent = location_path(request)
        with self.store.transaction():
            doc = self.doc(parent, request.path_params[self.PATH_PARAM])
            if doc["state"] not in self.DONE_STATES:
                raise ApiError(400, f"{self.KIND} {doc['name']} is {doc['state']}; cancel it first",
                               "FAILED_PRECONDITION")  # fmt: skip
            self.store.delete(self.KIND, doc["id"])
        await self.deleted(doc)
        return json_response(self.operations.completed(parent, typed(EMPTY), DELETE))

    async def deleted(self, doc: Any) -> None:
        """What else goes with a deleted job, after its record (a service's own files)."""
