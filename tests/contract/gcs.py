"""Helpers for the Cloud Storage contract tests: objects under the session's prefix, cleaned up at the end."""

from __future__ import annotations

import base64
import hashlib

import google_crc32c
from google.cloud import storage


def digests(data: bytes) -> tuple[str, str]:
    """(md5Hash, crc32c) of `data` as the JSON API writes them."""
    crc = google_crc32c.Checksum(data).digest()
    return base64.b64encode(hashlib.md5(data).digest()).decode(), base64.b64encode(crc).decode()


def fresh_blob(target, label: str, name: str | None = None) -> storage.Blob:
    """A blob under the session's prefix (or exactly `name`), every generation deleted when the session ends."""
    bucket = target.storage_client().bucket(target.bucket)
    blob = bucket.blob(name or target.object_name(label))

    def delete() -> None:
        for version in bucket.list_blobs(prefix=blob.name, versions=True):
            if version.name == blob.name:
                version.delete()

    target.created(delete)
    return blob
