"""A model the real trainer trained once per session, written through $AIP_MODEL_DIR as Vertex does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.once import built_once

REPO = Path(__file__).resolve().parents[2]


def run_trainer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m trainer.task ARGS` in a subprocess, as the Makefile and the custom job run it."""
    return subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
@tiers.slow
def baseline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The walkthrough's dense model, 8 epochs on mnist-sample, exported to AIP_MODEL_DIR."""
    return built_once(tmp_path_factory, "trainer-baseline", train_baseline_run) / "model"


def train_baseline_run(folder: Path) -> None:
    model_dir = folder / "model"
    result = run_trainer(
        "--dataset",
        "mnist-sample",
        "--model",
        "baseline",
        "--epochs",
        "8",
        "--git-sha",
        "abc1234",
        "--model-dir",
        "/nonexistent/ignored-because-AIP_MODEL_DIR-wins",
        env={"AIP_MODEL_DIR": str(model_dir)},
    )
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="session")
def baseline_metrics(baseline_run: Path) -> dict:
    return json.loads((baseline_run / "metrics.json").read_text())


@pytest.fixture(scope="session")
@tiers.slow
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default convnet, one epoch: what production serves, with batch norm and dropout in the graph.
    What it printed is kept beside the model, in output.txt (stdout, then stderr)."""
    return built_once(tmp_path_factory, "trainer-cnn", train_cnn_run) / "model"


def train_cnn_run(folder: Path) -> None:
    flags = ("--dataset", "mnist-sample", "--model", "cnn", "--epochs", "1", "--seed", "3")
    result = run_trainer(*flags, "--model-dir", str(folder / "model"))
    assert result.returncode == 0, result.stderr[-2000:]
    (folder / "output.txt").write_text(result.stdout + result.stderr)
