"""/gcs/BUCKET/PATH in a custom job's command, args and env: Vertex's Cloud Storage FUSE mount, as far as it goes here.

On Vertex every custom training job sees the buckets it may read as folders of /gcs/ (Cloud Storage FUSE,
https://cloud.google.com/vertex-ai/docs/training/cloud-storage-file-system): open('/gcs/BUCKET/data.csv') reads
gs://BUCKET/data.csv, and files written there become objects. vertex-local mounts nothing (no root, no FUSE):

- each /gcs/BUCKET[/PATH] in the spec's strings is rewritten to the job's own folder, <workspace>/gcs/BUCKET[/PATH];
- before the replicas start, what each one names is copied in through the object store's public API: the object
  PATH, or every object under PATH/ (a folder), or the whole bucket for /gcs/BUCKET; other objects are not there;
- when the job ends, files that are new or changed under <workspace>/gcs/BUCKET/ are uploaded as objects through
  the Cloud Storage JSON API (as gcsfuse itself writes), with the server's bearer token when it has one; a new
  file only if no object of its name appeared meanwhile (ifGenerationMatch=0). Symbolic links and empty folders
  are not uploaded; nothing is deleted.
A path built inside the job's code (not in its spec) is not rewritten: on vertex-local it misses.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from vertex_local.gcs import ObjectStore

# After anything that could make it part of a longer path or URL; the path ends at whitespace or shell syntax.
REFERENCE = re.compile(
    r"(?<![\w./~-])/gcs/(?P<bucket>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(?P<path>/[^\s'\"`;&|<>(){}$\\]*)?"
)
SAFE_ROOT = re.compile(r"[\w./-]+")  # a workspace path that needs no quoting inside a shell command
UPLOAD_TIMEOUT_S = 600.0  # one object's upload to this same server


@dataclasses.dataclass(frozen=True)
class StorageApi:
    """This server's own Cloud Storage JSON API, as the write-back reaches it."""

    url: str
    token: str | None = None  # a server started with a token refuses requests without it (vertex_local/http/guard.py)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclasses.dataclass(frozen=True)
class Reference:
    bucket: str
    path: str  # "" for the bucket itself; may end with "/"


def references(texts: Iterable[str]) -> set[Reference]:
    return {Reference(m["bucket"], (m["path"] or "").lstrip("/")) for text in texts for m in REFERENCE.finditer(text)}


def rewrite(text: str, root: Path) -> str:
    """`text` with each /gcs/BUCKET prefix pointing into `root` instead."""
    return REFERENCE.sub(lambda m: f"{root}/{m['bucket']}{m['path'] or ''}", text)


def root_is_safe(root: Path) -> bool:
    """Whether the folder can stand in for /gcs inside a shell command unquoted, as /gcs itself can."""
    return SAFE_ROOT.fullmatch(str(root)) is not None


def copy_in(store: ObjectStore, root: Path, wanted: set[Reference], object_limit: int) -> list[str]:
    """Copy what each reference names into root/BUCKET/...; returns a note for each one that found nothing.

    A bucket's folder is always made: writing into a bucket that does not exist fails when the job ends."""
    notes = []
    for ref in sorted(wanted, key=lambda r: (r.bucket, r.path)):
        (root / ref.bucket).mkdir(parents=True, exist_ok=True)
        where, uri, target = f"/gcs/{ref.bucket}/{ref.path}", f"gs://{ref.bucket}/{ref.path}", root / ref.bucket
        if any(part in (".", "..", "") for part in ref.path.rstrip("/").split("/")) and ref.path:
            notes.append(f"{where}: nothing copied in (a path with empty, . or .. parts)")
            continue
        tried = ""
        if ref.path and not ref.path.endswith("/"):
            try:
                data = store.read_object(uri, object_limit)
            except ValueError as exc:  # not an object (or too big to read whole): maybe a folder
                tried = f"{exc}; "
            else:
                (target / ref.path).parent.mkdir(parents=True, exist_ok=True)
                (target / ref.path).write_bytes(data)
                continue
        try:
            store.copy_prefix(uri, target / ref.path)
        except ValueError as exc:
            notes.append(f"{where}: nothing copied in ({tried}{exc})")
    return notes


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under root (relative path -> size, mtime in ns), to see later what the job changed."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(folder, name))]
        for name in files:
            path = os.path.join(folder, name)
            stat = os.lstat(path)
            if os.path.isfile(path) and not os.path.islink(path):
                found[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return found


def write_back(root: Path, before: dict[str, tuple[int, int]], storage: StorageApi) -> tuple[list[str], list[str]]:
    """Upload what the job wrote under root/BUCKET/; returns (gs:// URIs uploaded, failures)."""
    uploaded, failures = [], []
    for relative, stat in sorted(snapshot(root).items()):
        if before.get(relative) == stat:
            continue
        bucket, _, name = relative.partition(os.sep)
        uri = f"gs://{bucket}/{name.replace(os.sep, '/')}"
        if not name:
            failures.append(f"/gcs/{relative}: a file directly in /gcs/ is not in a bucket")
            continue
        try:
            upload(storage, root / relative, bucket, name.replace(os.sep, "/"), new=relative not in before)
            uploaded.append(uri)
        except (OSError, urllib.error.URLError) as exc:
            failures.append(f"{uri}: {describe(exc)}")
    return uploaded, failures


def upload(storage: StorageApi, path: Path, bucket: str, name: str, new: bool) -> None:
    """One file as an object (a media upload), with its MD5 for the server to check."""
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            md5.update(block)
    query = f"uploadType=media&name={quote(name, safe='')}" + ("&ifGenerationMatch=0" if new else "")
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size),
               "x-goog-hash": f"md5={base64.b64encode(md5.digest()).decode()}", **storage.headers()}  # fmt: skip
    with path.open("rb") as data:
        request = urllib.request.Request(f"{storage.url}/upload/storage/v1/b/{quote(bucket, safe='')}/o?{query}",
                                         data=data, headers=headers, method="POST")  # fmt: skip
        with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_S) as answer:
            answer.read()


def describe(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 412:
            return "an object of that name was written while the job ran; the job's new file was not uploaded"
        return f"HTTP {exc.code}: {exc.read(2048).decode(errors='replace')}"
    return str(exc)
