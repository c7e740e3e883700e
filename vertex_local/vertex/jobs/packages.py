"""pythonPackageSpec: a Python package on one of Vertex's prebuilt training images, run as Vertex runs it.

https://cloud.google.com/vertex-ai/docs/training/configure-container-settings (the "Prebuilt container" tab) and
https://cloud.google.com/vertex-ai/docs/training/create-python-pre-built-container: the packages named in
packageUris (source distributions or wheels in Cloud Storage) are installed with pip, with their requirements,
then `python -m pythonModule args...` runs with env set. The v1 reference (PythonPackageSpec) says of
executorImageUri "You must use an image from this list", the list being
https://cloud.google.com/vertex-ai/docs/training/pre-built-containers: images named
{us,europe,asia}-docker.pkg.dev/vertex-ai/training/<framework>-<cpu|gpu|...>.<major>-<minor>[.pyXYZ]:latest.
Which framework versions the list still carries changes with each end-of-availability date; vertex-local checks
the image's form and framework, not its version (README).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import PurePosixPath
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.vertex.fields import json_type

PREBUILT_TRAINING = re.compile(
    r"(?:us|europe|asia)-docker\.pkg\.dev/vertex-ai/training/"
    r"(?P<framework>tf-cpu|tf-gpu|tf-tpu|pytorch-cpu|pytorch-gpu|pytorch-xla|pytorch-tpu|sklearn-cpu|xgboost-cpu|"
    r"xgboost-gpu)\.(?P<version>\d+-\d+)(?:\.py3\d+)?:latest"
)
IMAGES_PAGE = "https://cloud.google.com/vertex-ai/docs/training/pre-built-containers"
EXAMPLE_IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-14.py310:latest"
MAX_PACKAGE_URIS = 100  # PythonPackageSpec.packageUris: "The maximum number of package URIs is 100."
MAX_ENV = 100  # PythonPackageSpec.env: "Maximum limit is 100."
GCS_URI = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/\S+")
MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    image: str
    package_uris: tuple[str, ...]
    module: str
    args: tuple[str, ...]
    env: dict[str, str]

    def package_files(self, folder: str) -> list[str]:
        """Where each package is copied before pip installs it: one sub-folder each, keeping its file name."""
        return [f"{folder}/{index}/{PurePosixPath(uri).name}" for index, uri in enumerate(self.package_uris)]


def check_package_spec(spec: Any, where: str) -> PackageSpec:
    """A worker pool's pythonPackageSpec, checked as Vertex checks it at create; ApiError(400) naming the field."""
    if not isinstance(spec, dict):
        raise ApiError(400, f"{where} must be an object, got {json_type(spec)}")
    image = spec.get("executorImageUri")
    if not isinstance(image, str) or not PREBUILT_TRAINING.fullmatch(image):
        raise ApiError(400, f"{where}.executorImageUri {image!r} is not one of Vertex's prebuilt training images "
                       f"({IMAGES_PAGE}), e.g. {EXAMPLE_IMAGE}; for other images use containerSpec")  # fmt: skip
    uris = spec.get("packageUris")
    if not isinstance(uris, list) or not 1 <= len(uris) <= MAX_PACKAGE_URIS:
        raise ApiError(400, f"{where}.packageUris is required: 1 to {MAX_PACKAGE_URIS} gs:// URIs of packages")
    for uri in uris:
        if not isinstance(uri, str) or not GCS_URI.fullmatch(uri) or uri.rsplit("/", 1)[1] in ("", ".", ".."):
            raise ApiError(400, f"{where}.packageUris: {uri!r} is not a gs://BUCKET/OBJECT URI of a package file")
    module = spec.get("pythonModule")
    if not isinstance(module, str) or not MODULE.fullmatch(module):
        raise ApiError(400, f"{where}.pythonModule is required: the module to run, as `python -m` takes it "
                       f"(e.g. trainer.task), got {module!r}")  # fmt: skip
    return PackageSpec(image, tuple(uris), module, string_list(spec, "args", where), env_list(spec, where, MAX_ENV))


def string_list(spec: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """spec[key] as strings; 400 unless it is a list of strings or numbers."""
    parts = spec.get(key) or []
    if not isinstance(parts, list) or not all(isinstance(p, str | int | float) for p in parts):
        raise ApiError(400, f"{where}.{key} must be a list of strings")
    return tuple(str(part) for part in parts)


def env_list(spec: dict[str, Any], where: str, most: int) -> dict[str, str]:
    """spec["env"]: at most `most` {name, value} objects with distinct names."""
    items = spec.get("env") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(400, f"{where}.env must be a list of {{name, value}} objects")
    if len(items) > most:
        raise ApiError(400, f"{where}.env has {len(items)} variables; the limit is {most}")
    env = {str(item.get("name", "")): str(item.get("value", "")) for item in items}
    if "" in env or len(env) != len(items):
        raise ApiError(400, f"{where}.env: every variable needs a name, and names must be distinct")
    return env
