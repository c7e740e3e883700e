"""Vertex's newest prebuilt TF serving image runs TF 2.15: our TF 2.21 export must give the same answers there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.tf215 import tf215_python
from tests.support.vertex_local_server import REPO_ROOT
from trainer.data import load_dataset

pytestmark = [pytest.mark.tf215]  # one module, so one worker (tests/support/scheduling.py): one probe for both
RUNS = ("baseline_run", "cnn_run")  # tests/trainer/conftest.py's trained models


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    _, (x_test, y_test) = load_dataset("mnist-sample", seed=42)
    return x_test[:64], y_test[:64]


@pytest.fixture(scope="module")
def under_tf215(
    baseline_run: Path, cnn_run: Path, digits: tuple[np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[np.ndarray, str]]:
    """Both models' probabilities under TensorFlow 2.15, from one interpreter (its import is most of the time),
    each with the line the probe printed for it."""
    folder = tmp_path_factory.mktemp("tf215")
    np.save(folder / "digits.npy", digits[0])
    model_dirs = {"baseline_run": baseline_run, "cnn_run": cnn_run}
    pairs = [str(word) for run in RUNS for word in (model_dirs[run], folder / f"{run}.npy")]
    result = subprocess.run(
        [str(tf215_python()), str(REPO_ROOT / "tests/trainer/tf215_probe.py"), str(folder / "digits.npy"), *pairs],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {run: line for run in RUNS for line in result.stdout.splitlines() if f" {model_dirs[run]} " in line}
    return {run: (np.load(folder / f"{run}.npy"), lines.get(run, "")) for run in RUNS}


@pytest.mark.parametrize("run", RUNS)
def test_tf215_gives_the_same_probabilities_as_tf221(
    run: str, under_tf215: dict[str, tuple[np.ndarray, str]], digits: tuple[np.ndarray, np.ndarray], request
) -> None:
    import tensorflow as tf

    model_dir = request.getfixturevalue(run)
    under_215, printed = under_tf215[run]
    assert printed.startswith("tensorflow 2.15."), printed
    x_test, y_test = digits
    under_221 = tf.saved_model.load(str(model_dir)).signatures["serving_default"](image=tf.constant(x_test))
    under_221 = under_221["probabilities"].numpy()
    assert under_215.shape == (64, 10)
    assert np.array_equal(under_215.argmax(axis=1), under_221.argmax(axis=1))
    np.testing.assert_allclose(under_215, under_221, atol=1e-5, rtol=0)
    assert (under_221.argmax(axis=1) == y_test).mean() >= 0.5  # real answers: chance would be 0.1
