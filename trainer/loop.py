"""The fit: Keras' model.fit on one device, a small custom loop under tf.distribute; one log line per epoch.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica...)",
keras-team/keras#20585), so distributed runs train in fit_distributed; single-device runs keep `model.fit`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# Held-out examples per forward pass of the validation call: its activations stay in the CPU's caches, where one
# pass over all 1,000 held-out digits at once writes 100 MB per layer.
VALIDATION_CHUNK = 100


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, clipped as Keras clips it."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, keras.config.epsilon(), 1.0)).mean())


def predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Probabilities for in-memory images, in one eager call (model.predict would trace a function first)."""
    return model(images, training=False).numpy()


def epoch_line(epoch: int, epochs: int, seconds: float, logs: Mapping[str, float]) -> str:
    figures = ", ".join(f"{key} {logs[key]:.4f}" for key in HISTORY_KEYS if key in logs)
    return f"trainer: epoch {epoch}/{epochs} in {seconds:.1f} s: {figures}"


class HeldOutValidation(keras.callbacks.Callback):
    """val_loss and val_accuracy in every epoch's logs, from one compiled call over the held-out split.

    Keras' own validation (fit's validation_data) runs `evaluate` after every epoch: a fresh iterator, the test
    function's step loop, metric resets and callbacks around a single forward pass. Here the split stays in memory
    as tensors and one tf.function sums the loss and the hits chunk by chunk, forward only; the figures are the
    ones Keras reports (its clipped cross-entropy, argmax accuracy). Placed before the callbacks that read the logs
    (Keras appends its History and progress bar after the caller's callbacks). The last epoch's probabilities are
    kept for trainer.task's evaluation (final_probabilities).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, chunk: int = VALIDATION_CHUNK) -> None:
        super().__init__()
        self.x, self.y, self.chunk = tf.constant(x), tf.constant(y, tf.int64), chunk
        # Written as a tf.while_loop, traced without autograph: the same graph's ops, and no source conversion
        # to pay for when the first epoch traces it (about 0.07 s of CPU once a job; docs/trainer.md). Keras' own
        # train step and export trace without autograph too, so a model that trains and exports traces here.
        self.figures = tf.function(self._figures, autograph=False)
        self.output_dtype: tf.DType | None = None  # the model's output dtype, seen when the pass is traced
        self.probabilities: np.ndarray | None = None  # the last epoch's pass's, beside the weights it ran with
        self.weights_seen: list[np.ndarray] = []

    def _figures(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(mean cross-entropy, accuracy, probabilities) over the split, computed `chunk` examples at a time."""
        count = tf.shape(self.y, out_type=tf.int64)[0]

        def one_chunk(start, loss_sum, hits, outputs):  # the loop's body: one forward pass and its figures
            images, labels = self.x[start : start + self.chunk], self.y[start : start + self.chunk]
            probabilities = self.model(images, training=False)
            self.output_dtype = probabilities.dtype  # seen once, while the body is traced
            outputs = outputs.write(tf.cast(start // self.chunk, tf.int32), tf.cast(probabilities, tf.float32))
            losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss_sum += tf.reduce_sum(tf.cast(losses, tf.float64))
            hits += tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, axis=1), labels), tf.int64))
            return start + self.chunk, loss_sum, hits, outputs

        first = (tf.constant(0, tf.int64), tf.constant(0.0, tf.float64), tf.constant(0, tf.int64),
                 tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False))  # fmt: skip
        _, loss_sum, hits, outputs = tf.while_loop(lambda start, *_: start < count, one_chunk, first)
        mean_loss = loss_sum / tf.cast(count, tf.float64)
        return mean_loss, tf.cast(hits, tf.float64) / tf.cast(count, tf.float64), outputs.concat()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if logs is not None:  # Keras hands every callback the same dict, as LearningRateScheduler relies on
            loss, accuracy, probabilities = self.figures()
            logs["val_loss"], logs["val_accuracy"] = float(loss), float(accuracy)
            if epoch + 1 == (self.params or {}).get("epochs"):  # fit's last: one copy of the weights, not one an epoch
                self.probabilities, self.weights_seen = probabilities.numpy(), self.model.get_weights()

    def final_probabilities(self) -> np.ndarray | None:
        """The last epoch's probabilities if the model still has the weights that pass ran with, else None.

        After the last epoch's pass, fit may still change the weights (an optimizer with use_ema=True puts its
        moving averages in at the end of fit); a float32 output is kept as it was, any other dtype is not.
        """
        if self.probabilities is None or self.output_dtype != tf.float32:
            return None
        weights = self.model.get_weights()
        if len(weights) != len(self.weights_seen):
            return None
        same = all(np.array_equal(now, seen) for now, seen in zip(weights, self.weights_seen, strict=True))
        return self.probabilities if same else None


class EpochLog(keras.callbacks.Callback):
    """Prints epoch_line at the end of every epoch (Keras' own progress output is off unless --verbose)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs, self.started = epochs, 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        print(epoch_line(epoch + 1, self.epochs, time.perf_counter() - self.started, logs or {}), flush=True)


def fit_keras(
    model: keras.Model, train_ds: tf.data.Dataset, validation: HeldOutValidation, epochs: int, verbose: bool
) -> dict[str, list[float]]:
    """model.fit over `train_ds` (one epoch of batches), `validation` (the held-out split) after every epoch;
    returns Keras' history."""
    callbacks = [validation] + ([] if verbose else [EpochLog(epochs)])
    progress = (1 if sys.stdout.isatty() else 2) if verbose else 0  # Keras' own bars, or its line per epoch in CI
    fitted = model.fit(train_ds, epochs=epochs, shuffle=False, verbose=progress, callbacks=callbacks)
    return fitted.history


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

    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    for epoch in range(1, epochs + 1):
        started, totals = time.perf_counter(), np.zeros(3)
        for images, labels in batches:
            totals += [float(value) for value in train_step(images, labels)]
        probabilities = predict(model, test[0])
        history["loss"].append(totals[0] / totals[2])
        history["accuracy"].append(totals[1] / totals[2])
        history["val_loss"].append(cross_entropy(probabilities, test[1]))
        history["val_accuracy"].append(float((probabilities.argmax(axis=1) == test[1]).mean()))
        logs = {key: values[-1] for key, values in history.items()}
        print(epoch_line(epoch, epochs, time.perf_counter() - started, logs), flush=True)
    return history
