"""Model Registry and endpoint lookups shared by the steps (thin calls on aiplatform.Model and Endpoint).

Not run by itself. The pipeline keeps ONE model (cfg.vertex.model_display_name) with many versions;
versions are found by id or alias (`production`, `candidate`, `sha-<short sha>`).
"""

from __future__ import annotations

import argparse
import re

from google.api_core import exceptions as google_exceptions
from google.cloud import aiplatform

from pipeline_config import Vertex
from scripts.core.git_labels import short_sha
from scripts.core.step import StepError

PRODUCTION = "production"
# Where our serving image listens (vertex_local/serving/container.py): Vertex sets AIP_HTTP_PORT, AIP_PREDICT_ROUTE
# and AIP_HEALTH_ROUTE from these (https://cloud.google.com/vertex-ai/docs/predictions/use-custom-container).
SERVING_PORT = 8080
PREDICT_ROUTE = "/predict"
HEALTH_ROUTE = "/health"
CANDIDATE = "candidate"
# Model.versionId is "an auto-incrementing decimal number in string representation"; versionAliases match
# [a-z][a-zA-Z0-9-]{0,126}[a-z0-9] (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.models).
VERSION_ID = re.compile(r"[1-9][0-9]{0,18}")  # an int64, counted from 1
ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]")
ALIAS_RULE = (
    "a lowercase letter, then letters, digits or '-', ending in a lowercase letter or digit, at most 128 characters"
)


def serving_container(vertex: Vertex, tag: str) -> dict:
    """Model.upload's serving_container_* arguments: our image (tagged `tag`) with its routes and port, or the
    prebuilt image serving_image names, alone: Google's prebuilt images bring their own server and routes."""
    image = {"serving_container_image_uri": vertex.serving_image_uri(tag)}
    if not vertex.serving_image_is_ours:
        return image
    return {**image, "serving_container_predict_route": PREDICT_ROUTE,
            "serving_container_health_route": HEALTH_ROUTE, "serving_container_ports": [SERVING_PORT]}  # fmt: skip


def sha_alias(git_sha: str) -> str:
    """The alias naming a git SHA's version; aliases must start with a letter, SHAs may not."""
    return f"sha-{short_sha(git_sha)}"


def version_reference(text: str) -> str:
    """argparse type for --version: a version id or an alias, as Vertex spells them; anything else is exit 2."""
    if VERSION_ID.fullmatch(text) or ALIAS.fullmatch(text):
        return text
    raise argparse.ArgumentTypeError(
        f"{text[:80]!r} is neither a version id (1, 2, ...) nor a version alias ({ALIAS_RULE})"
    )


def alias_reference(text: str) -> str:
    """argparse type for --alias: a version alias as Vertex spells it; anything else is exit 2."""
    if ALIAS.fullmatch(text):
        return text
    raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a version alias ({ALIAS_RULE})")


def commit_reference(text: str) -> str:
    """argparse type for --git-sha: a commit whose sha-<short sha> alias Vertex accepts, lowercased; else exit 2."""
    sha = text.strip().lower()
    if sha and ALIAS.fullmatch(sha_alias(sha)):
        return sha
    raise argparse.ArgumentTypeError(
        f"{text[:80]!r} is not a git commit (hex digits, or a name of letters, digits and '-', as the version's "
        "sha-<commit> alias must be)"
    )


def _find_one(resource: type[aiplatform.Model] | type[aiplatform.Endpoint], kind: str, display_name: str):
    """The one resource of this kind with this display name, None if there is none; several is an error."""
    found = resource.list(filter=f'display_name="{display_name}"')
    if len(found) > 1:
        names = ", ".join(item.resource_name for item in found)
        raise StepError(f"{len(found)} {kind}s are named {display_name!r} ({names}); the pipeline needs exactly one")
    return found[0] if found else None


def find_model(display_name: str) -> aiplatform.Model | None:
    """The pipeline's model (its default version), or None before the first registration."""
    return _find_one(aiplatform.Model, "model", display_name)


def get_version(model_resource_name: str, version: str) -> aiplatform.Model | None:
    """One version by id or alias, or None when the model has no such version."""
    try:
        return aiplatform.Model(f"{model_resource_name}@{version}")
    except google_exceptions.NotFound:
        return None


def require_version(display_name: str, version: str) -> aiplatform.Model:
    """A version that must exist: a clear error names what was looked for."""
    model = find_model(display_name)
    if model is None:
        raise StepError(f"no model named {display_name!r} in the registry yet")
    found = get_version(model.resource_name, version)
    if found is None:
        raise StepError(f"model {display_name!r} has no version or alias {version!r}")
    return found


def production_version(display_name: str) -> aiplatform.Model | None:
    """The version holding the `production` alias, or None (no model yet, or nothing promoted)."""
    model = find_model(display_name)
    return get_version(model.resource_name, PRODUCTION) if model else None


def move_alias(version: aiplatform.Model, alias: str) -> None:
    """Give `alias` to this version; Vertex takes it off whichever version held it (aliases are unique)."""
    version.versioning_registry.add_version_aliases([alias], version=version.version_id)


def describe(version: aiplatform.Model) -> str:
    """`mnist v3 (production, sha-3f2a...)` for log lines."""
    aliases = ", ".join(version.version_aliases)
    return f"{version.display_name} v{version.version_id}" + (f" ({aliases})" if aliases else "")


def find_endpoint(display_name: str) -> aiplatform.Endpoint | None:
    """The pipeline's endpoint, or None before the first deployment."""
    return _find_one(aiplatform.Endpoint, "endpoint", display_name)
