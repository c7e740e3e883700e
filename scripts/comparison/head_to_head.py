"""What the gate decides on: the candidate and production (the champion) run now, on the candidate's test split.

Reads the candidate's metrics.json, finds the version holding the `production` alias, rebuilds the test split
(comparison.holdout), loads both SavedModels (comparison.savedmodel), predicts every digit with both, compares the
two prediction vectors digit by digit (comparison.mcnemar) and measures both models' cost in the same run. Anything
it cannot read or load raises StepError, which the gate turns into a closed gate.
"""

from __future__ import annotations

import base64
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from google.cloud import storage

from scripts.comparison import mcnemar, savedmodel
from scripts.comparison.holdout import TestSplit, load_split
from scripts.core import registry
from scripts.core.run_metrics import parse_split, read_run_metrics
from scripts.core.step import StepError
from tasks import Task
from tasks.mnist import TASK as MNIST

REGRESSIONS_FILE = "gate_regressions"  # out/gate_regressions.json: the digits the report pictures
MAX_PICTURED = 32  # digits in the picture of regressions


@dataclasses.dataclass
class Evidence:
    """gate.json's blocks, filled in as far as the gate got; `files` are the other out/<name>.json."""

    files: dict[str, Any] = dataclasses.field(default_factory=dict)
    candidate: dict[str, Any] | None = None
    production: dict[str, Any] | None = None
    test_split: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    cost_ratio: dict[str, Any] | None = None


def gather(
    evidence: Evidence, model_dir: str, display_name: str, alpha: float, client: storage.Client, task: Task = MNIST
) -> None:
    """Fill `evidence` in; StepError (with what is known so far left in `evidence`) on anything unreadable."""
    raw, recorded = read_run_metrics(model_dir, client)
    evidence.files["candidate_metrics"] = raw
    trained_for = raw.get("task", MNIST.name)  # metrics.json before tasks existed: MNIST's
    if trained_for != task.name:
        raise StepError(f"the candidate was trained for task {trained_for!r}, but the pipeline's task is {task.name!r}")
    block = evidence.candidate = {**dataclasses.asdict(recorded), "recorded_accuracy": recorded.accuracy}
    spec = parse_split(raw, model_dir)
    version = registry.production_version(display_name)
    if version is not None:
        uri = version.uri.rstrip("/")
        production_raw, production = read_run_metrics(uri, client)
        evidence.files["production_metrics"] = production_raw
        evidence.production = {
            **dataclasses.asdict(production),
            "recorded_accuracy": production.accuracy,
            "version_id": version.version_id,
            "model": version.resource_name,
            "same_test_split": production_raw.get("test_fingerprint") == spec.fingerprint,
        }
    split = load_split(spec, client, task)
    evidence.test_split = split.describe()
    with tempfile.TemporaryDirectory(prefix="gate-models-") as scratch:
        candidate = savedmodel.load("candidate", model_dir, Path(scratch), client, task)
        champion = None
        if version is not None:
            champion = savedmodel.load(f"production v{version.version_id}", uri, Path(scratch), client, task)
        measure(evidence, block, split, candidate, champion, alpha)


def evaluate(block: dict[str, Any], model: savedmodel.LoadedModel, split: TestSplit) -> np.ndarray:
    """Predict every digit of the split; the block gets the accuracy and loss measured now. Returns the classes."""
    probabilities = savedmodel.predict(model, split.images)
    classes = probabilities.argmax(axis=1)
    block["accuracy"] = float(np.mean(classes == split.labels))
    block["loss"] = round(savedmodel.cross_entropy(probabilities, split.labels), 6)
    return classes


def measure(
    evidence: Evidence,
    block: dict[str, Any],
    split: TestSplit,
    candidate: savedmodel.LoadedModel,
    champion: savedmodel.LoadedModel | None,
    alpha: float,
) -> None:
    """Both models on the same digits (`block` is gate.json's candidate block), then their cost, timed together."""
    candidate_classes = evaluate(block, candidate, split)
    models = [candidate] if champion is None else [candidate, champion]
    latency = savedmodel.time_calls(models, split.images)
    block["cost"] = savedmodel.cost(candidate, latency[candidate.name])
    if champion is None or evidence.production is None:
        return
    champion_classes = evaluate(evidence.production, champion, split)
    evidence.production["cost"] = savedmodel.cost(champion, latency[champion.name])
    evidence.cost_ratio = savedmodel.ratios(block["cost"], evidence.production["cost"])
    task = candidate.task
    evidence.comparison = mcnemar.compare(split.labels, champion_classes, candidate_classes, alpha, task.num_classes)
    evidence.comparison["regressions_file"] = f"{REGRESSIONS_FILE}.json"
    evidence.files[REGRESSIONS_FILE] = regressions(split, champion_classes, candidate_classes, task)


def regressions(split: TestSplit, production: np.ndarray, candidate: np.ndarray, task: Task = MNIST) -> dict[str, Any]:
    """The first examples production got right and the candidate gets wrong, for the report; an image task's
    with its pixels as bytes, row by row, and their shape."""
    picked = mcnemar.regressed_indices(split.labels, production, candidate, MAX_PICTURED)
    pixels = np.clip(np.rint(split.images[picked] * 255), 0, 255).astype(np.uint8)
    rows = []
    for index, image in zip(picked, pixels, strict=True):
        row = {"index": int(index), "label": int(split.labels[index]), "production": int(production[index]),
               "candidate": int(candidate[index])}  # fmt: skip
        if task.is_image:
            row["pixels"] = base64.b64encode(image.tobytes()).decode("ascii")
        rows.append(row)
    found = {"total": int(np.sum((production == split.labels) & (candidate != split.labels))), "digits": rows}
    return {**found, "shape": list(task.input_shape)} if task.is_image else found


def latency_ratio(cost_ratio: dict[str, Any] | None) -> float | None:
    """The larger of the two time-per-image ratios (batch 1 and batch 64): how much slower the candidate got."""
    if not cost_ratio:
        return None
    values = [value for key, value in cost_ratio.items() if key.startswith("ms_per_image")]
    if not values:
        return None
    return float("nan") if None in values else max(values)  # nan (production took no time) fails a set limit
