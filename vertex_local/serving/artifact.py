"""The serving container's model: the objects under $AIP_STORAGE_URI, copied to a folder by google-cloud-storage.

Vertex copies a Model's artifactUri to a bucket of its own at deploy and hands the container that copy as
AIP_STORAGE_URI ("Custom container requirements for inference", section "Environment variables":
https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements#aip-variables). The client
honours STORAGE_EMULATOR_HOST (then it is anonymous), so under vertex-local the very same code reads vertex-local's
storage; on Vertex it signs in as the deployment's service account.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEME = "gs://"
# How long the copy keeps retrying a storage that does not answer before the container gives up (seconds):
# long enough for a slow bucket, short enough that a wrong STORAGE_EMULATOR_HOST fails the deploy soon.
STORAGE_DEADLINE_S = 30.0
REQUEST_TIMEOUT_S = 10.0  # one storage request


class ArtifactError(Exception):
    """The model cannot be copied: a bad URI, no objects there, or storage that cannot be reached."""


def split_uri(uri: str) -> tuple[str, str]:
    """gs://BUCKET/PATH -> (BUCKET, PATH without slashes at its ends); ArtifactError for anything else."""
    bucket, _, prefix = uri.removeprefix(SCHEME).partition("/")
    if not uri.startswith(SCHEME) or not bucket:
        raise ArtifactError(f"AIP_STORAGE_URI {uri!r} is not a gs://BUCKET/PATH URI")
    return bucket, prefix.strip("/")


def storage_client(environ: Mapping[str, str]) -> Any:
    """A google-cloud-storage client; with vertex-local's bearer token when vertex-local started us with one."""
    from google.cloud import storage  # deferred: the import takes a second and `--help` should not wait

    credentials = None
    token = environ.get("VERTEX_LOCAL_TOKEN")
    if token and environ.get("STORAGE_EMULATOR_HOST"):
        from google.oauth2.credentials import Credentials

        credentials = Credentials(token)
    return storage.Client(project=None, credentials=credentials)  # reading objects needs no project


def copy_model(uri: str, dest: Path, client: Any) -> Path:
    """Copy every object under `uri` into `dest` (which it creates); returns `dest`. Blocking."""
    bucket, prefix = split_uri(uri)
    try:
        return _copy(client, bucket, prefix, dest)
    except ArtifactError:
        raise
    except Exception as exc:  # api_core errors, RetryError, requests' ConnectionError, auth errors: all "unreachable"
        reason = " ".join(str(exc).split())[:300]
        raise ArtifactError(f"cannot read AIP_STORAGE_URI {uri}: {type(exc).__name__}: {reason}") from None


def _copy(client: Any, bucket: str, prefix: str, dest: Path) -> Path:
    from google.api_core.retry import Retry
    from google.cloud.storage.retry import DEFAULT_RETRY

    retry: Retry = DEFAULT_RETRY.with_timeout(STORAGE_DEADLINE_S)
    under = f"{prefix}/" if prefix else ""
    blobs = [blob for blob in client.list_blobs(bucket, prefix=under, retry=retry, timeout=REQUEST_TIMEOUT_S)
             if not blob.name.endswith("/")]  # fmt: skip  # "folder" placeholder objects hold nothing
    if not blobs:
        raise ArtifactError(f"AIP_STORAGE_URI gs://{bucket}/{prefix} holds no objects")
    root = dest.resolve()
    for blob in blobs:
        target = (root / blob.name[len(under) :]).resolve()
        if root not in target.parents:  # an object named "../x" must not write outside the model folder
            raise ArtifactError(f"object gs://{bucket}/{blob.name} names a path outside the model folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target), retry=retry, timeout=REQUEST_TIMEOUT_S)
    return root
