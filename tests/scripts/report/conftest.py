"""The report's inputs: two real metrics.json files, from the shared `trained_model_dir` (baseline, 3 epochs)
and a second real run (baseline, 1 epoch, another learning rate), so numbers, deltas and the
hyperparameter diff are real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import baseline_once
from tests.support import tiers


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


def table_row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the Markdown table row that starts with `first_cell`."""
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]
