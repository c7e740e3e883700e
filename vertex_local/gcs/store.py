"""Cloud Storage objects as plain files: gs://BUCKET/PATH is <gcs_root>/BUCKET/PATH, so `ls` shows them.

Writes land in <gcs_root>/.uploads first and are moved into place with os.replace, so a crash never
leaves half an object where readers look. What a file cannot hold (content type, custom metadata,
cached checksums) sits in <gcs_root>/.meta/BUCKET/<sha256 of the name>.json and is trusted only while the
file's size and mtime still match it, so files copied in by hand show up too (with computed checksums).
Bucket names cannot start with a dot, so the two dot-folders never clash with a bucket.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import mimetypes
import os
import re
import secrets
import shutil
from pathlib import Path

import google_crc32c

from vertex_local.errors import ApiError

BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
MAX_NAME_BYTES = 1024  # Cloud Storage's limit on object names
READ_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """One stored object as the JSON API describes it."""

    bucket: str
    name: str
    size: int
    mtime_ns: int
    content_type: str
    metadata: dict[str, str]
    md5: str  # base64, as the API writes md5Hash
    crc32c: str  # base64 of the big-endian CRC32C

    @property
    def generation(self) -> int:
        """Microseconds since the epoch of the last write, like Cloud Storage's generations."""
        return self.mtime_ns // 1000


@dataclasses.dataclass(frozen=True)
class NewObject:
    """What an upload says about the object it writes; a resumable session keeps it as JSON."""

    bucket: str
    name: str
    content_type: str
    metadata: dict[str, str]
    if_generation_match: int | None = None  # 0: only if no such object exists yet
    md5: str | None = None  # checksums the client sent, checked before the object becomes visible
    crc32c: str | None = None


def check_bucket_name(bucket: str) -> str:
    if not BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"invalid bucket name {bucket!r}: use 3-63 of a-z 0-9 . _ -, starting and ending alnum")
    return bucket


def check_object_name(name: str, allow_folder: bool = False) -> str:
    """Refuse names that a filesystem path cannot hold faithfully or that would leave the bucket folder."""
    body = name[:-1] if allow_folder and name.endswith("/") else name
    if not name or len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"object name must be 1-{MAX_NAME_BYTES} bytes, got {len(name.encode())}")
    if "\x00" in name or "\r" in name or "\n" in name:
        raise ValueError(f"object name {name!r} contains NUL, CR or LF")
    if any(part in ("", ".", "..") for part in body.split("/")):
        raise ValueError(
            f"object name {name!r} is not a relative path: no leading '/', '//', '.' or '..' segments"
            + ("" if allow_folder else ", and no trailing '/' (folder placeholders are not stored)")
        )
    return name


def local_path(gcs_root: Path, uri: str) -> Path:
    """Map gs://BUCKET/PATH to <gcs_root>/BUCKET/PATH; ValueError for other schemes or escaping paths."""
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    check_bucket_name(bucket)
    if name:
        check_object_name(name, allow_folder=True)
    return gcs_root / bucket / name


def split_uri(uri: str, allow_folder: bool = False) -> tuple[str, str]:
    """gs://BUCKET/NAME -> (BUCKET, NAME), both checked; ValueError otherwise."""
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return check_bucket_name(bucket), check_object_name(name, allow_folder)


def file_checksums(path: Path) -> tuple[str, str]:
    """(md5, crc32c) of a file, base64-encoded as the JSON API and the x-goog-hash header carry them."""
    md5 = hashlib.md5(usedforsecurity=False)
    crc = google_crc32c.Checksum()
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            md5.update(chunk)
            crc.update(chunk)
    return base64.b64encode(md5.digest()).decode(), base64.b64encode(crc.digest()).decode()


def current_generation(path: Path) -> int:
    """The generation a precondition compares with; 0 when there is no such object."""
    try:
        return path.stat().st_mtime_ns // 1000 if path.is_file() else 0
    except NotADirectoryError:
        return 0


def check_upload(new: NewObject, md5: str, crc32c: str, generation: int) -> None:
    for label, sent, actual in (("md5Hash", new.md5, md5), ("crc32c", new.crc32c, crc32c)):
        if sent is not None and sent != actual:
            raise ApiError(
                400,
                f"{label} {sent} sent with gs://{new.bucket}/{new.name} != {actual} of the bytes received",
            )
    if new.if_generation_match is not None and new.if_generation_match != generation:
        raise ApiError(
            412, f"gs://{new.bucket}/{new.name} is at generation {generation}, not {new.if_generation_match}"
        )


