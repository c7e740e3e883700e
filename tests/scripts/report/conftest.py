"""The report's inputs: two real metrics.json files, from the shared `trained_model_dir` (baseline, 3 epochs)
and a second real run (baseline, 1 epoch, another learning rate), so numbers, deltas and the
hyperparameter diff are real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import tiers
from tests.support.training import baseline_once


@pytest.fixture(scope="session")
@tiers.slow
def production_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second real training run, different enough from the candidate to show deltas."""
    return baseline_once(tmp_path_factory, "report-production", "--epochs", "1", "--learning-rate", "0.01")


@pytest.fixture(scope="session")
def candidate(trained_model_dir: Path) -> dict[str, Any]:
    return json.loads((trained_model_dir / "metrics.json").read_text())


@pytest.fixture(scope="session")
def production(production_model_dir: Path) -> dict[str, Any]:
    return json.loads((production_model_dir / "metrics.json").read_text())
