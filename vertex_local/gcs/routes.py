"""The Cloud Storage JSON API subset that google-cloud-storage uses when STORAGE_EMULATOR_HOST points here.

Buckets (get, create, list, delete), objects (metadata, download with Range, list with prefix and
delimiter, delete) and uploads (media, multipart, resumable; see gcs/uploads.py). The files live
under <gcs_root>/BUCKET/PATH (gcs/store.py). Served by `python -m vertex_local serve`.
"""

from __future__ import annotations

import datetime
from urllib.parse import quote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.routing import BaseRoute, Route

from vertex_local.errors import ApiError
from vertex_local.gcs.store import ObjectInfo, ObjectStore
from vertex_local.gcs.uploads import Uploads
from vertex_local.http.bodies import MAX_JSON_BODY_BYTES, read_limited

MAX_LIST_RESULTS = 1000  # the JSON API's cap on one page of a listing


def storage_routes(store: ObjectStore) -> list[BaseRoute]:
    api = StorageApi(store)
    uploads = Uploads(store, object_resource)
    return [
        Route("/storage/v1/b", api.list_buckets, methods=["GET"]),
        Route("/storage/v1/b", api.create_bucket, methods=["POST"]),
        Route("/storage/v1/b/{bucket}", api.get_bucket, methods=["GET"]),
        Route("/storage/v1/b/{bucket}", api.delete_bucket, methods=["DELETE"]),
        Route("/storage/v1/b/{bucket}/o", api.list_objects, methods=["GET"]),
        Route("/storage/v1/b/{bucket}/o/{name:path}", api.get_object, methods=["GET"]),
        Route("/storage/v1/b/{bucket}/o/{name:path}", api.delete_object, methods=["DELETE"]),
        Route("/download/storage/v1/b/{bucket}/o/{name:path}", api.download, methods=["GET"]),
        Route("/upload/storage/v1/b/{bucket}/o", uploads.start, methods=["POST"]),
        Route("/upload/storage/v1/b/{bucket}/o", uploads.resume, methods=["PUT"]),
    ]


