"""Serving images: which ones a Model may name, which TensorFlow each runs, and whether a SavedModel loads there.

vertex-local serves with the host's TensorFlow, but Vertex serves with the TensorFlow of the prebuilt image the
Model names. At deploy, every op of the SavedModel (graph and function library) must exist in that TF
version, checked against tf_ops/tf-<version>.json (written by tf_ops/dump_ops.py from that version's own
wheel). Attributes a newer TF adds to an op are not checked: TF 2.14 loads our TF 2.21 export, which sets
VarHandleOp.debug_name (new in 2.15), both with tf.saved_model.load and with the v1 session loader.

Images: https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers lists the prebuilt prediction
images, each as us-, europe- and asia-docker.pkg.dev/vertex-ai/prediction/<name>:latest ("Using image names
without the latest tag isn't supported"). TensorFlow 2.14 and 2.15 (CPU and GPU) are the ones still available
(end of availability Jan 14, 2027; 2.13 ended Nov 28, 2025): vertex-local deploys those. The other prebuilt
prediction images are registered but cannot be deployed here; custom containers are refused at upload.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from vertex_local.errors import ApiError

OPS_DIR = Path(__file__).resolve().parent / "tf_ops"
PREBUILT = re.compile(
    r"(?:us|europe|asia)-docker\.pkg\.dev/vertex-ai/prediction/"
    r"(?P<framework>tf2|sklearn|xgboost|pytorch)-(?P<accelerator>cpu|gpu)\.(?P<version>\d+-\d+):latest"
)
SERVED_TF = {"2-14": "2.14", "2-15": "2.15"}  # image version -> the TF op list it is checked against


def served_images() -> list[str]:
    """The image URIs vertex-local deploys (one region's spelling; europe- and asia- work the same)."""
    return [f"us-docker.pkg.dev/vertex-ai/prediction/tf2-{kind}.{version}:latest"
            for version in SERVED_TF for kind in ("cpu", "gpu")]  # fmt: skip


def check_upload_image(container_spec: Any) -> str:
    """model.containerSpec.imageUri at upload: required, and one of Vertex's prebuilt prediction images."""
    if not isinstance(container_spec, dict) or not container_spec.get("imageUri"):
        raise ApiError(400, "model.containerSpec.imageUri is required: the serving image, one of "
                       f"{', '.join(served_images())}")  # fmt: skip
    image = container_spec["imageUri"]
    if not isinstance(image, str) or not PREBUILT.fullmatch(image):
        raise ApiError(400, f"model.containerSpec.imageUri {image!r} is not a Vertex prebuilt prediction image; "
                       f"vertex-local cannot run custom containers. It serves {', '.join(served_images())} "
                       "(us-, europe- or asia-docker.pkg.dev, tag :latest)")  # fmt: skip
    return image


def serving_tf_version(container_spec: Any) -> str:
    """The TF version a model's image serves with; ValueError when vertex-local cannot serve that image."""
    image = container_spec.get("imageUri", "") if isinstance(container_spec, dict) else ""
    found = PREBUILT.fullmatch(image)
    if found is None or found["framework"] != "tf2" or found["version"] not in SERVED_TF:
        raise ValueError(f"its serving image {image!r} is not one vertex-local can serve: {', '.join(served_images())}")
    return SERVED_TF[found["version"]]


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
