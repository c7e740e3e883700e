"""Load a run's SavedModel (gs:// through scripts.core.cloud, or a local directory), predict, and measure its cost.

The gate's view of a model is the artifact Vertex serves: `serving_default` taking the task's float32 input
[None, *input_shape] and returning its output, one probability per class (tasks/: MNIST's `image` [None, 28, 28]
-> `probabilities` [None, 10]). Cost: parameters (every variable in the SavedModel),
bytes on disk (metrics.json aside), and the time of one `serving_default` call at batch 1 and at batch 64,
the median of repeated calls after warm-up, with both models timed in alternating rounds so that they share
whatever else the machine is doing.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from google.cloud import storage

from native_logs import first_tensorflow_import
from scripts.core import cloud
from scripts.core.step import StepError
from tasks import Task
from tasks.mnist import TASK as MNIST

SIGNATURE = "serving_default"
PREDICT_BATCH = 500  # examples per call while predicting the test split
WARMUP_CALLS = 3  # the first calls trace and allocate; they are not timed
TIMED_CALLS = {1: 40, 64: 15}  # batch size -> timed calls per model (about 0.3 s for the demo's CNN on 2 cores)
NOT_MODEL_FILES = {"metrics.json"}


@dataclasses.dataclass
class LoadedModel:
    name: str  # "candidate" or "production vN", for messages
    uri: str
    serve: Any  # the concrete serving_default function
    parameters: int
    size_bytes: int
    handle: Any  # the loaded SavedModel: keeps alive the variables `serve` reads
    task: Task = MNIST  # the input and output names and shapes it is called with


def load(name: str, uri: str, scratch: Path, client: storage.Client, task: Task = MNIST) -> LoadedModel:
    """The SavedModel at `uri` (copied from gs:// into `scratch` first); anything unloadable: StepError."""
    # Deferred: importing TensorFlow takes seconds (and sets off futile collections). Keras' integrations only for
    # a task whose code (which the gate runs too) uses them (Task.keras_extras).
    with first_tensorflow_import(keras_extras=task.keras_extras):
        import tensorflow as tf

    local = Path(uri)
    if uri.startswith("gs://"):
        local = scratch / name.replace(" ", "-")
        cloud.download_dir(uri, local, client)
    try:
        loaded = tf.saved_model.load(str(local))
        serve = loaded.signatures[SIGNATURE]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
        reason = f"{type(exc).__name__}: {first_line(exc)}"
        raise StepError(f"{name}'s SavedModel at {uri} cannot be loaded ({reason})") from None
    files = [path for path in local.rglob("*") if path.is_file() and path.name not in NOT_MODEL_FILES]
    parameters = sum(int(np.prod(variable.shape)) for variable in getattr(loaded, "variables", []))
    return LoadedModel(name, uri, serve, parameters, sum(path.stat().st_size for path in files), loaded, task)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def call(model: LoadedModel, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    task = model.task
    try:
        return model.serve(**{task.input_name: tf.constant(images)})[task.output_name].numpy()
    except (TypeError, KeyError, ValueError, tf.errors.OpError) as exc:
        expected = f"{task.input_name} {task.shape_text()} -> {task.output_name}"
        raise StepError(f"{model.name}'s {SIGNATURE} does not take {expected}: {first_line(exc)}") from None


def predict(model: LoadedModel, images: np.ndarray) -> np.ndarray:
    """Probabilities for every example; a wrong shape or a non-finite value: StepError."""
    classes = model.task.num_classes
    rows = [call(model, images[start : start + PREDICT_BATCH]) for start in range(0, len(images), PREDICT_BATCH)]
    probabilities = np.concatenate(rows) if rows else np.zeros((0, classes), np.float32)
    if probabilities.shape != (len(images), classes) or not np.all(np.isfinite(probabilities)):
        raise StepError(
            f"{model.name} returned {probabilities.shape} probabilities, not finite [{len(images)}, {classes}]"
        )
    return probabilities


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class, as the trainer reports `loss`."""
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float(-np.mean(np.log(picked)))


def time_calls(models: list[LoadedModel], images: np.ndarray) -> dict[str, dict[str, float]]:
    """Median milliseconds per image of one call at each batch size, per model, measured in alternating rounds."""
    timings: dict[str, dict[int, list[float]]] = {m.name: {size: [] for size in TIMED_CALLS} for m in models}
    for size, calls in TIMED_CALLS.items():
        batch = np.resize(images, (size, *images.shape[1:]))  # real digits, repeated if the split is small
        for model in models:
            for _ in range(WARMUP_CALLS):
                call(model, batch)
        for round_number in range(calls):
            order = models if round_number % 2 == 0 else models[::-1]
            for model in order:
                began = time.perf_counter()
                call(model, batch)
                timings[model.name][size].append((time.perf_counter() - began) * 1000 / size)
    return {
        name: {f"ms_per_image_batch_{size}": round(statistics.median(values), 4) for size, values in by_size.items()}
        for name, by_size in timings.items()
    }


def cost(model: LoadedModel, latency: dict[str, float]) -> dict[str, Any]:
    """gate.json's cost block for one model."""
    return {"parameters": model.parameters, "saved_model_bytes": model.size_bytes, **latency}


def ratios(candidate: dict[str, Any], production: dict[str, Any]) -> dict[str, float | None]:
    """candidate / production for every cost figure (None where production's is 0)."""
    return {key: round(candidate[key] / production[key], 3) if production[key] else None for key in candidate}
