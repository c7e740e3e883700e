"""The task contract: what every pipeline step knows about the model, and the registry naming the tasks.

A task is one module here that defines `TASK = Task(...)`; REGISTRY maps its name to that module.
pipeline.toml's `[task] name` picks one (PIPELINE_TASK_NAME overrides it). The trainer, the gate, the smoke
test, the report, the console and the demo read the shapes, classes and data from it, never on their own.
docs/bring-your-own-model.md walks through adding one.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

# name -> module defining TASK. A new task is one line here and its module.
REGISTRY = {"mnist": "tasks.mnist", "wine": "tasks.wine"}
# What the gate knows how to compare (scripts/comparison/verdict_lines.py, scripts/comparison/mcnemar.py).
METRICS = ("accuracy",)
FULL, SAMPLE = "full", "sample"  # dataset keywords pipeline.toml may use instead of a task's own names
DEFAULT_MODEL = "default"  # the model keyword: the task's first model

Split = tuple[np.ndarray, np.ndarray]
# (dataset name, seed, optional .npz path) -> ((x_train, y_train), (x_test, y_test)), x float32 in input_shape.
LoadData = Callable[[str, int, "str | None"], tuple[Split, Split]]
# (model name, peak learning rate, total training steps, steps per execution, the training inputs) -> a compiled
# keras.Model; the inputs let a model adapt its own preprocessing (a tabular task's Normalization layer).
BuildModel = Callable[[str, float, int, int, np.ndarray], Any]


class TaskError(ValueError):
    """An unknown task, an incomplete task module, or data that does not fit the task."""


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    item: str  # what one instance is called in messages: "digit", "wine"
    input_name: str  # the SavedModel signature's input key (TF Serving's object form names it)
    input_shape: tuple[int, ...]  # one instance, without the batch axis
    value_range: tuple[float, float] | None  # bounds of every input value after preprocessing; None: any finite
    output_name: str  # the signature's output key: one probability per class
    labels: tuple[str, ...]  # class i's label, shown by the report and the console
    datasets: tuple[str, ...]  # the names load_data accepts; the first is the full dataset ("full")
    sample_dataset: str  # the one that installs offline, for the local profile and the tests ("sample")
    load_data: LoadData
    build_model: BuildModel
    models: tuple[str, ...]  # the names build_model accepts; pipeline.toml's training.model picks one
    augmented_models: tuple[str, ...] = ()  # models trained on shifted and rotated images (image tasks only)
    model_defaults: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # per-model hyper
    metric: str = "accuracy"  # what the gate compares between candidate and production
    # Keras' optional integrations, imported with it where the task's code runs (the training job, the gate, the
    # demo) when installed: fit on a pandas DataFrame, keras.wrappers' scikit-learn estimators, plot_model's
    # matplotlib. False leaves them out (1.2-1.4 s of CPU less each: a third of TensorFlow's import).
    keras_extras: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def is_image(self) -> bool:
        """Grey images in [0, 1]: the report draws them and the console's test tab offers a drawing pad."""
        return len(self.input_shape) == 2 and self.value_range == (0.0, 1.0)

    @property
    def instance_size(self) -> int:
        return int(np.prod(self.input_shape))

    def shape_text(self) -> str:
        """The expected batch shape, as errors name it: [n, 28, 28]."""
        return "[n, " + ", ".join(str(side) for side in self.input_shape) + "]"

    def resolve_dataset(self, name: str) -> str:
        """A task dataset name for pipeline.toml's value: "full", "sample" or one of the task's own names."""
        if name == FULL:
            return self.datasets[0]
        if name == SAMPLE:
            return self.sample_dataset
        if name not in self.datasets:
            raise TaskError(f"task {self.name!r} has no dataset {name!r} (choose from {', '.join(self.datasets)})")
        return name

    def resolve_model(self, name: str) -> str:
        """A model name for pipeline.toml's value: "default" (the task's first) or one of the task's models."""
        if name == DEFAULT_MODEL:
            return self.models[0]
        if name not in self.models:
            raise TaskError(f"task {self.name!r} has no model {name!r} (choose from {', '.join(self.models)})")
        return name

    def hyperparameters(
        self, model: str, configured: Mapping[str, Any], chosen: Collection[str] = ()
    ) -> dict[str, Any]:
        """pipeline.toml's values with the model's own defaults over them (mnist's baseline keeps the walkthrough's
        3 epochs; wine's mlp its own), except the `chosen` keys (set by a PIPELINE_TRAINING_* variable or a flag)."""
        defaults = self.model_defaults.get(model, {})
        return {**configured, **{key: value for key, value in defaults.items() if key not in chosen}}

    def check_batch(self, x: np.ndarray, where: str) -> np.ndarray:
        """x as float32 [n, *input_shape] within value_range; else TaskError naming the expected shape."""
        x = np.asarray(x)
        if x.ndim != 1 + len(self.input_shape) or x.shape[1:] != self.input_shape:
            raise TaskError(f"{where}: shape {list(x.shape)}, expected {self.shape_text()} for task {self.name!r}")
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise TaskError(f"{where}: values must be finite")
        if self.value_range is not None and x.size and (x.min() < self.value_range[0] or x.max() > self.value_range[1]):
            raise TaskError(f"{where}: values must lie in [{self.value_range[0]}, {self.value_range[1]}]")
        return x

    def instances(self, x: np.ndarray) -> list:
        """The JSON instances for a batch: nested lists of numbers, one per instance, as endpoint.predict sends."""
        return np.asarray(x, np.float32).tolist()

    def from_instances(self, instances: Sequence[Any]) -> np.ndarray:
        """How a JSON instance list becomes the model's input array (the inverse of instances)."""
        try:
            array = np.asarray(instances, dtype=np.float32)
        except (ValueError, TypeError):
            raise TaskError(f"instances must be numbers shaped {self.shape_text()}") from None
        return self.check_batch(array, "instances")

    def samples(self, count: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
        """The first `count` test instances of the offline dataset, with labels: the smoke test's and the
        console's examples."""
        _, (x_test, y_test) = self.load_data(self.sample_dataset, seed, None)
        return x_test[:count], y_test[:count]

    def describe(self) -> dict[str, Any]:
        """What the console shows about the task (no arrays)."""
        return {
            "name": self.name,
            "item": self.item,
            "input": {
                "name": self.input_name,
                "shape": list(self.input_shape),
                "dtype": "float32",
                "range": list(self.value_range) if self.value_range else None,
            },
            "output": {"name": self.output_name, "labels": list(self.labels)},
            "metric": self.metric,
            "image": self.is_image,
        }


REQUIRED = tuple(f.name for f in dataclasses.fields(Task) if f.default is dataclasses.MISSING and
                 f.default_factory is dataclasses.MISSING and f.name != "value_range")  # fmt: skip


def load_task(name: str) -> Task:
    """The registered task `name`; an unknown name or an incomplete module: TaskError in one line."""
    module_name = REGISTRY.get(name)
    if module_name is None:
        raise TaskError(f"unknown task {name!r} (tasks: {', '.join(sorted(REGISTRY))})")
    try:
        module = importlib.import_module(module_name)
    except TypeError as exc:  # Task(...) without a required piece: "missing 1 required keyword argument: 'labels'"
        raise TaskError(f"{module_name}: incomplete task: {exc}") from None
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise TaskError(f"{module_name}: defines no TASK = tasks.Task(...)")
    check_task(task, module_name)
    return task


def check_task(task: Task, where: str) -> None:
    """Every piece present and consistent; the first missing or wrong one named."""
    for piece in REQUIRED:
        value = getattr(task, piece)
        if value is None or (isinstance(value, str | tuple) and not value):
            raise TaskError(f"{where}: task {task.name!r} is missing {piece}")
    for piece in ("load_data", "build_model"):
        if not callable(getattr(task, piece)):
            raise TaskError(f"{where}: task {task.name!r}: {piece} is not callable")
    if not all(isinstance(side, int) and side > 0 for side in task.input_shape):
        raise TaskError(f"{where}: task {task.name!r}: input_shape {task.input_shape} must be positive integers")
    if task.num_classes < 2:
        raise TaskError(f"{where}: task {task.name!r}: labels must name at least two classes")
    if task.sample_dataset not in task.datasets:
        raise TaskError(f"{where}: task {task.name!r}: sample_dataset {task.sample_dataset!r} is not in datasets")
    if task.metric not in METRICS:
        raise TaskError(f"{where}: task {task.name!r}: metric {task.metric!r} (the gate compares {METRICS})")
