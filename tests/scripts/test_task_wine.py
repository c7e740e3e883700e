"""Issue 21: a second task (tasks/wine.py: 13 numbers in, 3 classes out) through the whole pipeline on the session's
vertex-local, chosen by one variable (PIPELINE_TASK_NAME): train, gate (twice, so the second compares with
production), register, deploy with its smoke test, the walkthrough's closing call, the report, and a 400 for an
instance of the other task's shape."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from scripts import demo
from scripts.report.cli import main as report_main
from tasks.wine import TASK as WINE
from tests.support import tiers
from tests.support.pipeline_steps import set_names, step
from tests.support.vertex_local_server import VertexLocal


@pytest.fixture(scope="module")
@tiers.slow
def wine_demos(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`make demo TASK=wine` twice: the task is the only setting that changes (the model and dataset follow it)."""
    patch = pytest.MonkeyPatch()
    set_names(patch, "wine")
    patch.setenv("PIPELINE_TASK_NAME", "wine")
    for key in ("DATASET", "MODEL", "EPOCHS", "BATCH_SIZE", "LEARNING_RATE"):  # the session's MNIST baseline's
        patch.delenv(f"PIPELINE_TRAINING_{key}")
    first_out, second_out = tmp_path_factory.mktemp("wine-1"), tmp_path_factory.mktemp("wine-2")
    first = step(demo.main, "--out-dir", str(first_out))
    second = step(demo.main, "--out-dir", str(second_out))
    yield {"first": (first, first_out), "second": (second, second_out)}
    patch.undo()


def test_the_wine_task_trains_gates_deploys_and_answers_the_walkthrough_call(wine_demos: dict) -> None:
    result, out_dir = wine_demos["first"]
    assert result.status == 0, result.stderr
    closing = re.search(r"\nreal : (\d)\npredicted : (\d)\n", result.stdout)
    assert closing and closing[1] == closing[2]
    body = json.loads((out_dir / "wine.json").read_text())
    assert np.asarray(body["instances"]).shape == (1, 13)
    deployed = json.loads((out_dir / "deploy.json").read_text())
    answer = requests.post(deployed["predict_url"], json=body, timeout=30).json()
    assert len(answer["predictions"][0]) == 3 and int(np.argmax(answer["predictions"][0])) == int(closing[1])
    smoke = re.search(r"smoke_test: (\d+) digits, accuracy ([\d.]+)", result.stdout) or re.search(
        r"smoke test: \{'digits': (\d+), 'accuracy': ([\d.]+)", result.stdout
    )
    assert smoke and int(smoke[1]) == 36 and float(smoke[2]) >= 0.9  # the whole 20 % test split: 36 wines


def test_the_second_wine_run_is_gated_against_production_on_the_same_wines(wine_demos: dict) -> None:
    result, out_dir = wine_demos["second"]
    assert result.status == 0, result.stderr
    verdict = json.loads((out_dir / "gate.json").read_text())
    assert verdict["passed"] is True and verdict["production"]["version_id"] == "1"
    assert verdict["comparison"]["digits"] == 36 and len(verdict["comparison"]["per_class"]) == 3
    assert verdict["test_split"]["dataset"] == "wine"
    regressions = json.loads((out_dir / "gate_regressions.json").read_text())
    assert all("pixels" not in row for row in regressions["digits"])  # numbers, not pictures


def test_the_report_names_the_wine_classes(wine_demos: dict, tmp_path: Path) -> None:
    _, out_dir = wine_demos["second"]
    metrics = out_dir / "candidate_metrics.json"
    output, plots = tmp_path / "report.md", tmp_path / "plots"
    status = report_main(["--metrics", str(metrics), "--verdict", str(out_dir / "gate.json"),
                          "--output", str(output), "--plots-dir", str(plots)], environ={})  # fmt: skip
    assert status == 0
    report = output.read_text()
    assert "## WINE accuracy report" in report
    assert 'x-axis "class" [class_0, class_1, class_2]' in report
    assert sorted(path.name for path in plots.iterdir()) == ["per_class_accuracy.png", "training_curve.png"]


def test_an_instance_of_the_wrong_shape_gets_a_400_naming_the_tasks_shape(wine_demos: dict) -> None:
    _, out_dir = wine_demos["first"]
    deployed = json.loads((out_dir / "deploy.json").read_text())
    image = {"instances": [[[0.5] * 28] * 28]}
    answer = requests.post(deployed["predict_url"], json=image, timeout=30)
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert "each must be 13 numbers" in message
    answer = requests.post(deployed["predict_url"], json={"instances": [[0.5] * 12]}, timeout=30)
    assert answer.status_code == 400
    assert f"(shape {WINE.shape_text()}), got shape [1, 12]" in answer.json()["error"]["message"]
