"""The per-epoch validation pass: the figures Keras' own validation reports, from one compiled call."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from trainer.data import load_dataset
from trainer.inputs import training_batches
from trainer.loop import HeldOutValidation, fit_keras, predict
from trainer.model import build_model


@pytest.fixture(scope="module")
def split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    (x, y), (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    return (x[:640], y[:640]), (x_test[:333], y_test[:333])


def test_validation_reports_what_keras_evaluate_reports(split):
    (x, y), (x_test, y_test) = split
    keras.utils.set_random_seed(7)
    model = build_model("cnn", 0.002, 10, steps_per_execution=10)
    model.fit(training_batches(x, y, 7, 64, augment=False), epochs=1, verbose=0)
    # 333 digits in chunks of 100: the last chunk is a short one, and every digit counts once.
    validation = HeldOutValidation(x_test, y_test, chunk=100)
    validation.set_model(model)
    logs: dict[str, float] = {}
    validation.on_epoch_end(0, logs)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=len(x_test), verbose=0)
    assert set(logs) == {"val_loss", "val_accuracy"}
    assert logs["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert logs["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    hits = (model(x_test, training=False).numpy().argmax(axis=1) == y_test).sum()
    assert round(logs["val_accuracy"] * len(x_test)) == hits


def test_every_epoch_has_its_validation_line_and_history(split, capsys):
    (x, y), test = split
    keras.utils.set_random_seed(7)
    model = build_model("cnn", 0.002, 20, steps_per_execution=10)
    batches = training_batches(x, y, 7, 64, augment=False)
    history = fit_keras(model, batches, HeldOutValidation(*test), epochs=2, verbose=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trainer: epoch ")]
    assert len(lines) == 2 and all("val_loss" in line and "val_accuracy" in line for line in lines)
    assert len(history["val_loss"]) == len(history["val_accuracy"]) == 2
    # The second epoch's figures are the trained model's: validation ran after the epoch, on its weights.
    loss, accuracy = model.evaluate(*test, batch_size=len(test[0]), verbose=0)
    assert history["val_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)


def test_the_last_pass_gives_the_evaluation_the_models_own_probabilities(split):
    """trainer.task evaluates on the last epoch's pass instead of one more: the same numbers, bit for bit."""
    (x, y), (x_test, y_test) = split
    keras.utils.set_random_seed(7)
    model = build_model("cnn", 0.002, 20, steps_per_execution=10)
    validation = HeldOutValidation(x_test, y_test, chunk=100)
    fit_keras(model, training_batches(x, y, 7, 64, augment=False), validation, epochs=2, verbose=False)
    probabilities = validation.final_probabilities()
    assert probabilities is not None
    np.testing.assert_array_equal(probabilities, predict(model, x_test))


def test_weights_changed_after_the_last_pass_give_no_probabilities(split):
    """Adam(use_ema=True) puts its moving averages into the weights when fit ends, after the last epoch's pass:
    the evaluation must then run on the final weights, not reuse the pass."""
    (x, y), (x_test, y_test) = split
    keras.utils.set_random_seed(7)
    model = build_model("cnn", 0.002, 20, steps_per_execution=10)
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="sparse_categorical_crossentropy")
    validation = HeldOutValidation(x_test, y_test, chunk=100)
    fit_keras(model, training_batches(x, y, 7, 64, augment=False), validation, epochs=1, verbose=False)
    assert validation.probabilities is not None  # the pass ran, on the weights before the averages
    assert validation.final_probabilities() is None
