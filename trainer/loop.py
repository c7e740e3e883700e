"""model.fit's job under tf.distribute, as a small custom loop.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica...)",
keras-team/keras#20585), so distributed runs train here; single-device runs keep `model.fit`.
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
import tensorflow as tf


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, clipped as Keras clips it."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, keras.config.epsilon(), 1.0)).mean())


def fit_distributed(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    test: tuple[np.ndarray, np.ndarray],
    epochs: int,
    global_batch: int,
) -> dict[str, list[float]]:
    """Train for `epochs` over `train_ds` (batched by the global batch size); returns Keras-style history."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")
    batches = strategy.experimental_distribute_dataset(train_ds)

    def replica_step(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)
            per_example = loss_fn(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        correct = tf.equal(tf.argmax(probabilities, axis=1), tf.cast(labels, tf.int64))
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(tf.cast(correct, tf.float32)), count

    @tf.function
    def train_step(images: tf.Tensor, labels: tf.Tensor) -> list[tf.Tensor]:
        sums = strategy.run(replica_step, args=(images, labels))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in sums]

    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(1, epochs + 1):
        started, totals = time.perf_counter(), np.zeros(3)
        for images, labels in batches:
            totals += [float(value) for value in train_step(images, labels)]
        probabilities = model.predict(test[0], batch_size=1024, verbose=0)
        history["loss"].append(totals[0] / totals[2])
        history["accuracy"].append(totals[1] / totals[2])
        history["val_loss"].append(cross_entropy(probabilities, test[1]))
        history["val_accuracy"].append(float((probabilities.argmax(axis=1) == test[1]).mean()))
        line = " - ".join(f"{name}: {values[-1]:.4f}" for name, values in history.items())
        print(f"Epoch {epoch}/{epochs} - {time.perf_counter() - started:.0f}s - {line}", file=sys.stdout, flush=True)
    return history
