"""What the Vertex routes share: JSON answers, timestamps, resource names, typed fields and updateMask."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from vertex_local.errors import ApiError


def now() -> str:
    """The current time as RFC 3339 UTC with microseconds, as Google writes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def location_path(request: Request) -> str:
    params = request.path_params
    return f"projects/{params['project']}/locations/{params['location']}"


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


# Model, Endpoint and CustomJob `display_name`: "can be up to 128 characters long and can consist of any
# UTF-8 characters" (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.models).
MAX_DISPLAY_NAME = 128
# `labels`: "Label keys and values can be no longer than 64 characters (Unicode codepoints), can only contain
# lowercase letters, numeric characters, underscores and dashes. International characters are allowed."
# (same page); the page it links (https://cloud.google.com/resource-manager/docs/labels-overview#requirements)
# adds: keys are not empty and start with a lowercase letter or an international character, at most 64 labels.
MAX_LABEL_CHARS = 64
MAX_LABELS = 64


def display_name_field(body: dict[str, Any], where: str, required: bool = True) -> str:
    """body["displayName"]: a string of at most 128 characters."""
    name = text_field(body, "displayName", where, required=required)
    if len(name) > MAX_DISPLAY_NAME:
        raise ApiError(400, f"{where}.displayName is {len(name)} characters; the limit is {MAX_DISPLAY_NAME}")
    return name


def label_char_ok(char: str) -> bool:
    """A lowercase letter (any script), a digit, '_' or '-'."""
    return char in "_-" or char.isdigit() or (char.isalpha() and not char.isupper())


def labels_field(body: dict[str, Any], where: str) -> dict[str, str]:
    """body["labels"]: a map of label keys to values in Google's label format ({} when absent)."""
    labels = body.get("labels")
    if labels is None:
        return {}
    if not isinstance(labels, dict) or not all(isinstance(value, str) for value in labels.values()):
        raise ApiError(400, f"{where}.labels must be an object of string keys to string values")
    if len(labels) > MAX_LABELS:
        raise ApiError(400, f"{where}.labels has {len(labels)} labels; the limit is {MAX_LABELS}")
    for key, value in labels.items():
        starts_right = bool(key) and key[0].isalpha() and not key[0].isupper()
        if not starts_right or len(key) > MAX_LABEL_CHARS or not all(map(label_char_ok, key)):
            raise ApiError(400, f"{where}.labels key {key!r}: 1-{MAX_LABEL_CHARS} lowercase letters, digits, '_' "
                           "or '-', starting with a lowercase letter")  # fmt: skip
        if len(value) > MAX_LABEL_CHARS or not all(map(label_char_ok, value)):
            raise ApiError(400, f"{where}.labels[{key!r}] = {value!r}: at most {MAX_LABEL_CHARS} lowercase "
                           "letters, digits, '_' or '-'")  # fmt: skip
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
