"""Write what a run produces into a local directory: the serving SavedModel and metrics.json beside it.

trainer/storage.py gives that directory and uploads it when the destination is gs://.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasks import Task
from tasks.mnist import TASK as MNIST

METRICS_FILE = "metrics.json"
KERAS_PACKAGE = "keras."  # the module of every built-in layer and model class (keras.src....)


def export_saved_model(model: keras.Model, model_dir: Path, task: Task = MNIST) -> None:
    """A SavedModel whose `serving_default` takes the task's float32 input [None, *input_shape] and returns its
    output (MNIST: `image` [None, 28, 28] -> `probabilities`).

    ExportArchive pins the input and output names (model.export would name them after internal tensors), so
    TF Serving's row format `{"instances": [...]}` and the object form `{"image": ...}` both work.
    """
    archive = keras.export.ExportArchive()
    track_variables(archive, model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda inputs: {task.output_name: model(inputs, training=False)},
        input_signature=[tf.TensorSpec([None, *task.input_shape], tf.float32, name=task.input_name)],
    )
    archive.write_out(str(model_dir), verbose=False)


def track_variables(archive: keras.export.ExportArchive, model: keras.Model) -> None:
    """What `archive.track(model)` records, the model's variables, lists and all, without its search of every
    object under the model for non-Keras TrackableResources (a tf.lookup table held by a custom layer): a third to
    a half of the export's CPU time, for nothing when every layer is one of Keras' own, whose lookup tables
    add_endpoint tracks by itself (https://keras.io/api/models/model_saving_apis/export/, ExportArchive.track).
    The SavedModel's object graph, checkpoint and signature are the same either way (tests/trainer/test_export.py).
    """
    if all(type(layer).__module__.startswith(KERAS_PACKAGE) for layer in all_layers(model)):
        archive._backend_track_layer(model)  # what track() does for a layer, after its checks, minus the search
    else:
        archive.track(model)


def all_layers(layer: keras.Layer) -> list[keras.Layer]:
    """The layer and every layer inside it, nested models included."""
    return [layer, *(inner for child in getattr(layer, "layers", []) for inner in all_layers(child))]


def evaluation(probabilities: np.ndarray, labels: np.ndarray, num_classes: int = MNIST.num_classes) -> dict[str, Any]:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = np.divide(confusion.diagonal(), per_class_total, out=np.zeros(num_classes), where=per_class_total > 0)
    return {
        "accuracy": float((predicted == labels).mean()),
        "per_class_accuracy": [round(float(v), 6) for v in per_class],
        "confusion_matrix": confusion.tolist(),
    }


def history_rows(history: dict[str, list[float]]) -> list[dict[str, float]]:
    """Keras' {metric: [per epoch]} as one row per epoch."""
    epochs = len(next(iter(history.values()), []))
    return [
        {"epoch": i + 1, **{name: round(float(values[i]), 6) for name, values in history.items()}}
        for i in range(epochs)
    ]


def write_metrics(metrics: dict[str, Any], model_dir: Path) -> Path:
    path = model_dir / METRICS_FILE
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return path
