"""MNIST: 28x28 grey digits in [0, 1] -> probabilities of the ten digits. The default task.

The loaders are trainer/data.py's and the models trainer/model.py's; this module says which shapes,
classes and names they use, and everything else in the pipeline reads them from here.
"""

from __future__ import annotations

from typing import Any

from tasks import Split, Task

IMAGE_SHAPE = (28, 28)
LABELS = tuple(str(digit) for digit in range(10))


def load_data(dataset: str, seed: int, data_path: str | None) -> tuple[Split, Split]:
    from trainer.data import load_dataset  # deferred: the trainer's loaders import their own helpers

    return load_dataset(dataset, seed, data_path)


def build_model(model: str, learning_rate: float, total_steps: int, steps_per_execution: int, x_train: Any) -> Any:
    from trainer.model import build_model as build

    return build(model, learning_rate, total_steps, steps_per_execution, IMAGE_SHAPE, len(LABELS))


TASK = Task(
    name="mnist",
    item="digit",
    input_name="image",
    input_shape=IMAGE_SHAPE,
    value_range=(0.0, 1.0),
    output_name="probabilities",
    labels=LABELS,
    datasets=("mnist", "mnist-sample", "fashion-mnist"),
    sample_dataset="mnist-sample",
    load_data=load_data,
    build_model=build_model,
    models=("cnn", "baseline"),
    augmented_models=("cnn",),
    # The walkthrough trains its dense model with Keras' defaults for 3 epochs; `--model baseline` keeps them
    # unless a flag says otherwise, so the baseline stays the walkthrough's model, not a tuned one.
    model_defaults={"baseline": {"epochs": 3, "batch_size": 32, "learning_rate": 0.001}},
    keras_extras=False,  # numpy arrays and tf.data only
)
