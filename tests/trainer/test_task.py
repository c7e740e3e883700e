"""A real short training run: accuracy, metrics.json, the exported SavedModel, AIP_MODEL_DIR and determinism."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from tests.support.training import run_trainer
from trainer.data import load_dataset


def test_held_out_accuracy_is_at_least_090(baseline_metrics):
    assert baseline_metrics["accuracy"] >= 0.90
    assert baseline_metrics["test_examples"] == 1000 and baseline_metrics["train_examples"] == 4000


def test_aip_model_dir_wins_over_the_model_dir_flag(baseline_run):
    assert (baseline_run / "saved_model.pb").is_file()
    assert (baseline_run / "metrics.json").is_file()


def test_metrics_json_has_every_field_with_sane_values(baseline_metrics):
    m = baseline_metrics
    assert 0.0 < m["loss"] < 1.0
    assert len(m["per_class_accuracy"]) == 10 and all(0.5 < v <= 1.0 for v in m["per_class_accuracy"])
    confusion = np.array(m["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == m["test_examples"]
    assert math.isclose(np.trace(confusion) / confusion.sum(), m["accuracy"])
    assert confusion.sum(axis=1).tolist() == [100] * 10  # rows are the true classes
    assert m["data_fingerprint"].startswith("sha256:") and len(m["data_fingerprint"]) == 7 + 64
    assert m["hyperparameters"] == {"epochs": 8, "batch_size": 32, "learning_rate": 0.001, "seed": 42, "augment": False}
    assert m["model"] == "baseline" and m["dataset"] == "mnist-sample" and m["git_sha"] == "abc1234"
    assert m["versions"]["tensorflow"].startswith("2.") and m["versions"]["keras"].startswith("3.")
    assert m["wall_time_s"] > 0 and m["strategy"] == "_DefaultDistributionStrategy" and m["replicas"] == 1
    assert [row["epoch"] for row in m["history"]] == list(range(1, 9))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(m["history"][0])
    assert m["history"][-1]["loss"] < m["history"][0]["loss"]


def test_serving_default_answers_the_walkthroughs_json_instance(baseline_run):
    import tensorflow as tf

    _, (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    body = json.loads(json.dumps({"instances": [x_test[0].tolist()]}))  # nested lists of floats, as sent
    serving = tf.saved_model.load(str(baseline_run)).signatures["serving_default"]
    assert list(serving.structured_input_signature[1]) == ["image"]
    probabilities = serving(image=tf.constant(body["instances"], tf.float32))["probabilities"].numpy()
    assert probabilities.shape == (1, 10)
    assert math.isclose(float(probabilities.sum()), 1.0, abs_tol=1e-5)
    batch = serving(image=tf.constant(x_test[:200]))["probabilities"].numpy()
    assert (batch.argmax(axis=1) == y_test[:200]).mean() >= 0.9
    assert np.allclose(probabilities[0], batch[0], atol=1e-6)  # JSON floats give the same answer as the array
    a_one = x_test[np.flatnonzero(y_test == 1)[0]]  # ones are the digits every model gets right
    one = serving(image=tf.constant(json.loads(json.dumps([a_one.tolist()])), tf.float32))["probabilities"]
    assert int(one.numpy().argmax()) == 1


def test_the_same_seed_gives_the_same_metrics(cnn_run, cnn_verbose_run):
    # Two processes with the same flags and seed; the second's --verbose changes what it prints, not what it trains.
    assert (cnn_verbose_run / "returncode.txt").read_text() == "0", (cnn_verbose_run / "stderr.txt").read_text()[-2000:]
    first = json.loads((cnn_run / "metrics.json").read_text())
    again = json.loads((cnn_verbose_run / "model" / "metrics.json").read_text())
    assert first["accuracy"] == again["accuracy"] and first["loss"] == again["loss"]
    assert first["confusion_matrix"] == again["confusion_matrix"]
    assert first["hyperparameters"]["augment"] is True


def test_the_log_holds_the_trainers_own_lines_only(cnn_run):
    """No TensorFlow C++ lines (`I0000 ... port.cc]`, `E0000 ... node_def_util.cc]`) and no Keras progress bars."""
    lines = (cnn_run.parent / "output.txt").read_text().splitlines()
    assert lines and all(line.startswith("trainer: ") for line in lines), "\n".join(lines)
    epochs = [line for line in lines if line.startswith("trainer: epoch ")]
    assert len(epochs) == 1 and re.fullmatch(r"trainer: epoch 1/1 in [\d.]+ s: loss [\d.]+, accuracy [\d.]+, "
                                             r"val_loss [\d.]+, val_accuracy [\d.]+", epochs[0])  # fmt: skip


def test_verbose_shows_tensorflows_own_lines_and_keras_progress(cnn_verbose_run):
    # After the verbose run TensorFlow's C++ logger prints a line it prints on every machine (what its import
    # logs varies with the CPU): the trainer's --verbose left its logging on and unfiltered.
    stdout, stderr = (cnn_verbose_run / "stdout.txt").read_text(), (cnn_verbose_run / "stderr.txt").read_text()
    assert (cnn_verbose_run / "returncode.txt").read_text() == "0", stderr[-2000:]
    assert re.search(r"^I\d{4} .* logging_ops\.cc:\d+\] provoked by the test$", stderr, re.MULTILINE), stderr[-2000:]
    metrics = json.loads((cnn_verbose_run / "model" / "metrics.json").read_text())
    steps = -(-metrics["train_examples"] // metrics["hyperparameters"]["batch_size"])  # 4,000 digits, batches of 64
    assert re.search(rf"^{steps}/{steps} - .* - accuracy: ", stdout, re.MULTILINE)  # Keras' own line
    assert "trainer: epoch " not in stdout


@pytest.mark.slow
def test_invalid_hyperparameters_are_refused(tmp_path):
    result = run_trainer("--dataset", "mnist-sample", "--epochs", "0", "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 1 and "epochs and batch size must be >= 1" in result.stderr
    assert "Traceback" not in result.stderr
