"""The Cloud Storage JSON API routes google-cloud-storage uses when STORAGE_EMULATOR_HOST points here.

Buckets (list, create, get, patch, update, delete: gcs/buckets.py), objects (gcs/objects.py), uploads
(gcs/uploads.py), all over one ObjectStore (gcs/store.py). Anything else under /storage/v1/ answers 404 saying
what is not implemented (ACLs, IAM, notifications, ...): a 4xx, as for any request vertex-local cannot serve.
Served by `python -m vertex_local serve`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from vertex_local.errors import ApiError
from vertex_local.gcs.buckets import bucket_resource, project_number
from vertex_local.gcs.objects import DownloadRoute, ObjectApi, render
from vertex_local.gcs.preconditions import NotModified, Preconditions, parse_int
from vertex_local.gcs.store import ObjectStore
from vertex_local.gcs.uploads import Uploads
from vertex_local.http.bodies import read_json

Handler = Callable[[Request], Awaitable[Response]]
ALL = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_BUCKETS_PAGE = 1000
NOT_IMPLEMENTED_PARAMS = ("predefinedAcl", "predefinedDefaultObjectAcl", "enableObjectRetention")
# The predefined ACLs that leave a bucket as a plain create leaves it, for vertex-local's one principal (you: the
# project's owner, who writes every object). A new bucket's ACL and default object ACL are projectPrivate
# (https://cloud.google.com/storage/docs/access-control/lists#default); bucketOwnerFullControl gives the object's
# writer and the project's owners OWNER (.../lists#predefined-acl), both of which are you. gcsfs sends
# predefinedAcl=projectPrivate&predefinedDefaultObjectAcl=bucketOwnerFullControl on every mkdir. Any other value
# would grant or withdraw access vertex-local has no one to grant to: refused.
UNCHANGING_ACLS = {
    "predefinedAcl": ("projectPrivate",),
    "predefinedDefaultObjectAcl": ("projectPrivate", "bucketOwnerFullControl"),
}


def answer_304(handler: Handler) -> Handler:
    """A failed *NotMatch precondition answers 304 Not Modified with no body, as Cloud Storage does."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except NotModified:
            return Response(status_code=304)

    return run


def storage_routes(store: ObjectStore) -> list[BaseRoute]:
    buckets, objects, uploads = BucketApi(store), ObjectApi(store), Uploads(store, render)
    routes = [
        ("/storage/v1/b", buckets.list, ["GET"]),
        ("/storage/v1/b", buckets.create, ["POST"]),
        ("/storage/v1/b/{bucket}", buckets.get, ["GET"]),
        ("/storage/v1/b/{bucket}", buckets.patch, ["PATCH"]),
        ("/storage/v1/b/{bucket}", buckets.update, ["PUT"]),
        ("/storage/v1/b/{bucket}", buckets.delete, ["DELETE"]),
        ("/storage/v1/b/{bucket}/o", objects.list, ["GET"]),
        ("/storage/v1/b/{bucket}/o/{rest:path}", objects.dispatch, ALL),
        ("/upload/storage/v1/b/{bucket}/o", uploads.start, ["POST"]),
        ("/upload/storage/v1/b/{bucket}/o", uploads.resume, ["PUT"]),
        ("/upload/storage/v1/b/{bucket}/o", uploads.cancel, ["DELETE"]),
        ("/storage/v1/projects/{project}/serviceAccount", service_account, ["GET"]),
        ("/storage/v1/{rest:path}", not_implemented, ALL),
    ]
    return [
        DownloadRoute(objects),
        *(Route(path, answer_304(handler), methods=methods) for path, handler, methods in routes),
    ]


async def service_account(request: Request) -> Response:
    """The project's Cloud Storage service agent, named as Google names it: service-NUMBER@gs-project-accounts...
    (https://cloud.google.com/storage/docs/json_api/v1/projects/serviceAccount, .../docs/projects#service-agents).
    vertex-local runs nothing as it; clients ask for it to grant it KMS or Pub/Sub roles, which are refused anyway."""
    project = request.path_params["project"]
    number = project if project.isdigit() else project_number(project)  # the path takes an id or a number
    email = f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"
    return JSONResponse({"kind": "storage#serviceAccount", "email_address": email})


async def not_implemented(request: Request) -> Response:
    raise ApiError(
        404,
        f"{request.method} {request.url.path} is not implemented by vertex-local (see the README's "
        "table of what it implements: no ACLs, IAM, notifications, HMAC keys or managed folders)",
    )


class BucketApi:
    """Bucket handlers; request bodies are read before the one store transaction that uses them."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def list(self, request: Request) -> Response:
        project = required_project(request)
        prefix, after = request.query_params.get("prefix", ""), request.query_params.get("pageToken", "")
        size = min(parse_int(request.query_params, "maxResults", minimum=0) or MAX_BUCKETS_PAGE, MAX_BUCKETS_PAGE)
        found = await run_in_threadpool(self.store.catalog.buckets)
        mine = [b for b in found if b["project"] == project and b["name"].startswith(prefix) and b["name"] > after]
        body = {"kind": "storage#buckets", "items": [bucket_resource(b, str(request.base_url)) for b in mine[:size]]}
        if len(mine) > size:
            body["nextPageToken"] = mine[size - 1]["name"]
        return JSONResponse(body)

    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        refuse_unimplemented_params(request)
        bucket = await run_in_threadpool(self.store.create_bucket, body, required_project(request))
        return JSONResponse(bucket_resource(bucket, str(request.base_url)))

    async def get(self, request: Request) -> Response:
        name, checks = request.path_params["bucket"], Preconditions.from_query(request.query_params)
        bucket = await run_in_threadpool(self.store.get_bucket, name, checks)
        return JSONResponse(bucket_resource(bucket, str(request.base_url)))

    async def patch(self, request: Request, replace: bool = False) -> Response:
        body = await read_json(request)
        refuse_unimplemented_params(request)
        name, checks = request.path_params["bucket"], Preconditions.from_query(request.query_params)
        bucket = await run_in_threadpool(self.store.change_bucket, name, body, replace, checks)
        return JSONResponse(bucket_resource(bucket, str(request.base_url)))

    async def update(self, request: Request) -> Response:
        return await self.patch(request, replace=True)

    async def delete(self, request: Request) -> Response:
        name, checks = request.path_params["bucket"], Preconditions.from_query(request.query_params)
        await run_in_threadpool(self.store.delete_bucket, name, checks)
        return Response(status_code=204)


def required_project(request: Request) -> str:
    project = request.query_params.get("project")
    if not project:
        raise ApiError(400, "the project query parameter is required to create or list buckets")
    return project


def refuse_unimplemented_params(request: Request) -> None:
    for param in NOT_IMPLEMENTED_PARAMS:
        value = request.query_params.get(param, "false")
        if value not in ("", "false", *UNCHANGING_ACLS.get(param, ())):
            accepted = " or ".join(UNCHANGING_ACLS.get(param, ()))
            also = f" (it accepts {accepted}, which change nothing)" if accepted else ""
            raise ApiError(400, f"{param}={value} is not implemented by vertex-local (no ACLs or object "
                                f"retention){also}")  # fmt: skip
