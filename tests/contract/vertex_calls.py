"""Shared by the tests/contract/test_vertex_*.py files: staging a real SavedModel, GAPIC clients, error status.

The GAPIC clients come from aiplatform.init's config, so they speak REST to vertex-local and gRPC to Google:
the same call runs against both targets. Everything a helper creates is registered with target.created().
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.api_core import exceptions
from google.cloud import aiplatform
from google.cloud.aiplatform import initializer

MACHINE = "n1-standard-2"  # the cheapest machine a TF model deploys on


def stage_model(target: Any, model_dir: Path) -> str:
    """Upload a SavedModel directory to the target's bucket; returns its gs:// URI (deleted at session end)."""
    bucket = target.storage_client().bucket(target.bucket)
    prefix = target.object_name("model")
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            blob = bucket.blob(f"{prefix}/{path.relative_to(model_dir)}")
            blob.upload_from_filename(str(path))
            target.created(blob.delete)
    return f"gs://{target.bucket}/{prefix}"


def upload(target: Any, uri: str, name: str | None = None, **kwargs: Any) -> aiplatform.Model:
    """Model.upload of a staged SavedModel with this repository's serving image (the target's: date-proof, where
    Google retires its prebuilt TF images on 2027-01-14); a new model is deleted at session end."""
    model = aiplatform.Model.upload(
        display_name=name or target.name("model"), artifact_uri=uri, serving_container_image_uri=target.serving_image,
        **kwargs,
    )  # fmt: skip
    if not kwargs.get("parent_model"):
        target.created(quietly(model.delete))
    return model


def quietly(delete: Callable[[], Any]) -> Callable[[], None]:
    """A cleanup that tolerates the resource being gone already (a test deleted it itself)."""

    def run() -> None:
        with contextlib.suppress(exceptions.NotFound):
            delete()

    run.__qualname__ = getattr(delete, "__qualname__", "delete")
    return run


def model_client() -> Any:
    return initializer.global_config.create_client(client_class=aiplatform.utils.ModelClientWithOverride)


def endpoint_client() -> Any:
    return initializer.global_config.create_client(client_class=aiplatform.utils.EndpointClientWithOverride)


def status_of(error: exceptions.GoogleAPICallError) -> str:
    """The google.rpc.Code name of an error: gRPC carries it, REST carries it in the error body."""
    if error.grpc_status_code is not None:
        return error.grpc_status_code.name
    return json.loads(error.response.text)["error"]["status"]
