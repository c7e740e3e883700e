"""Wine: 13 chemical measurements of a wine -> which of 3 cultivars made it. A tabular task, on data that
installs offline (scikit-learn ships the UCI wine table inside its wheel: sklearn.datasets.load_wine).

It proves the task contract: a different input (13 raw numbers, no image), a different class count, its own
model. The model standardises its inputs itself (a Normalization layer adapted on the training split), so a
client sends the measurements as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks import Split, Task, TaskError

FEATURES = 13
LABELS = ("class_0", "class_1", "class_2")  # sklearn's target_names: the three cultivars
TEST_FRACTION = 0.2  # 36 of the 178 wines, stratified by cultivar


def load_data(dataset: str, seed: int, data_path: str | None) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)): float32 [n, 13] measurements and int64 cultivars 0-2."""
    from trainer.data import load_npz, stratified_split  # deferred, as tasks/mnist.py

    if data_path:
        (x_train, y_train), (x_test, y_test) = load_npz(data_path)
        return (_checked(x_train, y_train, data_path), _checked(x_test, y_test, data_path))
    if dataset != "wine":
        raise TaskError(f"task 'wine' has no dataset {dataset!r} (choose from wine)")
    from sklearn.datasets import load_wine  # deferred: importing scikit-learn costs a second

    x, y = load_wine(return_X_y=True)
    train, test = stratified_split(y, TEST_FRACTION, seed)
    return _checked(x[train], y[train], "wine"), _checked(x[test], y[test], "wine")


def _checked(x: np.ndarray, y: np.ndarray, where: str) -> Split:
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if x.ndim != 2 or x.shape[1] != FEATURES or len(x) != len(y) or not len(x):
        raise TaskError(f"{where}: features have shape {x.shape} for {len(y)} labels, expected (n, {FEATURES})")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(LABELS):
        raise TaskError(f"{where}: labels must be integers 0-{len(LABELS) - 1}")
    return x.astype(np.float32), y.astype(np.int64)


def build_model(model: str, learning_rate: float, total_steps: int, steps_per_execution: int, x_train: Any) -> Any:
    """mlp: standardise -> Dense 32 relu -> dropout -> Dense 3 softmax, Adam with cosine decay."""
    import keras

    if model != "mlp":
        raise TaskError(f"task 'wine' has no model {model!r} (choose from mlp)")
    normalise = keras.layers.Normalization()
    normalise.adapt(np.asarray(x_train, np.float32))
    features = keras.Input(shape=(FEATURES,), name="features")
    x = normalise(features)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    probabilities = keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities")(x)
    network = keras.Model(features, probabilities, name="mlp")
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(total_steps, 1))
    network.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return network


TASK = Task(
    name="wine",
    item="wine",
    input_name="features",
    input_shape=(FEATURES,),
    value_range=None,  # raw measurements: proline runs to 1,680, hue below 1
    output_name="probabilities",
    labels=LABELS,
    datasets=("wine",),
    sample_dataset="wine",
    load_data=load_data,
    build_model=build_model,
    models=("mlp",),
    # 142 training wines are 9 steps of 16: more epochs and a larger step than the image task's defaults.
    model_defaults={"mlp": {"epochs": 60, "batch_size": 16, "learning_rate": 0.01}},
    keras_extras=False,  # scikit-learn gives the data (imported after TensorFlow, as usual), not Keras' wrappers
)
