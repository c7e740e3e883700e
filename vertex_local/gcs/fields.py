"""The writable metadata of an object: what an upload, PATCH or PUT may set, checked as Cloud Storage checks it.

Fields: https://cloud.google.com/storage/docs/json_api/v1/objects#resource (writable ones), custom metadata
limits: https://cloud.google.com/storage/docs/metadata#custom-metadata, object contexts:
https://cloud.google.com/storage/docs/object-contexts. Output-only fields a client sends back (a PUT carries the
whole resource) are ignored, as Cloud Storage ignores them. Writable features vertex-local does not implement
(ACLs, holds, retention, customer or KMS keys) are refused (400, naming the field) rather than stored and silently
not enforced.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from vertex_local.errors import ApiError

TEXT_FIELDS = ("contentType", "contentEncoding", "contentDisposition", "contentLanguage", "cacheControl")
NOT_IMPLEMENTED = ("acl", "temporaryHold", "eventBasedHold", "retention", "kmsKeyName", "customerEncryption")
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL",
                   "DURABLE_REDUCED_AVAILABILITY")  # fmt: skip
MAX_CUSTOM_METADATA_BYTES = 8 * 1024  # keys and values together
HEADER_CHARS = re.compile(r"[\t\x20-\x7e\x80-\xff]")  # RFC 9110 field-value characters: no controls


def header_value(value: object, field: str) -> str:
    """A field a download sends back as a response header: a string an HTTP header can carry. A CR or LF would
    end the header (every download of the object a reset connection), a character past Latin-1 cannot be sent."""
    if not isinstance(value, str):
        raise ApiError(400, f"{field} must be a string, got {type(value).__name__}")
    bad = next((char for char in value if not HEADER_CHARS.fullmatch(char)), None)
    if bad is not None:
        raise ApiError(400, f"{field} holds {bad!r}, which an HTTP header cannot carry: use printable Latin-1 text "
                            "(other characters percent-encoded as RFC 8187 says: filename*=UTF-8''...)")  # fmt: skip
    return value


def refuse_unimplemented(body: dict[str, Any], where: str) -> None:
    for key in NOT_IMPLEMENTED:
        if body.get(key) not in (None, False, [], {}):
            raise ApiError(400, f"{where}: '{key}' is not implemented by vertex-local (ACLs, holds, retention and "
                                "encryption keys are not enforced locally, so they are refused)")  # fmt: skip


def refuse_encryption_keys(headers: Mapping[str, str]) -> None:
    """Customer-supplied keys travel in x-goog-encryption-* headers: refused, as nothing would be encrypted."""
    if any(name.startswith(("x-goog-encryption", "x-goog-copy-source-encryption")) for name in headers):
        raise ApiError(400, "customer-supplied encryption keys are not implemented by vertex-local")


def rfc3339_us(value: object, field: str) -> int:
    """An RFC 3339 timestamp as microseconds since the epoch; 400 otherwise."""
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{field} must be an RFC 3339 timestamp, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1_000_000)


def checked_metadata(value: object, allow_null: bool) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise ApiError(400, f"'metadata' must be an object of string values, got {type(value).__name__}")
    for key, item in value.items():
        if not (isinstance(item, str) or (allow_null and item is None)):
            raise ApiError(400, f"metadata[{key!r}] must be a string, got {type(item).__name__}")
    return value


def merged_contexts(current: dict[str, Any], value: object, now: str) -> dict[str, Any]:
    """contexts after a write: custom keys with a null value (or payload) go, others are set or kept."""
    if value is None:
        return {}
    custom = value.get("custom", {}) if isinstance(value, dict) else None
    if not isinstance(custom, dict):
        raise ApiError(400, "'contexts' must be an object with a 'custom' object of {key: {\"value\": string}}")
    merged = dict(current)
    for key, payload in custom.items():
        text = payload.get("value") if isinstance(payload, dict) else payload
        if text is None:
            merged.pop(key, None)
            continue
        if not isinstance(text, str):
            raise ApiError(400, f"contexts.custom[{key!r}].value must be a string")
        created = merged.get(key, {}).get("createTime", now)
        merged[key] = {"value": text, "createTime": created, "updateTime": now}
    return {"custom": merged} if merged else {}


def put(meta: dict[str, Any], key: str, value: Any) -> None:
    """Set a field, or drop it when the value is empty (the resource leaves empty fields out)."""
    if value in (None, "", {}):
        meta.pop(key, None)
    else:
        meta[key] = value


def apply_fields(meta: dict[str, Any], body: dict[str, Any], replace: bool, now: str) -> dict[str, Any]:
    """`meta` after writing `body`: a PATCH (replace=False) changes what it names, null clearing a field; an upload
    or PUT (replace=True) sets exactly what it names (the storage class and a custom time stay: neither is cleared
    that way)."""
    refuse_unimplemented(body, "object metadata")
    kept = ("storageClass", "customTime")
    result = {k: v for k, v in meta.items() if k in kept} if replace else dict(meta)
    for field in TEXT_FIELDS:
        if field in body:
            if body[field] is not None:
                header_value(body[field], field)
            put(result, field, body[field])
    if "metadata" in body:
        patch = checked_metadata(body["metadata"] or {}, allow_null=True)
        custom = {} if replace or body["metadata"] is None else dict(meta.get("metadata", {}))
        for key, value in patch.items():
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
        if sum(len(k.encode()) + len(v.encode()) for k, v in custom.items()) > MAX_CUSTOM_METADATA_BYTES:
            raise ApiError(400, f"custom metadata exceeds {MAX_CUSTOM_METADATA_BYTES} bytes of keys and values")
        put(result, "metadata", custom)
    if "customTime" in body:
        result = with_custom_time(result, meta.get("customTime"), body["customTime"])
    if "contexts" in body:
        current = {} if replace else meta.get("contexts", {}).get("custom", {})
        put(result, "contexts", merged_contexts(current, body["contexts"], now))
    return result


def with_custom_time(meta: dict[str, Any], current: str | None, value: object) -> dict[str, Any]:
    """customTime can be set once and then only moved later, never removed
    (https://cloud.google.com/storage/docs/metadata#custom-time)."""
    if value is None:
        if current is not None:
            raise ApiError(400, "customTime cannot be removed once set")
        return meta
    if current is not None and rfc3339_us(value, "customTime") < rfc3339_us(current, "customTime"):
        raise ApiError(400, f"customTime can only move later: {value!r} is before {current!r}")
    rfc3339_us(value, "customTime")
    return meta | {"customTime": value}


def storage_class(value: object) -> str:
    if value not in STORAGE_CLASSES:
        raise ApiError(400, f"storageClass must be one of {', '.join(STORAGE_CLASSES)}, got {value!r}")
    return str(value)
