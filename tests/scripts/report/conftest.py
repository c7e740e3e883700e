"""The report's inputs: two real metrics.json files, from the shared `trained_model_dir` (baseline, 3 epochs)
and a second real run, tests/scripts/conftest.py's `one_epoch_run` (baseline, 1 epoch), so numbers, deltas and the
hyperparameter diff are real. Both are trained once per test run and shared with the tests that gate and deploy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import tiers
from tests.support.pipeline_steps import TrainedRun


@pytest.fixture(scope="session")
@tiers.slow
def production_model_dir(one_epoch_run: TrainedRun) -> Path:
    """A second real training run, different enough from the candidate to show deltas (one epoch against three):
    the gate tests' one-epoch candidate, trained once per run, rather than a training of the report's own."""
    return Path(one_epoch_run.model_dir)


@pytest.fixture(scope="session")
def candidate(trained_model_dir: Path) -> dict[str, Any]:
    return json.loads((trained_model_dir / "metrics.json").read_text())


@pytest.fixture(scope="session")
def production(production_model_dir: Path) -> dict[str, Any]:
    return json.loads((production_model_dir / "metrics.json").read_text())
