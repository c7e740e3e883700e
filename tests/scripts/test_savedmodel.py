"""scripts/comparison/savedmodel.py: the gate's model loads leave the collector to TensorFlow's first import."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from native_logs import import_tensorflow
from scripts.comparison import savedmodel
from tests.support.training import untrained_baseline_once


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untrained baseline exported by another interpreter, once per run."""
    return untrained_baseline_once(tmp_path_factory)


def test_models_loaded_after_tensorflows_import_are_not_frozen(saved_model: Path) -> None:
    # This worker's own import, if no test made it yet: what an import makes is frozen, once (native_logs).
    import_tensorflow(False, {})
    frozen = gc.get_freeze_count()
    production = savedmodel.load("production", str(saved_model), Path("."), None)
    candidate = savedmodel.load("candidate", str(saved_model), Path("."), None)
    assert production.parameters == candidate.parameters > 0
    # A freeze here would keep each model's objects from the collector for as long as the process lives (frozen
    # objects freed since, TensorFlow's own, may lower the count).
    assert gc.get_freeze_count() <= frozen
