"""Read and check the report's inputs (metrics.json, gate.json), naming the file and key that is wrong.

Used by scripts.report.cli; the schemas are in the README ("What the steps hand each other").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from pathlib import Path
from typing import Any

from tasks import Task, TaskError, load_task
from tasks.mnist import TASK as MNIST

NUMBER = (int, float)
METRIC_KEYS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "dataset": str,
    "accuracy": NUMBER,
    "loss": NUMBER,
    "per_class_accuracy": list,
    "confusion_matrix": list,
    "train_examples": int,
    "test_examples": int,
    "data_fingerprint": str,
    "hyperparameters": dict,
    "versions": dict,
    "wall_time_s": NUMBER,
    "history": list,
    "strategy": str,
    "replicas": int,
    "created_at": str,
}
HISTORY_KEYS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss")
VERSION_KEYS = ("tensorflow", "keras", "python")


class ReportError(ValueError):
    """An input file the report cannot use."""


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: not readable JSON ({exc})") from None


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    if key not in data:
        raise ReportError(f"{source}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ReportError(f"{source}: {key} = {value!r} has the wrong type")
    return value


def task_of(metrics: dict[str, Any], source: str) -> Task:
    """The task a metrics.json was trained for (MNIST for runs from before tasks existed)."""
    try:
        return load_task(str(metrics.get("task", MNIST.name)))
    except TaskError as exc:
        raise ReportError(f"{source}: {exc}") from None


def validate_metrics(data: Any, source: str) -> dict[str, Any]:
    """Check a metrics.json (schema_version 1) has every field the report prints."""
    if not isinstance(data, dict):
        raise ReportError(f"{source}: expected a JSON object")
    if type(data.get("schema_version")) is not int or data["schema_version"] != 1:  # true == 1 in Python
        raise ReportError(f"{source}: schema_version = {data.get('schema_version')!r}, expected 1")
    for key, kind in METRIC_KEYS.items():
        _require(data, key, kind, source)
    classes = task_of(data, source).num_classes
    per_class = data["per_class_accuracy"]
    if len(per_class) != classes or not all(isinstance(v, NUMBER) for v in per_class):
        raise ReportError(f"{source}: per_class_accuracy must be {classes} numbers")
    matrix = data["confusion_matrix"]
    if len(matrix) != classes or not all(isinstance(row, list) and len(row) == classes for row in matrix):
        raise ReportError(f"{source}: confusion_matrix must be {classes} rows of {classes} counts")
    if not data["history"]:
        raise ReportError(f"{source}: history is empty")
    for epoch in data["history"]:
        if not isinstance(epoch, dict):
            raise ReportError(f"{source}: history holds {epoch!r}, expected one object per epoch")
        for key in HISTORY_KEYS:
            _require(epoch, key, NUMBER, f"{source}: history")
    for key in VERSION_KEYS:
        _require(data["versions"], key, str, f"{source}: versions")
    return data


def validate_verdict(data: Any, source: str, classes: int = MNIST.num_classes) -> dict[str, Any]:
    """Check a gate.json has the verdict, its reason and the thresholds."""
    if not isinstance(data, dict):
        raise ReportError(f"{source}: expected a JSON object")
    _require(data, "reason", str, source)
    if not isinstance(data.get("passed"), bool):
        raise ReportError(f"{source}: passed = {data.get('passed')!r}, expected true or false")
    _require(data, "thresholds", dict, source)
    production = data.get("production")
    if production is not None:
        for key in ("accuracy", "loss"):
            _require(production, key, NUMBER, f"{source}: production")
    if data.get("comparison") is not None:
        validate_comparison(data, source, classes)
    return data


COMPARISON_KEYS = {
    "digits": int,
    "both_right": int,
    "both_wrong": int,
    "production_only_right": int,
    "candidate_only_right": int,
    "p_value": NUMBER,
    "per_class": list,
    "flagged_classes": list,
    "confused_pairs": list,
    "correction": str,
}
CLASS_KEYS = {
    "class": int,
    "digits": int,
    "production_accuracy": NUMBER,
    "candidate_accuracy": NUMBER,
    "production_only_right": int,
    "candidate_only_right": int,
    "p_adjusted": NUMBER,
    "flagged": bool,
}
COST_KEYS = ("parameters", "saved_model_bytes", "ms_per_image_batch_1", "ms_per_image_batch_64")


def validate_comparison(data: dict[str, Any], source: str, classes: int = MNIST.num_classes) -> None:
    """gate.json's champion/challenger blocks, when the gate compared two models on the same digits."""
    comparison = data["comparison"]
    if not isinstance(comparison, dict):
        raise ReportError(f"{source}: comparison = {comparison!r:.80}, expected an object")
    for key, kind in COMPARISON_KEYS.items():
        _require(comparison, key, kind, f"{source}: comparison")
    if len(comparison["per_class"]) != classes:
        raise ReportError(f"{source}: comparison.per_class must have one row per class")
    for row in comparison["per_class"]:
        if not isinstance(row, dict):
            raise ReportError(f"{source}: comparison.per_class holds {row!r:.80}, expected an object")
        for key, kind in CLASS_KEYS.items():
            if not isinstance(row.get(key), kind) or (kind is not bool and isinstance(row.get(key), bool)):
                raise ReportError(f"{source}: comparison.per_class: {key} = {row.get(key)!r:.80} has the wrong type")
    for pair in comparison["confused_pairs"]:
        for key in ("true", "predicted", "count"):
            _require(pair if isinstance(pair, dict) else {}, key, int, f"{source}: comparison.confused_pairs")
    for who in ("candidate", "production"):
        block = data.get(who)
        if not isinstance(block, dict) or not isinstance(block.get("cost"), dict):
            raise ReportError(f"{source}: {who} has no cost figures beside the comparison")
        for key in COST_KEYS:
            _require(block["cost"], key, NUMBER, f"{source}: {who}.cost")
        for key in ("accuracy", "loss"):
            _require(block, key, NUMBER, f"{source}: {who}")
    _require(data["production"], "version_id", str, f"{source}: production")


def validate_regressions(data: Any, source: str) -> dict[str, Any]:
    """gate_regressions.json: examples with their label and both models' answers; an image task's with its pixels
    as base64 bytes of `shape` (MNIST's when absent)."""
    if not isinstance(data, dict) or not isinstance(data.get("digits"), list):
        raise ReportError(f"{source}: expected an object with a list of digits")
    _require(data, "total", int, source)
    shape = data.get("shape", list(MNIST.input_shape))
    if not isinstance(shape, list) or len(shape) != 2 or not all(type(side) is int and side > 0 for side in shape):
        raise ReportError(f"{source}: shape = {shape!r:.80} is not [rows, columns]")
    for digit in data["digits"]:
        if not isinstance(digit, dict):
            raise ReportError(f"{source}: digits holds {digit!r:.80}, expected an object")
        for key in ("label", "production", "candidate"):
            _require(digit, key, int, f"{source}: digit")
        if "pixels" not in digit and "shape" in data:
            raise ReportError(f"{source}: a digit has no pixels")
        if "pixels" not in digit:
            continue
        try:
            size = len(base64.b64decode(_require(digit, "pixels", str, f"{source}: digit"), validate=True))
        except (binascii.Error, ValueError):
            size = -1
        if size != math.prod(shape):
            raise ReportError(f"{source}: a digit's pixels are not {math.prod(shape)} base64-encoded bytes")
    return data
