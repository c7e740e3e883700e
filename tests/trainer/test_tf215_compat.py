"""Vertex's newest prebuilt TF serving image runs TF 2.15: our TF 2.21 export must give the same answers there."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.support.tf215 import tf215_python
from tests.support.vertex_local_server import REPO_ROOT
from trainer.data import load_dataset

# live and slow: it trains through the fixture it asks for by name (getfixturevalue), which no closure shows
pytestmark = [pytest.mark.tf215, pytest.mark.live, pytest.mark.slow]


@pytest.mark.parametrize("run", ["baseline_run", "cnn_run"])
def test_tf215_gives_the_same_probabilities_as_tf221(run, request, tmp_path):
    import tensorflow as tf

    model_dir = request.getfixturevalue(run)

    _, (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    digits = x_test[:64]
    np.save(tmp_path / "digits.npy", digits)
    result = subprocess.run(
        [
            str(tf215_python()),
            str(REPO_ROOT / "tests/trainer/tf215_probe.py"),
            str(model_dir),
            str(tmp_path / "digits.npy"),
            str(tmp_path / "tf215.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow 2.15." in result.stdout
    under_215 = np.load(tmp_path / "tf215.npy")
    under_221 = tf.saved_model.load(str(model_dir)).signatures["serving_default"](image=tf.constant(digits))
    under_221 = under_221["probabilities"].numpy()
    assert under_215.shape == (64, 10)
    assert np.array_equal(under_215.argmax(axis=1), under_221.argmax(axis=1))
    np.testing.assert_allclose(under_215, under_221, atol=1e-5, rtol=0)
    assert (under_221.argmax(axis=1) == y_test[:64]).mean() >= 0.5  # real answers: chance would be 0.1
