"""Helpers shared by the Vertex API areas: request bodies, JSON answers, timestamps, names, filters."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from vertex_local.errors import ApiError

# One term of a list filter: display_name="x", labels.k="v", labels."a key"!="v", labels.k:*, state=X.
FILTER_TERM = re.compile(
    r"""\s*(?P<field>labels\."[^"]*"|[A-Za-z_][\w.-]*)\s*(?P<op>!=|=|:)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"()]+)\s*"""
)
FILTER_AND = re.compile(r"AND\s+", re.IGNORECASE)
# Management requests and upload metadata are small JSON documents; a bound keeps one request from filling memory.
MAX_JSON_BODY_BYTES = 1 << 20
# The storage client sends files up to 8 MiB as one multipart request (larger ones go resumable, in chunks).
MAX_MULTIPART_BODY_BYTES = 32 << 20


def now() -> str:
    """The current time as RFC 3339 UTC with microseconds, as Google writes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def location_path(request: Request) -> str:
    params = request.path_params
    return f"projects/{params['project']}/locations/{params['location']}"


class ClientGone(Exception):
    """The client closed the connection before its body arrived: there is no one to answer."""


async def read_body(scope: Scope, receive: Receive, limit: int, too_big: ApiError) -> bytes:
    """The whole body over raw ASGI, refused with `too_big` as soon as it is known to exceed `limit` bytes."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise too_big
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_limited(request: Request, limit: int) -> bytes:
    """A Starlette route's body, refused with 413 past `limit` bytes."""
    too_big = ApiError(413, f"request body exceeds the limit of {limit} bytes")
    try:
        return await read_body(request.scope, request.receive, limit, too_big)
    except ClientGone:
        raise ClientDisconnect() from None


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 for anything else. An empty body reads as {}."""
    body = await read_limited(request, MAX_JSON_BODY_BYTES)
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(value).__name__}")
    return value


def json_response(body: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status_code, media_type="application/json")


def object_field(body: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    """body[key] as an object; 400 if it is missing (when required) or not an object."""
    value = body.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{key} is required and must be an object" if value is None else f"{key}: not an object")
    return value


def json_type(value: Any) -> str:
    """A JSON value's type as an error message names it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def text_field(body: dict[str, Any], key: str, where: str, required: bool = False) -> str:
    """body[key] as a string ("" when absent); 400 when it is another type, or missing and required."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{where}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{where}.{key} must be a string, got {json_type(value)}")
    return value


def labels_field(body: dict[str, Any], where: str) -> dict[str, str]:
    """body["labels"]: a map of strings to strings, as Google's APIs take labels ({} when absent)."""
    labels = body.get("labels")
    if labels is None:
        return {}
    if not isinstance(labels, dict) or not all(isinstance(value, str) for value in labels.values()):
        raise ApiError(400, f"{where}.labels must be an object of string keys to string values")
    return labels


def resource_id(name: str, collection: str, parent: str) -> str:
    """The id in 'projects/P/locations/L/<collection>/ID' (or a bare id); 400 if it names another place."""
    if not isinstance(name, str):
        raise ApiError(400, f"a {collection} name must be a string, got {json_type(name)}")
    if "/" not in name:
        return name
    prefix = f"{parent}/{collection}/"
    if not name.startswith(prefix) or "/" in name[len(prefix) :] or not name[len(prefix) :]:
        raise ApiError(400, f"{name!r} is not a {collection} name under {parent}")
    return name[len(prefix) :]


def update_mask(request: Request) -> list[str]:
    """The ?updateMask= paths, in camelCase (the SDK may send either spelling)."""
    text = request.query_params.get("updateMask") or request.query_params.get("update_mask") or ""
    return [snake_to_camel(path.strip()) for path in text.split(",") if path.strip()]


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def compile_filter(text: str, fields: set[str]) -> Callable[[dict[str, Any]], bool]:
    """A predicate for Google's list filter syntax: terms joined by AND on `fields` (camelCase) and labels."""
    terms: list[tuple[str, str, str]] = []
    position, text = 0, text.strip()
    while position < len(text):
        if terms:
            joint = FILTER_AND.match(text, position)
            if not joint:
                raise ApiError(400, f"invalid filter {text!r}: expected AND at offset {position}")
            position = joint.end()
        term = FILTER_TERM.match(text, position)
        if not term:
            raise ApiError(400, f"invalid filter {text!r} at offset {position}")
        terms.append(_checked_term(term["field"], term["op"], term["value"], fields, text))
        position = term.end()
    return lambda resource: all(_term_holds(resource, *term) for term in terms)


def _checked_term(field: str, op: str, value: str, fields: set[str], text: str) -> tuple[str, str, str]:
    if value.startswith('"'):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"invalid filter {text!r}: {value} is not a valid quoted string ({exc})") from None
    if field.startswith("labels."):
        return field.removeprefix("labels.").strip('"'), op, value
    if field == "labels" and op == ":":
        return value, ":", "*"
    camel = snake_to_camel(field)
    if camel not in fields or op == ":":
        raise ApiError(400, f"invalid filter {text!r}: cannot filter on {field}{op} (use {sorted(fields)})")
    return "." + camel, op, value


def _term_holds(resource: dict[str, Any], key: str, op: str, value: str) -> bool:
    labels = resource.get("labels") or {}
    actual = resource.get(key[1:]) if key.startswith(".") else labels.get(key)
    if op == ":":
        return actual is not None
    matched = actual is not None and str(actual) == value
    return matched if op == "=" else not matched
