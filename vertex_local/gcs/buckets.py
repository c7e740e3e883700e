"""Bucket resources: what a create, PATCH or PUT may set, checked as Cloud Storage checks it, and how they read.

Resource: https://cloud.google.com/storage/docs/json_api/v1/buckets#resource; labels:
https://cloud.google.com/storage/docs/tags-and-labels#bucket-labels; storage classes:
https://cloud.google.com/storage/docs/storage-classes. Supported: location, storageClass, labels, versioning.
Bucket features vertex-local does not enforce (lifecycle, retention, CORS, ACLs, IAM configuration, encryption,
autoclass, soft delete, ...) are refused (400, naming the field) rather than stored and silently not applied.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.gcs.fields import storage_class
from vertex_local.gcs.names import check_new_bucket_name
from vertex_local.gcs.preconditions import NotModified, Preconditions
from vertex_local.gcs.resources import rfc3339, varint

WRITABLE = ("location", "storageClass", "labels", "versioning", "billing")
OUTPUT_ONLY = ("kind", "id", "selfLink", "name", "projectNumber", "metageneration", "etag", "timeCreated", "updated",
               "locationType", "generation")  # fmt: skip
MULTI_REGIONS = ("US", "EU", "ASIA")
# Predefined dual-regions, named like multi-regions but with a digit (https://cloud.google.com/storage/docs/
# locations#predefined); configurable ones (customPlacementConfig) stay refused with the other unsupported fields.
DUAL_REGIONS = ("ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4")
LOCATION = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+\d*)?")
LABEL_KEY = re.compile(r"[\w-]{1,63}", re.UNICODE)
MAX_LABELS = 64


def project_number(project: str) -> str:
    """A stable 12-digit number for a project id, shaped like the ones Cloud Storage reports (never "0")."""
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)


def refuse_unsupported(body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key not in WRITABLE and key not in OUTPUT_ONLY and value not in (None, False, [], {}):
            raise ApiError(400, f"bucket field '{key}' is not implemented by vertex-local (it supports "
                                f"{', '.join(WRITABLE)}); refused rather than stored and not applied")  # fmt: skip


def checked_labels(current: dict[str, str], value: object, replace: bool) -> dict[str, str]:
    """Labels after a write: a PATCH merges (a null value removes the key), a create or PUT replaces."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "labels must be an object of string values")
    labels = {} if replace else dict(current)
    for key, item in value.items():
        if item is None:
            labels.pop(key, None)
            continue
        if not LABEL_KEY.fullmatch(key) or not key[0].islower() or key != key.lower():
            raise ApiError(
                400, f"label key {key!r}: 1-63 lowercase letters, digits, '_' or '-', starting with a letter"
            )
        if (
            not isinstance(item, str)
            or len(item) > 63
            or (item and not LABEL_KEY.fullmatch(item))
            or item != item.lower()
        ):
            raise ApiError(400, f"label value {item!r} of {key!r}: 0-63 lowercase letters, digits, '_' or '-'")
        labels[key] = item
    if len(labels) > MAX_LABELS:
        raise ApiError(400, f"a bucket has at most {MAX_LABELS} labels, this write leaves {len(labels)}")
    return labels


def checked_versioning(value: object) -> dict[str, bool]:
    enabled = value.get("enabled") if isinstance(value, dict) else None
    if not isinstance(enabled, bool):
        raise ApiError(400, 'versioning must be {"enabled": true|false}')
    return {"enabled": enabled}


def checked_billing(value: object) -> dict[str, bool]:
    """billing.requesterPays only says who pays for requests; vertex-local bills no one, so it is kept and shown."""
    pays = value.get("requesterPays", False) if isinstance(value, dict) else value
    if not isinstance(pays, bool) or (isinstance(value, dict) and set(value) - {"requesterPays"}):
        raise ApiError(400, 'billing must be {"requesterPays": true|false}')
    return {"requesterPays": pays}


