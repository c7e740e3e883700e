"""Models the real trainer trained once per session (one written through $AIP_MODEL_DIR as Vertex does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.once import built_once
from tests.support.training import train_baseline_run, train_cnn_run, train_cnn_verbose_run


@pytest.fixture(scope="session")
@tiers.slow
def baseline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The walkthrough's dense model, 8 epochs on mnist-sample, exported to AIP_MODEL_DIR."""
    return built_once(tmp_path_factory, "trainer-baseline", train_baseline_run) / "model"


@pytest.fixture(scope="session")
def baseline_metrics(baseline_run: Path) -> dict:
    return json.loads((baseline_run / "metrics.json").read_text())


@pytest.fixture(scope="session")
@tiers.slow
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default convnet, one epoch: what production serves, with batch norm and dropout in the graph.
    What it printed is kept beside the model, in output.txt (stdout, then stderr)."""
    return built_once(tmp_path_factory, "trainer-cnn", train_cnn_run) / "model"


@pytest.fixture(scope="session")
@tiers.slow
def cnn_verbose_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cnn_run's training again, in a second process, with --verbose: what it printed (returncode.txt,
    stdout.txt, stderr.txt) beside its model/. --verbose changes what is printed, not what is trained, so its
    metrics are the same seed's second run."""
    return built_once(tmp_path_factory, "trainer-cnn-verbose", train_cnn_verbose_run)
