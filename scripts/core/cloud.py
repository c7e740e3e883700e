"""The cloud client layer: the single aiplatform.init, credentials, the storage client, gs:// reads and writes.

The same calls reach Vertex AI and Cloud Storage or vertex-local; only the config differs
(api_endpoint, storage_emulator_host, anonymous credentials, or vertex-local's bearer token).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.oauth2.credentials import Credentials as BearerCredentials

from pipeline_config import Config, ConfigError
from scripts.core.step import StepError

ANONYMOUS = "anonymous"  # one of contract.CREDENTIAL_KINDS: what vertex-local takes on loopback
TOKEN = "token"  # one of contract.CREDENTIAL_KINDS: vertex-local started with a bearer token


def credentials(cfg: Config, environ: Mapping[str, str]) -> Credentials | None:
    """None means Application Default Credentials (Workload Identity in CI).

    "token": the token in the variable [vertex] token_env names (never in pipeline.toml), sent by both SDKs
    as `Authorization: Bearer <token>`: google.oauth2's Credentials with a token and no expiry or refresh
    information add exactly that header to every request and never try to refresh it.
    """
    if cfg.vertex.credentials == ANONYMOUS:
        return AnonymousCredentials()
    if cfg.vertex.credentials == TOKEN:
        token = environ.get(cfg.vertex.token_env, "")
        if not token:
            raise ConfigError(f"vertex.credentials = token, but ${cfg.vertex.token_env} (vertex.token_env) is not set")
        return BearerCredentials(token)
    return None


def connect(cfg: Config, environ: MutableMapping[str, str]) -> None:
    """The single aiplatform.init, plus STORAGE_EMULATOR_HOST for google-cloud-storage.

    google-cloud-storage takes an emulator host only from the environment (it ignores aiplatform's
    api_endpoint), so this writes `environ`; steps pass the environment their main() was given.
    """
    from google.cloud import aiplatform  # deferred: importing the SDK takes a few seconds

    vertex = cfg.vertex
    options: dict[str, Any] = {}
    if vertex.api_endpoint:
        options.update(api_endpoint=vertex.api_endpoint, api_transport="rest")
    if vertex.storage_emulator_host:
        environ["STORAGE_EMULATOR_HOST"] = vertex.storage_emulator_host
    aiplatform.init(
        project=vertex.project,
        location=vertex.region,
        staging_bucket=vertex.staging_bucket,
        credentials=credentials(cfg, environ),
        **options,
    )


def storage_client(cfg: Config, environ: Mapping[str, str] = os.environ) -> storage.Client:
    """google-cloud-storage, pointed at vertex-local by STORAGE_EMULATOR_HOST (see connect). `environ` holds
    the token variable; like STORAGE_EMULATOR_HOST, it is the process environment unless a caller says."""
    return storage.Client(project=cfg.vertex.project, credentials=credentials(cfg, environ))


def split_gs_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/path/to/object -> ("bucket", "path/to/object")."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket or not name:
        raise StepError(f"{uri!r} is not a gs://BUCKET/OBJECT URI")
    return bucket, name


def read_bytes(uri: str, client: storage.Client) -> bytes:
    """One object from gs:// (through `client`) or a local file; missing or unreadable: StepError."""
    try:
        if uri.startswith("gs://"):
            bucket, name = split_gs_uri(uri)
            return client.bucket(bucket).blob(name).download_as_bytes()
        return Path(uri).read_bytes()
    except (google_exceptions.NotFound, FileNotFoundError):
        raise StepError(f"{uri} not found") from None
    except OSError as exc:
        raise StepError(f"{uri} cannot be read ({exc})") from None


def read_json(uri: str, client: storage.Client) -> Any:
    """A JSON document from gs:// (through `client`) or a local path; missing or corrupt: StepError."""
    data = read_bytes(uri, client)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        # ValueError: not JSON, not UTF-8, or an integer of more than 4,300 digits; RecursionError: nested too deep.
        raise StepError(f"{uri} is not valid JSON ({str(exc)[:120] or type(exc).__name__})") from None


def local_target(dest: Path, relative: str) -> Path:
    """Where one object or file lands under `dest`; a name that would climb out of it is refused."""
    target = (dest / relative).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise StepError(f"object name {relative!r} points outside {dest}")
    return target


def download_dir(uri: str, dest: Path, client: storage.Client, only: str | None = None) -> list[Path]:
    """Every object under a gs:// prefix (or the one named `only`) into `dest`; names that climb out are refused."""
    bucket, root = split_gs_uri(uri.rstrip("/") + "/")
    copied = []
    for blob in client.list_blobs(bucket, prefix=root + (only or "")):
        relative = blob.name[len(root) :]
        if (only and relative != only) or not relative or relative.endswith("/"):
            continue  # a longer name sharing the prefix, or a "folder" placeholder object
        target = local_target(dest, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        copied.append(target)
    return copied


def write_text(uri: str, text: str, client: storage.Client) -> None:
    """Write one gs:// object (used to stage files for the service)."""
    bucket, name = split_gs_uri(uri)
    client.bucket(bucket).blob(name).upload_from_string(text, content_type="application/json")
