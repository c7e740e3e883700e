"""Where the contract suite runs (tests/contract/): Target, vertex-local or a real Google Cloud project
(CONTRACT_TARGET=gcp under `make test-cloud`), what it needs set, and what a cloud run may create."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pipeline_config import load_config

TARGETS = ("local", "gcp")


SECTION = "docs/operations.md, 'Checking vertex-local against Google Cloud'"  # where a user learns to set it up


IMPERSONATE_VARIABLE = "CONTRACT_IMPERSONATE"


CLOUD_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


CLOUD_VARIABLES = ("PIPELINE_VERTEX_PROJECT", "PIPELINE_VERTEX_REGION", "PIPELINE_VERTEX_STAGING_BUCKET")


# What a cloud run may create, shown before it starts: the suite keeps to the cheapest resources.
CLOUD_PLAN = """contract suite against Google Cloud project {project}, region {location}:
  creates  objects under gs://{bucket}/{prefix}/ (deleted at the end)
  creates  models and endpoints named {prefix}-* in the Model Registry (deleted at the end),
           serving with {serving_image} (CONTRACT_SERVING_TAG: the commit train.yml pushed it for)
  cost     Cloud Storage operations and a few KB stored for minutes: well under $0.01;
           model registry entries and empty endpoints are free; tests that deploy or train say so by name
           (test_*deploy*, test_*job*) and cost minutes of an n1-standard-2 node (about $0.01-0.05 each)"""


@dataclasses.dataclass
class Target:
    """Where the contract tests run, and what they created there."""

    kind: str  # local | gcp
    project: str
    location: str
    bucket: str
    prefix: str  # unique per session: every name a test creates starts with it
    api_endpoint: str | None  # vertex-local's URL; None on Google Cloud
    serving_image: str = ""  # the image models are uploaded with: this repository's serving image (docs/serving.md)
    cleanups: list[Callable[[], Any]] = dataclasses.field(default_factory=list)
    impersonate: str | None = None  # gcp: the service account every call runs as (None: the user's own ADC)

    @property
    def is_cloud(self) -> bool:
        return self.kind == "gcp"

    def name(self, label: str) -> str:
        """A resource name of this session: `<prefix>-<label>-<8 hex>` (lowercase, label-safe)."""
        return f"{self.prefix}-{label}-{uuid.uuid4().hex[:8]}".lower().replace("_", "-")

    def object_name(self, label: str) -> str:
        """An object name under this session's prefix."""
        return f"{self.prefix}/{label}-{uuid.uuid4().hex[:8]}"

    def created(self, delete: Callable[[], Any]) -> None:
        """Delete it when the session ends (last created, first deleted)."""
        self.cleanups.append(delete)

    def init_sdk(self) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform

        options: dict[str, Any] = {}
        if self.api_endpoint:
            options.update(api_endpoint=self.api_endpoint, api_transport="rest", credentials=AnonymousCredentials())
        elif self.impersonate:
            options.update(credentials=cloud_credentials(self.impersonate))
        aiplatform.init(project=self.project, location=self.location, staging_bucket=f"gs://{self.bucket}", **options)

    def storage_client(self):  # -> google.cloud.storage.Client
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        if not self.api_endpoint:
            return storage.Client(project=self.project, credentials=cloud_credentials(self.impersonate))
        with pytest.MonkeyPatch.context() as patch:  # the client reads it when it is built
            patch.setenv("STORAGE_EMULATOR_HOST", self.api_endpoint)
            return storage.Client(project=self.project, credentials=AnonymousCredentials())

    def close(self) -> list[str]:
        """Run every cleanup; returns what failed (a cleanup failing must not hide the others)."""
        failures = []
        for delete in reversed(self.cleanups):
            try:
                delete()
            except Exception as exc:  # best effort, reported by the fixture
                failures.append(f"{getattr(delete, '__qualname__', delete)}: {type(exc).__name__}: {exc}")
        self.cleanups.clear()
        return failures


def cloud_credentials(impersonate: str | None) -> Any:
    """None (Application Default Credentials), or ADC impersonating `impersonate` (a service account email)."""
    if not impersonate:
        return None
    import google.auth
    from google.auth import impersonated_credentials

    source, _ = google.auth.default(scopes=CLOUD_SCOPES)
    return impersonated_credentials.Credentials(
        source_credentials=source, target_principal=impersonate, target_scopes=list(CLOUD_SCOPES)
    )


def target_kind(environ: dict[str, str]) -> str:
    kind = environ.get("CONTRACT_TARGET", "local")
    if kind not in TARGETS:
        raise pytest.UsageError(f"CONTRACT_TARGET={kind!r}: expected one of {TARGETS}")
    return kind


def cloud_target(environ: dict[str, str], prefix: str) -> Target:
    missing = [name for name in CLOUD_VARIABLES if not environ.get(name)]
    if missing:
        raise pytest.UsageError(f"make test-cloud needs {', '.join(missing)} set (see {SECTION})")
    bucket = environ["PIPELINE_VERTEX_STAGING_BUCKET"].removeprefix("gs://").strip("/")
    project, region = environ["PIPELINE_VERTEX_PROJECT"], environ["PIPELINE_VERTEX_REGION"]
    # The serving image train.yml pushed, tagged with a commit's SHA; CONTRACT_SERVING_TAG picks the commit.
    image = own_serving_image(project, region, environ.get("CONTRACT_SERVING_TAG") or "latest")
    return Target(
        "gcp",
        project,
        region,
        bucket,
        prefix,
        None,
        serving_image=image,
        impersonate=environ.get(IMPERSONATE_VARIABLE) or None,
    )


def own_serving_image(project: str, region: str, tag: str) -> str:
    """This repository's serving image in the project's Artifact Registry (pipeline.toml [vertex])."""
    vertex = load_config("local").vertex
    return dataclasses.replace(vertex, project=project, region=region).serving_image_uri(tag)
