"""The trainer's file I/O: local paths as files, gs:// URIs through google-cloud-storage, one code path for both.

Why not TensorFlow's own gs:// filesystem: TF 2.21's tsl gcs_file_system has its endpoints compiled in
(https://www.googleapis.com/storage/v1/, .../upload/storage/v1/; see xla/tsl/platform/cloud/gcs_file_system.cc)
and no variable to point it at an emulator, so under vertex-local that path could never run. google-cloud-storage
honours STORAGE_EMULATOR_HOST (vertex-local sets it for every job; with it the client is anonymous); on Vertex the
variable is absent and the client signs in as the job's service account.

A run's output is written to a local directory first and uploaded when complete, metrics.json last, so a reader
that finds metrics.json finds the whole model beside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

SCHEME = "gs://"
LAST_FILES = ("saved_model.pb", "metrics.json")  # uploaded in this order, after every other file


class StorageError(Exception):
    """A gs:// read or write that failed: missing bucket or object, no permission, no server."""


def is_gcs(uri: str) -> bool:
    return uri.startswith(SCHEME)


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """gs://BUCKET/PATH -> (BUCKET, PATH without a trailing slash); ValueError for anything else."""
    bucket, _, name = uri.removeprefix(SCHEME).partition("/")
    if not is_gcs(uri) or not bucket:
        raise ValueError(f"{uri!r} is not a gs://BUCKET/PATH URI")
    return bucket, name.strip("/")


def check_output_location(uri: str) -> str:
    """A local path or gs:// URI the trainer can write to; ValueError for other schemes (s3://, http://)."""
    if is_gcs(uri):
        split_gcs_uri(uri)
    elif "://" in uri:
        raise ValueError(f"{uri!r}: the trainer writes to local paths and gs:// URIs only")
    return uri


def _client():  # -> google.cloud.storage.Client
    from google.cloud import storage  # deferred: only gs:// I/O needs it

    # project=None: reading and writing objects needs no project, so the client does not look one up.
    return storage.Client(project=None, credentials=_local_token_credentials(os.environ))


def _local_token_credentials(environ: Mapping[str, str]):  # -> google.auth.credentials.Credentials | None
    """A vertex-local started with a bearer token gives its jobs the token (VERTEX_LOCAL_TOKEN) beside
    STORAGE_EMULATOR_HOST; on Vertex neither is set and the client signs in as the job's service account."""
    token = environ.get("VERTEX_LOCAL_TOKEN")
    if not (token and environ.get("STORAGE_EMULATOR_HOST")):
        return None
    from google.oauth2.credentials import Credentials

    return Credentials(token)


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What a failed call raises: API errors, missing credentials, and the server being unreachable."""
    import google.auth.exceptions
    import requests
    from google.api_core import exceptions

    return (exceptions.GoogleAPIError, google.auth.exceptions.GoogleAuthError, requests.RequestException)


def read_bytes(uri: str) -> bytes:
    """The bytes of a local file or a gs:// object; FileNotFoundError when there is none, StorageError else."""
    if not is_gcs(uri):
        return Path(uri).read_bytes()
    from google.api_core.exceptions import NotFound

    bucket, name = split_gcs_uri(uri)
    try:
        return _client().bucket(bucket).blob(name).download_as_bytes()
    except NotFound as exc:
        raise FileNotFoundError(uri) from exc
    except _storage_errors() as exc:
        raise StorageError(f"{uri}: cannot read ({type(exc).__name__}: {exc})") from exc


def list_names(uri: str) -> dict[str, int]:
    """{name relative to the gs:// prefix: size} of every object under it; StorageError when it cannot list."""
    bucket, prefix = split_gcs_uri(uri)
    prefix = f"{prefix}/" if prefix else ""
    try:
        return {blob.name[len(prefix) :]: blob.size for blob in _client().list_blobs(bucket, prefix=prefix)}
    except _storage_errors() as exc:
        raise StorageError(f"{uri}: cannot list ({type(exc).__name__}: {exc})") from exc


def upload_dir(local_dir: Path, uri: str) -> list[str]:
    """Upload every file under local_dir to gs://BUCKET/PATH/<relative path>; returns the object names."""
    bucket_name, prefix = split_gcs_uri(uri)
    files = sorted((p for p in local_dir.rglob("*") if p.is_file()), key=lambda p: _upload_order(p, local_dir))
    bucket = _client().bucket(bucket_name)
    names = []
    for path in files:
        name = "/".join(filter(None, (prefix, path.relative_to(local_dir).as_posix())))
        try:
            bucket.blob(name).upload_from_filename(str(path))
        except _storage_errors() as exc:
            raise StorageError(f"cannot write gs://{bucket_name}/{name} ({type(exc).__name__}: {exc})") from exc
        names.append(name)
    return names


def _upload_order(path: Path, root: Path) -> tuple[int, str]:
    relative = path.relative_to(root).as_posix()
    return (LAST_FILES.index(relative) + 1 if relative in LAST_FILES else 0, relative)


@contextlib.contextmanager
def output_dir(location: str, publish: bool = True) -> Iterator[Path]:
    """A local directory to write a run's files into.

    A local `location` is that directory. For gs:// it is a scratch directory, uploaded when the block ends
    without an error and removed either way. publish=False (a non-chief worker, whose copy nobody reads)
    gives a scratch directory that is only removed.
    """
    if publish and not is_gcs(location):
        Path(location).mkdir(parents=True, exist_ok=True)
        yield Path(location)
        return
    scratch = Path(tempfile.mkdtemp(prefix="trainer-output-"))
    try:
        yield scratch
        if publish:
            upload_dir(scratch, location)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
