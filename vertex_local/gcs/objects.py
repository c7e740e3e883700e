"""Object routes: get, media, patch, update, delete, list, and the copyTo / rewriteTo / compose / moveTo verbs.

Object names travel URL-encoded in one path segment (the client quotes '/' as %2F), so the handlers split the raw
path themselves: a verb is a literal segment, never part of a name. Request bodies are read before any store call,
and every read-modify-write is one store transaction (gcs/store.py). Blocking work runs in the thread pool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.copies import Target, compose, copy_object, move
from vertex_local.gcs.download import media
from vertex_local.gcs.fields import apply_fields, refuse_encryption_keys
from vertex_local.gcs.listing import list_objects
from vertex_local.gcs.preconditions import NotModified, Preconditions, check_etag, parse_int
from vertex_local.gcs.resources import object_etag, object_resource
from vertex_local.gcs.store import ObjectStore
from vertex_local.http.bodies import read_json
from vertex_local.http.raw_route import RawRoute

COPY_VERBS = (b"copyTo", b"rewriteTo")
NOT_IMPLEMENTED_PARAMS = frozenset({"destinationKmsKeyName", "destinationPredefinedAcl", "kmsKeyName", "softDeleted"})


def decoded(segments: list[bytes]) -> str:
    try:
        return unquote_to_bytes(b"/".join(segments)).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "an object name in the path is not valid UTF-8 once URL-decoded") from None


def path_segments(request: Request | Scope, prefix: str) -> list[bytes]:
    """The raw (still URL-encoded) path segments after `prefix`: [bucket, b"o", *name and verb segments]."""
    scope = request.scope if isinstance(request, Request) else request
    raw = scope.get("raw_path") or scope["path"].encode()
    return raw.split(b"?", 1)[0][len(prefix) :].split(b"/")


def render(record: ObjectRecord, request: Request) -> dict:
    return object_resource(record, str(request.base_url))


def refuse_unimplemented(query: Mapping[str, str], headers: Mapping[str, str]) -> None:
    for param, value in query.items():  # the request's few parameters (last value of each), not our list
        if param in NOT_IMPLEMENTED_PARAMS and value not in ("", "false"):
            raise ApiError(400, f"{param} is not implemented by vertex-local (no KMS keys, ACLs or soft delete)")
    refuse_encryption_keys(headers)


def query_of(scope: Scope) -> dict[str, str]:
    """The query as Starlette's QueryParams reads it (latin-1, blank values kept, the last value of each name), in a
    plain dict: a Mapping's get raises and catches a KeyError for each absent parameter."""
    raw = scope["query_string"]
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


def headers_of(scope: Scope) -> dict[str, str]:
    """The request headers as Starlette's Headers reads them (lowercase names, the first value of each)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}


class DownloadRoute(RawRoute):
    """GET /download/storage/v1/b/BUCKET/o/NAME (how google-cloud-storage downloads) as raw ASGI, put first among
    the storage routes, as serving/predict.py's PredictRoute: a download is the hot path, and Starlette's Request,
    its per-route exception wrapper and Mapping lookups were a quarter of a small download's time in the server.
    Errors propagate to the app's handlers as from any route; a failed *NotMatch is a bodiless 304 (answer_304)."""

    path, methods = re.compile(r"/download/storage/v1/b/[^/]+/o/.*"), ("GET", "HEAD")  # "{bucket}/o/{rest:path}"
    PREFIX = "/download/storage/v1/b/"

    def __init__(self, api: ObjectApi) -> None:
        self.api = api

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        query, headers = query_of(scope), headers_of(scope)
        refuse_unimplemented(query, headers)
        bucket, _, *rest = path_segments(scope, self.PREFIX)
        try:
            response = await media(self.api.store, query, headers, decoded([bucket]), decoded(rest))
        except NotModified:
            response = Response(status_code=304)
        await response(scope, receive, send)


