"""Pick the tf.distribute strategy from the environment, as Vertex sets it up."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def cluster_from_tf_config(tf_config: str | None) -> dict[str, Any]:
    """The parsed TF_CONFIG, or {} when unset. Vertex sets it for multi-replica worker pools."""
    if not tf_config:
        return {}
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ValueError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return parsed


def strategy_kind(tf_config: Mapping[str, Any], gpu_count: int) -> str:
    """multi_worker when TF_CONFIG names several machines, mirrored for several local GPUs, else default."""
    cluster = tf_config.get("cluster", {})
    machines = sum(len(cluster.get(role, [])) for role in ("chief", "worker"))
    if machines > 1:
        return "multi_worker"
    if gpu_count > 1:
        return "mirrored"
    return "default"


def is_chief(tf_config: Mapping[str, Any]) -> bool:
    """The chief is the `chief` task, or worker 0 when the cluster has no chief; a single machine is its own chief."""
    task = tf_config.get("task", {})
    role, index = task.get("type"), task.get("index", 0)
    if role is None or role == "chief":
        return True
    return role == "worker" and index == 0 and "chief" not in tf_config.get("cluster", {})


def make_strategy(kind: str):  # -> tf.distribute.Strategy
    import tensorflow as tf

    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
