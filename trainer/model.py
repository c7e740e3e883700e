"""The image models: the walkthrough's dense `baseline` and the default `cnn`, for any task's image shape.

Keras is imported inside the functions: trainer.task sets TensorFlow's logging up before the first import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks import mnist

if TYPE_CHECKING:
    import keras

MODELS = ("cnn", "baseline")


def build_model(
    name: str,
    learning_rate: float,
    total_steps: int,
    steps_per_execution: int = 1,
    image_shape: tuple[int, ...] = mnist.IMAGE_SHAPE,
    classes: int = len(mnist.LABELS),
) -> keras.Model:
    """A compiled model whose input is a float image of `image_shape` named `image` and whose output is
    `classes` probabilities (the task's contract: tasks/mnist.py).

    steps_per_execution > 1 has model.fit run that many steps per call into the compiled loop.
    """
    import keras

    if name == "baseline":
        model, optimizer = _baseline(image_shape, classes), keras.optimizers.Adam(learning_rate)
    elif name == "cnn":
        # Cosine decay to zero over the whole run: a large early step, then a fine finish (+0.3-0.5 % here).
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(total_steps, 1))
        model, optimizer = _cnn(image_shape, classes), keras.optimizers.Adam(schedule)
    else:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def _baseline(image_shape: tuple[int, ...], classes: int) -> keras.Model:
    """Flatten -> Dense 128 relu -> Dense softmax, exactly the walkthrough's train.py."""
    import keras

    image = keras.Input(shape=image_shape, name="image")
    x = keras.layers.Flatten()(image)
    x = keras.layers.Dense(128, activation="relu")(x)
    probabilities = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(image, probabilities, name="baseline")


def _cnn(image_shape: tuple[int, ...], classes: int) -> keras.Model:
    """Two conv blocks with batch norm, then a small dense head with dropout."""
    import keras

    image = keras.Input(shape=image_shape, name="image")
    x = keras.layers.Reshape((*image_shape, 1))(image)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(0.3)(x)
    probabilities = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(image, probabilities, name="cnn")
