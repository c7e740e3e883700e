"""A training run's metrics.json as the pipeline reads it: the fields the gate and the registry rely on.

The full schema is the trainer's (README, "What the steps hand each other"); the report checks the rest.
Every check names the file and the field, and never echoes more than a short, depth-limited repr of a bad value.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib
from typing import Any

from google.cloud import storage

from scripts.core.cloud import read_json
from scripts.core.step import StepError

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
MAX_SEED = 2**32 - 1  # numpy's seed range as the trainer uses it
SHORT = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
SHORT.maxlevel, SHORT.maxstring, SHORT.maxother, SHORT.maxlong, SHORT.maxlist, SHORT.maxdict = 2, 40, 40, 20, 4, 4


@dataclasses.dataclass(frozen=True)
class Metrics:
    accuracy: float
    loss: float
    model_dir: str


@dataclasses.dataclass(frozen=True)
class SplitSpec:
    """What the trainer says it evaluated on: enough to rebuild the test split and check it is the same."""

    dataset: str  # a dataset name, or the .npz path the run was given
    seed: int
    fingerprint: str
    examples: int


def fmt(value: float) -> str:
    """0.97 -> 0.970, 0.9695 -> 0.9695: three decimals, a fourth only when it says something."""
    text = f"{value:.4f}"
    return text[:-1] if text.endswith("0") else text


def short(value: Any) -> str:
    """A bad value as an error message may show it: bounded in length and depth, whatever it is."""
    return SHORT.repr(value)


def finite(value: Any) -> float | None:
    """The value as a float when it is a finite JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an integer like 10**400 overflows here
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _object(data: Any, where: str) -> dict[str, Any]:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1 in Python, not in a schema
        raise StepError(f"{where} is not a schema_version {SCHEMA_VERSION} metrics object")
    return data


def parse_metrics(data: Any, model_dir: str) -> Metrics:
    """Check the fields the pipeline relies on; anything else about metrics.json is the report's business."""
    where = f"{model_dir}/{METRICS_FILE}"
    data = _object(data, where)
    values = {key: finite(data.get(key)) for key in ("accuracy", "loss")}
    for key, value in values.items():
        if value is None:
            raise StepError(f"{where}: {key} = {short(data.get(key))} is not a finite number")
    if not 0.0 <= values["accuracy"] <= 1.0:
        raise StepError(f"{where}: accuracy = {short(data['accuracy'])} is outside [0, 1]")
    if values["loss"] < 0:
        raise StepError(f"{where}: loss = {short(data['loss'])} is negative")
    return Metrics(values["accuracy"], values["loss"], model_dir)


def parse_split(data: Any, model_dir: str) -> SplitSpec:
    """The candidate's test split as metrics.json records it (dataset, seed, test_fingerprint, test_examples)."""
    where = f"{model_dir}/{METRICS_FILE}"
    data = _object(data, where)
    dataset, fingerprint = data.get("dataset"), data.get("test_fingerprint")
    hyper = data.get("hyperparameters")
    seed = hyper.get("seed") if isinstance(hyper, dict) else None
    examples = data.get("test_examples")
    if not isinstance(dataset, str) or not dataset.strip():
        raise StepError(f"{where}: dataset = {short(dataset)} is not a dataset name or path")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise StepError(f"{where}: hyperparameters.seed = {short(seed)} is not a seed (0-{MAX_SEED})")
    if not isinstance(fingerprint, str) or not FINGERPRINT.fullmatch(fingerprint):
        raise StepError(
            f"{where}: test_fingerprint = {short(fingerprint)} is not sha256:<64 hex digits> "
            "(trained before the trainer recorded its test split? retrain)"
        )
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise StepError(f"{where}: test_examples = {short(examples)} is not a positive count")
    return SplitSpec(dataset, seed, fingerprint, examples)


def read_run_metrics(model_dir: str, client: storage.Client) -> tuple[dict[str, Any], Metrics]:
    """A run's metrics.json (gs:// or local) as written, and the checked figures; missing or corrupt: StepError."""
    raw = read_json(f"{model_dir}/{METRICS_FILE}", client)
    return raw, parse_metrics(raw, model_dir)