def new_bucket(body: dict[str, Any], project: str, now_us: int) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str):
        raise ApiError(400, "a new bucket needs a string 'name'")
    refuse_unsupported(body)
    location = str(body.get("location") or "US").upper()
    if not LOCATION.fullmatch(location) and location not in DUAL_REGIONS:
        raise ApiError(400, f"location {location!r} is not a Cloud Storage location name (US, EU, US-CENTRAL1, ...)")
    bucket = {
        "name": check_new_bucket_name(name),
        "project": project,
        "location": location,
        "storageClass": storage_class(body.get("storageClass") or "STANDARD"),
        "labels": checked_labels({}, body.get("labels"), replace=True),
        "versioning": checked_versioning(body.get("versioning") or {"enabled": False}),
        "billing": checked_billing(body.get("billing") or {}),
        "created": now_us,
        "updated": now_us,
        "metageneration": 1,
    }
    return bucket


def changed_bucket(bucket: dict[str, Any], body: dict[str, Any], replace: bool, now_us: int) -> dict[str, Any]:
    """The bucket after a PATCH (replace=False) or PUT (replace=True); its name and location cannot change."""
    refuse_unsupported(body)
    for key in ("name", "location"):
        if key in body and str(body[key]).upper() != str(bucket[key]).upper():
            raise ApiError(400, f"a bucket's {key} cannot be changed ({bucket[key]!r} -> {body[key]!r})")
    changed = dict(bucket)
    if "storageClass" in body or replace:
        changed["storageClass"] = storage_class(body.get("storageClass") or "STANDARD")
    if "labels" in body or replace:
        changed["labels"] = checked_labels(bucket["labels"], body.get("labels"), replace)
    if "versioning" in body or replace:
        changed["versioning"] = checked_versioning(body.get("versioning") or {"enabled": False})
    if "billing" in body or replace:
        changed["billing"] = checked_billing(body.get("billing") or {})
    changed |= {"updated": now_us, "metageneration": bucket["metageneration"] + 1}
    return changed


def bucket_resource(bucket: dict[str, Any], base_url: str) -> dict[str, Any]:
    location = bucket["location"]
    resource = {
        "kind": "storage#bucket",
        "id": bucket["name"],
        "selfLink": f"{base_url}storage/v1/b/{bucket['name']}",
        "name": bucket["name"],
        "projectNumber": project_number(bucket["project"]),
        "metageneration": str(bucket["metageneration"]),
        "location": location,
        "locationType": location_type(location),
        "storageClass": bucket["storageClass"],
        "etag": base64.b64encode(b"\x08" + varint(bucket["metageneration"])).decode(),
        "timeCreated": rfc3339(bucket["created"]),
        "updated": rfc3339(bucket["updated"]),
        "versioning": bucket["versioning"],
    }
    if bucket["labels"]:
        resource["labels"] = bucket["labels"]
    if bucket.get("billing", {}).get("requesterPays"):
        resource["billing"] = bucket["billing"]
    return resource


def location_type(location: str) -> str:
    if location in MULTI_REGIONS:
        return "multi-region"
    return "dual-region" if location in DUAL_REGIONS else "region"


def check_preconditions(checks: Preconditions, bucket: dict[str, Any]) -> None:
    """Buckets take ifMetagenerationMatch / ifMetagenerationNotMatch only."""
    if checks.generation_match is not None or checks.generation_not_match is not None:
        raise ApiError(400, "bucket requests take ifMetagenerationMatch or ifMetagenerationNotMatch, not generations")
    wanted, unwanted = checks.metageneration_match, checks.metageneration_not_match
    if wanted is not None and wanted != bucket["metageneration"]:
        raise ApiError(412, f"ifMetagenerationMatch={wanted} failed: bucket is at metageneration "
                            f"{bucket['metageneration']}")  # fmt: skip
    if unwanted is not None and unwanted == bucket["metageneration"]:
        raise NotModified(f"ifMetagenerationNotMatch={unwanted}: bucket is still at that metageneration")
