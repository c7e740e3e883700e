"""TRANSITIONAL: files under <gcs_root>/BUCKET/PATH written behind the API's back, and `local_path`.

Custom jobs still get local AIP_* directories (local_path) and deployments still load models from a local path.
Until jobs write through the storage API (trainer-io) and deployments copy models with ObjectStore.copy_prefix
(vertex), the store shows such files as objects (read, list, delete; never patched) and local_path hands a
deployment a copy of what the catalog holds. Delete this module, its uses in store.py/listing.py and the export
in __init__.py then. Checksums of these files are computed when first read and kept while size and mtime hold.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
import shutil
from pathlib import Path

from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.content import Digests
from vertex_local.gcs.names import split_uri

LEGACY = "legacy:"  # content of a record that is a file written behind the API's back
MAX_SEGMENT_BYTES = 255  # what a filesystem path segment holds


def path_parts(name: str) -> list[str] | None:
    """The path segments of `name`, or None when no plain file can hold it."""
    parts = name.split("/")
    if any(p in ("", ".", "..") or len(p.encode()) > MAX_SEGMENT_BYTES or "\x00" in p for p in parts):
        return None
    return parts


@functools.lru_cache(maxsize=4096)
def file_digests(path: Path, size: int, mtime_ns: int) -> tuple[str, str]:
    digests = Digests.of_file(path)
    return digests.md5, digests.crc32c


class LegacyFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, bucket: str, name: str) -> Path | None:
        parts = path_parts(name)
        return self.root.joinpath(bucket, *parts) if parts else None

    def find(self, bucket: str, name: str) -> ObjectRecord | None:
        path = self._file(bucket, name)
        try:
            st = path.stat() if path else None
        except OSError:  # missing, or a segment is a file
            return None
        if st is None or not path.is_file():
            return None
        md5, crc = file_digests(path, st.st_size, st.st_mtime_ns)
        us = st.st_mtime_ns // 1000
        meta = {"contentType": mimetypes.guess_type(name)[0] or "application/octet-stream"}
        return ObjectRecord(bucket, name, us, True, 1, st.st_size, md5, crc, LEGACY + name, us, us, None, meta)

    def records(self, bucket: str, prefix: str) -> list[ObjectRecord]:
        """Every file under the bucket folder whose name starts with `prefix`, sorted by name."""
        base = self.root / bucket
        if not base.is_dir():
            return []
        names = []
        for directory, _, files in os.walk(base):
            relative = Path(directory).relative_to(base).as_posix()
            folder = "" if relative == "." else relative + "/"
            names.extend(folder + f for f in files if (folder + f).startswith(prefix))
        return [record for record in map(lambda n: self.find(bucket, n), sorted(names)) if record]

    def holds_files(self, bucket: str) -> bool:
        base = self.root / bucket
        return base.is_dir() and any(files for _, _, files in os.walk(base))

    def path_of(self, record: ObjectRecord) -> Path:
        return self.root.joinpath(record.bucket, *record.content.removeprefix(LEGACY).split("/"))

    def remove(self, record: ObjectRecord) -> None:
        path = self.path_of(record)
        path.unlink(missing_ok=True)
        for parent in path.parents:  # leave no empty folders behind
            if parent == self.root / record.bucket or any(parent.iterdir()):
                break
            parent.rmdir()


def local_path(gcs_root: Path, uri: str) -> Path:
    """TRANSITIONAL. A local directory for gs://BUCKET/PATH: the folder a job writes into (<gcs_root>/BUCKET/PATH),
    or, when the catalog holds objects under it, a fresh copy of them (how a deployment loads a model)."""
    bucket, name = split_uri(uri)
    parts = path_parts(name.rstrip("/")) if name.rstrip("/") else []
    if parts is None:
        raise ValueError(f"{uri!r} cannot be a local path: use '/'-separated names without '.', '..' or '//'")
    path = gcs_root.joinpath(bucket, *parts)
    if path.exists() or not parts:
        return path
    from vertex_local.gcs.store import ObjectStore  # the store imports this module

    copy = gcs_root / ".local-copies" / hashlib.sha256(uri.encode()).hexdigest()[:16]
    scratch = copy.with_name(copy.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    store = ObjectStore(gcs_root)
    try:
        store.copy_prefix(uri, scratch)
    except ValueError:
        return path  # nothing stored there yet: the folder a job will write into
    finally:
        store.catalog.close()
    shutil.rmtree(copy, ignore_errors=True)
    os.replace(scratch, copy)
    return copy