class ObjectStore:
    """Buckets are folders under `root`, objects are files; every path is checked before use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / ".uploads"
        self.meta = root / ".meta"

    def bucket_dir(self, bucket: str) -> Path:
        try:
            return self.root / check_bucket_name(bucket)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

    def existing_bucket_dir(self, bucket: str) -> Path:
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise ApiError(404, f"bucket {bucket} not found")
        return path

    def object_path(self, bucket: str, name: str) -> Path:
        try:
            return self.existing_bucket_dir(bucket) / check_object_name(name)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc

    def create_bucket(self, bucket: str, location: str) -> None:
        path = self.bucket_dir(bucket)
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            raise ApiError(409, f"bucket {bucket} already exists") from None
        self._write_json(self._bucket_meta_file(bucket), {"location": location})

    def delete_bucket(self, bucket: str) -> None:
        path = self.existing_bucket_dir(bucket)
        if any(path.iterdir()):
            raise ApiError(409, f"bucket {bucket} is not empty")
        path.rmdir()
        shutil.rmtree(self.meta / bucket, ignore_errors=True)

    def bucket_location(self, bucket: str) -> str:
        try:
            return json.loads(self._bucket_meta_file(bucket).read_text())["location"]
        except (OSError, ValueError, KeyError):
            return "US-CENTRAL1"  # a folder made by hand: the region the pipeline uses

    def list_buckets(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and BUCKET_NAME.fullmatch(p.name))

    def new_upload_file(self, upload_id: str) -> Path:
        """An empty scratch file beside the buckets (same filesystem, so os.replace is atomic)."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        path = self.uploads / upload_id
        path.touch()
        return path

    def stat(self, bucket: str, name: str) -> ObjectInfo:
        """Describe an object; blocking (may checksum the file), so call it off the event loop."""
        path = self.object_path(bucket, name)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is None or not path.is_file():
            raise ApiError(404, f"object gs://{bucket}/{name} not found")
        saved = self._read_meta(bucket, name)
        if saved.get("size") == st.st_size and saved.get("mtime_ns") == st.st_mtime_ns:
            md5, crc = saved["md5"], saved["crc32c"]
        else:
            md5, crc = file_checksums(path)
            saved = {"metadata": saved.get("metadata", {})}
        content_type = saved.get("content_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return ObjectInfo(bucket, name, st.st_size, st.st_mtime_ns, content_type, saved["metadata"], md5, crc)

    def commit(self, source: Path, new: NewObject) -> ObjectInfo:
        """Move a finished upload into place once its checksums and precondition hold; blocking."""
        target = self.object_path(new.bucket, new.name)
        md5, crc = file_checksums(source)
        try:
            check_upload(new, md5, crc, current_generation(target))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            # Cloud Storage allows objects "a" and "a/b" side by side; a filesystem does not.
            message = "an object and a folder of objects would share one path"
            raise ApiError(409, f"gs://{new.bucket}/{new.name} cannot be stored: {message}") from None
        finally:
            source.unlink(missing_ok=True)
        st = target.stat()
        saved = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5, "crc32c": crc}
        saved |= {"content_type": new.content_type, "metadata": new.metadata}
        self._write_json(self._meta_file(new.bucket, new.name), saved)
        return ObjectInfo(new.bucket, new.name, st.st_size, st.st_mtime_ns, new.content_type, new.metadata, md5, crc)

    def delete(self, bucket: str, name: str) -> None:
        path = self.object_path(bucket, name)
        if not path.is_file():
            raise ApiError(404, f"object gs://{bucket}/{name} not found")
        path.unlink()
        self._meta_file(bucket, name).unlink(missing_ok=True)
        bucket_dir = self.bucket_dir(bucket)
        for parent in path.parents:  # Cloud Storage has no empty folders, so leave none behind
            if parent == bucket_dir or any(parent.iterdir()):
                break
            parent.rmdir()

    def names(self, bucket: str, prefix: str) -> list[str]:
        """Every object name in the bucket that starts with `prefix`, sorted; blocking."""
        bucket_dir = self.existing_bucket_dir(bucket)
        folder = prefix.rpartition("/")[0]
        try:
            start = bucket_dir / check_object_name(folder) if folder else bucket_dir
        except ValueError:
            return []  # "/x", "a//b", "../": no stored name can start like that
        found = []
        for directory, _, files in os.walk(start):
            relative = Path(directory).relative_to(bucket_dir).as_posix()
            base = "" if relative == "." else relative + "/"
            found.extend(base + f for f in files if (base + f).startswith(prefix))
        return sorted(found)

    def read_object(self, uri: str, limit: int) -> bytes:
        """The bytes of gs://BUCKET/NAME, for other surfaces; ValueError if it is missing or over `limit` bytes."""
        bucket, name = split_uri(uri)
        try:
            info = self.stat(bucket, name)
        except ApiError as exc:
            raise ValueError(f"{uri}: {exc.message}") from None
        if info.size > limit:
            raise ValueError(f"{uri} is {info.size} bytes, more than the {limit} this reader takes")
        return self.object_path(bucket, name).read_bytes()

    def copy_prefix(self, uri: str, dest: Path) -> int:
        """Copy every object under gs://BUCKET/PREFIX/ into `dest` as files (how a model server takes a model
        directory); blocking. Returns how many; ValueError when the URI is bad or holds no object."""
        bucket, prefix = split_uri(uri.rstrip("/") + "/", allow_folder=True)
        try:
            names = [name for name in self.names(bucket, prefix) if not name.endswith("/")]
        except ApiError as exc:
            raise ValueError(f"{uri}: {exc.message}") from None
        if not names:
            raise ValueError(f"{uri} holds no objects")
        for name in names:
            target = dest / name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.object_path(bucket, name), target)
        return len(names)

    def stat_many(self, bucket: str, names: list[str]) -> list[ObjectInfo]:
        """stat() of each name, leaving out any deleted since it was listed; blocking."""
        found = []
        for name in names:
            try:
                found.append(self.stat(bucket, name))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return found

    def _meta_file(self, bucket: str, name: str) -> Path:
        return self.meta / bucket / f"{hashlib.sha256(name.encode()).hexdigest()}.json"

    def _bucket_meta_file(self, bucket: str) -> Path:
        return self.meta / bucket / "_bucket.json"  # hex digests never start with "_"

    def _read_meta(self, bucket: str, name: str) -> dict:
        try:
            return json.loads(self._meta_file(bucket, name).read_text())
        except (OSError, ValueError):
            return {}

    def _write_json(self, path: Path, content: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")  # one per writer
        scratch.write_text(json.dumps(content))
        os.replace(scratch, path)