class ObjectApi:
    """Handlers for /storage/v1/b/BUCKET/o[/...] and /download/storage/v1/b/BUCKET/o/NAME."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def dispatch(self, request: Request) -> Response:
        refuse_unimplemented(request.query_params, request.headers)
        bucket, _, *rest = path_segments(request, "/storage/v1/b/")
        bucket_name = decoded([bucket])
        if request.method != "POST":
            if rest[-1:] == [b"acl"] and len(rest) > 1:
                raise ApiError(404, "object ACLs are not implemented by vertex-local")
            handlers = {"GET": self.get, "PATCH": self.patch, "PUT": self.update, "DELETE": self.delete}
            return await handlers[request.method](request, bucket_name, decoded(rest))
        return await self._verb(request, bucket_name, rest)

    async def _verb(self, request: Request, bucket: str, rest: list[bytes]) -> Response:
        for index, segment in enumerate(rest):
            tail = rest[index + 1 :]
            if segment in COPY_VERBS and len(tail) >= 4 and tail[0] == b"b" and tail[2] == b"o":
                dest = Target(decoded([tail[1]]), decoded(tail[3:]))
                return await self.copy(request, Target(bucket, decoded(rest[:index])), dest, segment == b"rewriteTo")
            if segment == b"moveTo" and len(tail) >= 2 and tail[0] == b"o":
                return await self.move(
                    request, Target(bucket, decoded(rest[:index])), Target(bucket, decoded(tail[1:]))
                )
        if rest[-1] == b"compose" and len(rest) > 1:
            return await self.compose(request, Target(bucket, decoded(rest[:-1])))
        if rest[-1] == b"restore" and len(rest) > 1:
            raise ApiError(400, "objects.restore needs soft delete, which vertex-local does not implement")
        raise ApiError(404, f"no such object method: POST {request.url.path}")

    async def get(self, request: Request, bucket: str, name: str) -> Response:
        if request.query_params.get("alt") == "media":
            return await media(self.store, request.query_params, request.headers, bucket, name)
        query = request.query_params
        generation, checks = parse_int(query, "generation"), Preconditions.from_query(query)
        record = await self.store.run(self.store.describe, bucket, name, generation, checks)
        check_etag(request.headers, object_etag(record))
        return JSONResponse(render(record, request))

    async def patch(self, request: Request, bucket: str, name: str, replace: bool = False) -> Response:
        body = await read_json(request)
        query = request.query_params

        def edit(record: ObjectRecord, now: str) -> dict:
            wanted = body.get("storageClass")
            if wanted is not None and wanted != record.meta.get("storageClass"):
                raise ApiError(400, "a storage class changes by rewriting the object (objects.rewrite), not by PATCH")
            return apply_fields(record.meta, body, replace, now)

        change = self.store.change
        record = await run_in_threadpool(change, bucket, name, parse_int(query, "generation"),
                                         Preconditions.from_query(query), edit)  # fmt: skip
        return JSONResponse(render(record, request))

    async def update(self, request: Request, bucket: str, name: str) -> Response:
        return await self.patch(request, bucket, name, replace=True)

    async def delete(self, request: Request, bucket: str, name: str) -> Response:
        query = request.query_params
        generation, checks = parse_int(query, "generation"), Preconditions.from_query(query)
        await run_in_threadpool(self.store.delete, bucket, name, generation, checks)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        page = await self.store.run(list_objects, self.store, request.path_params["bucket"], request.query_params)
        body = {"kind": "storage#objects", "items": [render(r, request) for r in page["items"]]}
        body["prefixes"] = page["prefixes"]
        if "nextPageToken" in page:
            body["nextPageToken"] = page["nextPageToken"]
        return Response(orjson.dumps(body), media_type="application/json")  # a page is mostly JSON to write

    async def copy(self, request: Request, source: Target, dest: Target, rewrite: bool) -> Response:
        body = await read_json(request)
        query = request.query_params
        source = Target(source.bucket, source.name, parse_int(query, "sourceGeneration"))
        checks = Preconditions.from_query(query, "ifSource"), Preconditions.from_query(query)
        record = await run_in_threadpool(copy_object, self.store, source, dest, body, *checks)
        if not rewrite:
            return JSONResponse(render(record, request))
        size = str(record.size)
        return JSONResponse({"kind": "storage#rewriteResponse", "totalBytesRewritten": size, "objectSize": size,
                             "done": True, "resource": render(record, request)})  # fmt: skip

    async def compose(self, request: Request, dest: Target) -> Response:
        body = await read_json(request)
        checks = Preconditions.from_query(request.query_params)
        return JSONResponse(render(await run_in_threadpool(compose, self.store, dest, body, checks), request))

    async def move(self, request: Request, source: Target, dest: Target) -> Response:
        query = request.query_params
        checks = Preconditions.from_query(query, "ifSource"), Preconditions.from_query(query)
        return JSONResponse(render(await run_in_threadpool(move, self.store, source, dest, *checks), request))
