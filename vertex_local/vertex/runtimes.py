"""Serving images: which ones a Model may name, which TensorFlow each runs, and whether a SavedModel loads there.

vertex-local serves with the host's TensorFlow, but Vertex serves with the TensorFlow of the prebuilt image the
Model names. At deploy, every op of the SavedModel (graph and function library) must exist in that TF
version, checked against tf_ops/tf-<version>.json (written by tf_ops/dump_ops.py from that version's own
wheel). Attributes a newer TF adds to an op are not checked: TF 2.14 loads our TF 2.21 export, which sets
VarHandleOp.debug_name (new in 2.15), both with tf.saved_model.load and with the v1 session loader.

Images. This repository's own serving image (serving.Dockerfile; pipeline.toml's [vertex] serving_image names it in
Artifact Registry) runs vertex_local/serving/container.py, whose predict path is the very ModelServer, InstancesParser
and ServingMetrics vertex-local serves with: vertex-local serves such a model in-process with the same TensorFlow
(docs/serving.md says why, with the figures). Google's prebuilt prediction images
(https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers: us-, europe- and asia-docker.pkg.dev/
vertex-ai/prediction/<name>:latest, "Using image names without the latest tag isn't supported") are served until
their end-of-availability date from PREBUILT_TF_DATES and refused after it; an upload past the end of support warns.
Any other image is a custom container: registered, but refused at deploy, since vertex-local runs no Docker engine.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import logging
import re
from pathlib import Path
from typing import Any

from vertex_local.errors import ApiError

OPS_DIR = Path(__file__).resolve().parent / "tf_ops"
LOG = logging.getLogger("vertex_local.runtimes")
PREBUILT = re.compile(
    r"(?:us|europe|asia)-docker\.pkg\.dev/vertex-ai/prediction/"
    r"(?P<framework>tf2|sklearn|xgboost|pytorch)-(?P<accelerator>cpu|gpu)\.(?P<version>\d+-\d+):latest"
)
# An Artifact Registry Docker image: REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG (or @sha256:DIGEST).
ARTIFACT_REGISTRY = re.compile(
    r"[a-z0-9-]+-docker\.pkg\.dev/[a-z0-9:.-]+/[a-z0-9._-]+/(?P<image>[a-z0-9._/-]+)(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})"
)


@dataclasses.dataclass(frozen=True)
class PrebuiltTf:
    tf_version: str  # the op list it is checked against (tf_ops/tf-<version>.json)
    end_of_support: datetime.date
    end_of_availability: datetime.date


# From "Prebuilt containers for inference", TensorFlow table (CPU and GPU rows alike), read 2026:
# https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers
PREBUILT_TF_DATES = {
    "2-15": PrebuiltTf("2.15", datetime.date(2026, 1, 14), datetime.date(2027, 1, 14)),
    "2-14": PrebuiltTf("2.14", datetime.date(2026, 1, 14), datetime.date(2027, 1, 14)),
    "2-13": PrebuiltTf("2.13", datetime.date(2024, 11, 28), datetime.date(2025, 11, 28)),
}
OWN_IMAGE = None  # serving_tf_version's answer for this repository's serving image: served in-process, no op check


def served_images(today: datetime.date) -> list[str]:
    """The prebuilt image URIs vertex-local deploys today (one region's spelling; europe- and asia- work the same)."""
    return [f"us-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.{version}:latest"
            for version, dates in PREBUILT_TF_DATES.items() if today < dates.end_of_availability
            for kind in ("cpu", "gpu")]  # fmt: skip


def is_own_image(image: str, own_image: str) -> bool:
    """Whether `image` is this repository's serving image (`own_image` is its name in Artifact Registry)."""
    found = ARTIFACT_REGISTRY.fullmatch(image)
    return bool(own_image) and found is not None and found["image"] == own_image


def check_upload_image(container_spec: Any, own_image: str, today: datetime.date) -> str:
    """model.containerSpec.imageUri at upload: required; a prebuilt image past its end of support is logged."""
    if not isinstance(container_spec, dict) or not container_spec.get("imageUri"):
        raise ApiError(400, "model.containerSpec.imageUri is required: the serving image")
    image = container_spec["imageUri"]
    if not isinstance(image, str):
        raise ApiError(400, "model.containerSpec.imageUri must be a string")
    found = PREBUILT.fullmatch(image)
    dates = PREBUILT_TF_DATES.get(found["version"]) if found and found["framework"] == "tf2" else None
    if dates is not None and today >= dates.end_of_support:
        LOG.warning("model uploaded with %s: Google ended its support on %s and stops offering it on %s; "
                    "serve with this repository's serving image instead (docs/serving.md)", image,
                    dates.end_of_support, dates.end_of_availability)  # fmt: skip
    return image


def serving_tf_version(container_spec: Any, own_image: str, today: datetime.date) -> str | None:
    """The TF version whose op list a model's image is checked against (OWN_IMAGE: ours, served in-process);
    ValueError, one line, when vertex-local cannot serve that image."""
    image = container_spec.get("imageUri", "") if isinstance(container_spec, dict) else ""
    if is_own_image(image, own_image):
        return OWN_IMAGE
    found = PREBUILT.fullmatch(image)
    if found is None:
        raise ValueError(f"its serving image {image!r} is a custom container, and this machine has no Docker engine "
                         f"to run it: vertex-local serves this repository's image {own_image!r} and Google's "
                         f"prebuilt {', '.join(served_images(today))}")  # fmt: skip
    dates = PREBUILT_TF_DATES.get(found["version"]) if found["framework"] == "tf2" else None
    if dates is None:
        raise ValueError(f"its serving image {image!r} is not one vertex-local can serve: "
                         f"{', '.join(served_images(today))}")  # fmt: skip
    if today >= dates.end_of_availability:
        raise ValueError(f"its serving image {image!r} is no longer available: Google retired it on "
                         f"{dates.end_of_availability} (pre-built-containers page); use this repository's serving "
                         "image (pipeline.toml [vertex] serving_image)")  # fmt: skip
    return dates.tf_version


@functools.cache
def op_list(tf_version: str) -> frozenset[str]:
    """Every op name TF `tf_version` registers, from tf_ops/tf-<version>.json."""
    return frozenset(json.loads((OPS_DIR / f"tf-{tf_version}.json").read_text(encoding="utf-8"))["ops"])


def saved_model_ops(model_dir: Path) -> set[str]:
    """The op of every node in saved_model.pb: each meta graph's graph and its function library."""
    from tensorflow.core.protobuf import saved_model_pb2  # lazily: TF takes seconds to import

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((model_dir / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    for meta_graph in saved.meta_graphs:
        library = meta_graph.graph_def.library
        functions = {function.signature.name for function in library.function}  # calls of library functions
        for body in [meta_graph.graph_def.node, *(function.node_def for function in library.function)]:
            ops.update(node.op for node in body if node.op not in functions)
    return ops


def check_ops(model_dir: Path, tf_version: str) -> None:
    """ValueError naming the ops of the SavedModel that TF `tf_version` does not register."""
    missing = saved_model_ops(model_dir) - op_list(tf_version)
    if missing:
        raise ValueError(f"the SavedModel uses ops {sorted(missing)} that TensorFlow {tf_version}, the runtime of "
                         "its serving image, does not have: it would not load there")  # fmt: skip