def rfc3339(ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def object_resource(info: ObjectInfo, request: Request) -> dict:
    """The JSON API's object resource; the client reads size, checksums, generation and mediaLink."""
    base, quoted, stamp = str(request.base_url), quote(info.name, safe=""), rfc3339(info.mtime_ns)
    media = f"{base}download/storage/v1/b/{info.bucket}/o/{quoted}"
    resource = {
        "kind": "storage#object",
        "id": f"{info.bucket}/{info.name}/{info.generation}",
        "selfLink": f"{base}storage/v1/b/{info.bucket}/o/{quoted}",
        "mediaLink": f"{media}?generation={info.generation}&alt=media",
        "name": info.name,
        "bucket": info.bucket,
        "generation": str(info.generation),
        "metageneration": "1",
        "contentType": info.content_type,
        "storageClass": "STANDARD",
        "size": str(info.size),
        "md5Hash": info.md5,
        "crc32c": info.crc32c,
        "etag": f"{info.generation:x}",
        "timeCreated": stamp,
        "updated": stamp,
        "timeStorageClassUpdated": stamp,
    }
    if info.metadata:
        resource["metadata"] = info.metadata
    return resource


def bucket_resource(store: ObjectStore, bucket: str) -> dict:
    stamp = rfc3339(store.existing_bucket_dir(bucket).stat().st_mtime_ns)
    location = store.bucket_location(bucket)
    return {
        "kind": "storage#bucket",
        "id": bucket,
        "name": bucket,
        "projectNumber": "0",
        "metageneration": "1",
        "location": location,
        "locationType": "multi-region" if location in ("US", "EU", "ASIA") else "region",
        "storageClass": "STANDARD",
        "etag": "CAE=",
        "timeCreated": stamp,
        "updated": stamp,
    }


async def json_body(request: Request) -> dict:
    try:
        body = orjson.loads(await read_limited(request, MAX_JSON_BODY_BYTES) or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


class StorageApi:
    """Bucket and object handlers; blocking filesystem work runs in the thread pool."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def list_buckets(self, request: Request) -> Response:
        names = await run_in_threadpool(self.store.list_buckets)
        items = [await run_in_threadpool(bucket_resource, self.store, name) for name in names]
        return JSONResponse({"kind": "storage#buckets", "items": items})

    async def create_bucket(self, request: Request) -> Response:
        body = await json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise ApiError(400, "bucket resource needs a string 'name'")
        location = str(body.get("location") or "US-CENTRAL1").upper()
        await run_in_threadpool(self.store.create_bucket, name, location)
        return JSONResponse(await run_in_threadpool(bucket_resource, self.store, name))

    async def get_bucket(self, request: Request) -> Response:
        bucket = request.path_params["bucket"]
        return JSONResponse(await run_in_threadpool(bucket_resource, self.store, bucket))

    async def delete_bucket(self, request: Request) -> Response:
        await run_in_threadpool(self.store.delete_bucket, request.path_params["bucket"])
        return Response(status_code=204)

    async def get_object(self, request: Request) -> Response:
        if request.query_params.get("alt") == "media":
            return await self.download(request)
        info = await self._stat(request)
        return JSONResponse(object_resource(info, request))

    async def download(self, request: Request) -> Response:
        """The object's bytes; FileResponse answers Range requests with 206."""
        info = await self._stat(request)
        headers = {
            "x-goog-hash": f"crc32c={info.crc32c},md5={info.md5}",
            "x-goog-generation": str(info.generation),
            "x-goog-metageneration": "1",
            "x-goog-stored-content-length": str(info.size),
            "x-goog-stored-content-encoding": "identity",
        }
        check_range(request.headers.get("range"), info.size)
        path = self.store.object_path(info.bucket, info.name)
        return FileResponse(path, headers=headers, media_type=info.content_type)

    async def delete_object(self, request: Request) -> Response:
        bucket, name = request.path_params["bucket"], request.path_params["name"]
        await run_in_threadpool(self.store.delete, bucket, name)
        return Response(status_code=204)

    async def list_objects(self, request: Request) -> Response:
        bucket, query = request.path_params["bucket"], request.query_params
        if "matchGlob" in query:
            raise ApiError(400, "matchGlob is not supported by vertex-local; list by prefix and delimiter")
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        page_size = parse_page_size(query.get("maxResults"))
        names = await run_in_threadpool(self.store.names, bucket, prefix)
        start, end = query.get("startOffset", ""), query.get("endOffset")
        names = [name for name in names if name >= start and (end is None or name < end)]
        after = query.get("pageToken", "")
        entries = [entry for entry in group_by_delimiter(names, prefix, delimiter) if entry[0] > after]
        page = entries[:page_size]
        items = [key for key, is_prefix in page if not is_prefix]
        body: dict = {
            "kind": "storage#objects",
            "items": [
                object_resource(info, request) for info in await run_in_threadpool(self.store.stat_many, bucket, items)
            ],
            "prefixes": [key for key, is_prefix in page if is_prefix],
        }
        if len(entries) > page_size:
            body["nextPageToken"] = page[-1][0]
        return JSONResponse(body)

    async def _stat(self, request: Request) -> ObjectInfo:
        bucket, name = request.path_params["bucket"], request.path_params["name"]
        info = await run_in_threadpool(self.store.stat, bucket, name)
        wanted = request.query_params.get("generation")
        if wanted is not None and wanted != str(info.generation):
            raise ApiError(404, f"object gs://{bucket}/{name} has no generation {wanted}")
        return info


def check_range(header: str | None, size: int) -> None:
    """Refuse a Range FileResponse would refuse, in Google's error shape (Starlette answers in plain text)."""
    if header is None:
        return
    try:
        FileResponse._parse_range_header(header, size)  # the very parser that will serve the range
    except MalformedRangeHeader as exc:
        raise ApiError(400, f"invalid Range header {header!r}: {exc.content}") from None
    except RangeNotSatisfiable:
        raise ApiError(416, f"Range {header!r} starts past the object's {size} bytes") from None


def parse_page_size(text: str | None) -> int:
    if text is None:
        return MAX_LIST_RESULTS
    if not text.isdigit() or int(text) < 1:
        raise ApiError(400, f"maxResults must be a positive integer, got {text!r}")
    return min(int(text), MAX_LIST_RESULTS)


def group_by_delimiter(names: list[str], prefix: str, delimiter: str) -> list[tuple[str, bool]]:
    """Sorted (key, is_prefix) entries: names that hold the delimiter past `prefix` fold into one prefix."""
    entries: dict[str, bool] = {}
    for name in names:
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut == -1:
            entries[name] = False
        else:
            entries[name[: cut + len(delimiter)]] = True
    return sorted(entries.items())
