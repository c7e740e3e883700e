"""scripts/batch_predict.py on vertex-local: the production version's batch job over real test digits, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scripts import batch_predict
from tests.support.pipeline_steps import Names, offline, step


def test_batch_predict_runs_the_production_version_over_test_digits(production_a: Names, monkeypatch, tmp_path):
    monkeypatch.setenv("PIPELINE_VERTEX_MODEL_DISPLAY_NAME", production_a.model)
    result = step(batch_predict.main, "--count", "20", "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    written = json.loads((tmp_path / "batch_predict.json").read_text())
    assert (written["predicted"], written["failed"]) == (20, 0)
    assert written["accuracy"] >= 0.6  # run_a scores about 0.9 on these digits; a broken label match scores ~0.1
    assert "/prediction-" in written["output"] and "JOB_STATE_SUCCEEDED" in result.stdout
    assert f"batch_predict: 20 predicted, 0 failed, accuracy {written['accuracy']}" in result.stdout


def test_an_input_that_does_not_exist_fails_the_step_in_one_line(production_a: Names, monkeypatch, tmp_path):
    monkeypatch.setenv("PIPELINE_VERTEX_MODEL_DISPLAY_NAME", production_a.model)
    missing = "gs://test-bucket/batch-nothing/none.jsonl"
    result = step(batch_predict.main, "--input", missing, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("batch_predict: job ") and f"No files found matching {missing}" in result.stderr


def test_a_count_below_one_is_a_usage_error_before_any_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    offline(monkeypatch)
    result = step(batch_predict.main, "--count", "0", "--out-dir", str(tmp_path))
    assert result.status == 2 and "--count 0" in result.stderr


def test_accuracy_matches_each_result_to_the_label_of_its_own_instance():
    images = np.stack([np.full((28, 28), 0.1), np.full((28, 28), 0.2)]).astype(np.float32)
    labels = {batch_predict.image_key(np.round(image, 6)): label for image, label in zip(images, [3, 7], strict=True)}
    lines = [json.loads(line) for line in batch_predict.instance_lines(images).splitlines()]
    right = np.eye(10)[7].tolist()
    results = [{"instance": lines[1], "prediction": right}, {"instance": lines[0], "prediction": right}]
    assert batch_predict.accuracy(results, labels) == 0.5
