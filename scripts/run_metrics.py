"""A training run's metrics.json as the pipeline reads it: the fields the gate and the registry rely on.

The full schema is the trainer's (README, "What the steps hand each other"); the report checks the rest.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from google.cloud import storage

from scripts.cloud import read_json
from scripts.contract import StepError

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"


@dataclasses.dataclass(frozen=True)
class Metrics:
    accuracy: float
    loss: float
    model_dir: str


def fmt(value: float) -> str:
    """0.97 -> 0.970, 0.9695 -> 0.9695: three decimals, a fourth only when it says something."""
    text = f"{value:.4f}"
    return text[:-1] if text.endswith("0") else text


def parse_metrics(data: Any, model_dir: str) -> Metrics:
    """Check the fields the pipeline relies on; anything else about metrics.json is the report's business."""
    where = f"{model_dir}/{METRICS_FILE}"
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise StepError(f"{where} is not a schema_version {SCHEMA_VERSION} metrics object")
    values = {key: data.get(key) for key in ("accuracy", "loss")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise StepError(f"{where}: {key} = {value!r} is not a number")
    if not 0.0 <= values["accuracy"] <= 1.0:
        raise StepError(f"{where}: accuracy = {values['accuracy']!r} is outside [0, 1]")
    return Metrics(float(values["accuracy"]), float(values["loss"]), model_dir)


def read_run_metrics(model_dir: str, client: storage.Client) -> tuple[dict[str, Any], Metrics]:
    """A run's metrics.json (gs:// or local) as written, and the checked figures; missing or corrupt: StepError."""
    raw = read_json(f"{model_dir}/{METRICS_FILE}", client)
    return raw, parse_metrics(raw, model_dir)
