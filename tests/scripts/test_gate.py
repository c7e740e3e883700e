"""scripts/gate.py: the decision table, and the step against real training runs on vertex-local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_config import Gate, load_config
from scripts import cloud, gate, registry
from scripts.run_metrics import Metrics, fmt
from tests.conftest import VertexLocal
from tests.scripts.conftest import Names, TrainedRun, register_run, step

GATE = Gate(min_accuracy=0.97, max_drop=0.005)


def metrics(accuracy: float) -> Metrics:
    return Metrics(accuracy=accuracy, loss=0.1, model_dir="gs://b/m")


@pytest.mark.parametrize(
    ("candidate", "production", "passed", "required", "reason"),
    [
        (0.981, None, True, 0.97, "accuracy 0.981 >= minimum 0.970 (no production model yet)"),
        (0.962, None, False, 0.97, "accuracy 0.962 < minimum 0.970"),
        (0.962, 0.95, False, 0.97, "accuracy 0.962 < minimum 0.970"),
        (0.981, 0.978, True, 0.973, "accuracy 0.981 >= minimum 0.970 and >= production 0.978 - 0.005"),
        (0.975, 0.990, False, 0.985, "accuracy 0.975 < production 0.990 - 0.005 = 0.985"),
        (0.973, 0.978, True, 0.973, "accuracy 0.973 >= minimum 0.970 and >= production 0.978 - 0.005"),
        (0.9729, 0.978, False, 0.973, "accuracy 0.9729 < production 0.978 - 0.005 = 0.973"),
        (0.97, 0.96, True, 0.97, "accuracy 0.970 >= minimum 0.970 and >= production 0.960 - 0.005"),
        (0.9699, 0.96, False, 0.97, "accuracy 0.9699 < minimum 0.970"),
    ],
)
def test_decide_passes_only_above_both_the_minimum_and_production_minus_the_allowed_drop(
    candidate: float, production: float | None, passed: bool, required: float, reason: str
) -> None:
    verdict = gate.decide(metrics(candidate), metrics(production) if production is not None else None, GATE)
    assert (verdict.passed, verdict.reason) == (passed, reason)
    assert verdict.required_accuracy == pytest.approx(required)


def test_the_gate_passes_a_good_first_run_and_writes_its_verdict(
    names: Names, run_a: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    result = step(gate.main, "--model-dir", run_a.model_dir, "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is True and verdict["production"] is None
    assert verdict["candidate"]["accuracy"] == run_a.accuracy
    assert verdict["thresholds"] == {"min_accuracy": 0.8, "max_drop": 0.005, "required_accuracy": 0.8}
    assert json.loads((tmp_path / "candidate_metrics.json").read_text())["git_sha"] == run_a.git_sha
    assert not (tmp_path / "production_metrics.json").exists()
    assert f"passed=true\naccuracy={run_a.accuracy}\n" in (tmp_path / "github_output").read_text()
    assert "### Gate passed" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_threshold_above_reach_fails_with_the_reason_and_exit_1(
    names: Names, run_a: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    argv = ["--model-dir", run_a.model_dir, "--out-dir", str(tmp_path)]
    if how == "flag":
        argv += ["--min-accuracy", "0.999"]
    else:
        monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", "0.999")
    result = step(gate.main, *argv)
    assert result.status == 1
    assert result.stderr == f"gate: accuracy {fmt(run_a.accuracy)} < minimum 0.999\n"
    assert json.loads((tmp_path / "gate.json").read_text())["passed"] is False


def test_missing_metrics_fail_closed(names: Names, pipeline_env: VertexLocal, tmp_path: Path) -> None:
    model_dir = f"gs://{pipeline_env.bucket}/runs/never-trained/model"
    result = step(gate.main, "--model-dir", model_dir, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr == f"gate: fails closed: {model_dir}/metrics.json not found\n"
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["candidate"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{accuracy: 0.99", "is not valid JSON"),
        ('{"schema_version": 1, "accuracy": "0.99"}', "is not a number"),
    ],
)
def test_corrupt_metrics_in_the_bucket_fail_closed(
    names: Names, pipeline_env: VertexLocal, tmp_path: Path, content: str, message: str
) -> None:
    model_dir = f"gs://{pipeline_env.bucket}/runs/{names.model}/model"
    cloud.write_text(f"{model_dir}/metrics.json", content, cloud.storage_client(load_config()))
    result = step(gate.main, "--model-dir", model_dir, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith(f"gate: fails closed: {model_dir}/metrics.json") and message in result.stderr


def test_a_local_metrics_file_is_accepted(names: Names, run_a: TrainedRun, tmp_path: Path) -> None:
    local = tmp_path / "model"
    local.mkdir()
    data = cloud.read_json(f"{run_a.model_dir}/metrics.json", cloud.storage_client(load_config()))
    (local / "metrics.json").write_text(json.dumps(data))
    result = step(gate.main, "--model-dir", str(local), "--out-dir", str(tmp_path / "out"))
    assert result.status == 0, result.stderr
    assert f"candidate accuracy {fmt(run_a.accuracy)}" in result.stdout


def test_production_without_readable_metrics_fails_closed(
    names: Names, run_a: TrainedRun, pipeline_env: VertexLocal, tmp_path: Path
) -> None:
    client = cloud.storage_client(load_config())
    bucket = client.bucket(pipeline_env.bucket)
    _, prefix = cloud.split_gs_uri(run_a.model_dir)
    copy_prefix = f"runs/{names.model}/model"
    for blob in list(client.list_blobs(bucket, prefix=f"{prefix}/")):
        copied = bucket.blob(f"{copy_prefix}/{blob.name.removeprefix(prefix + '/')}")
        copied.upload_from_string(blob.download_as_bytes())
    production_dir = f"gs://{pipeline_env.bucket}/{copy_prefix}"
    register_run(TrainedRun("d" * 40, production_dir, run_a.accuracy), str(tmp_path / "register"))
    model = registry.find_model(names.model)
    registry.move_alias(registry.get_version(model.resource_name, "1"), registry.PRODUCTION)
    bucket.blob(f"{copy_prefix}/metrics.json").delete()

    result = step(gate.main, "--model-dir", run_a.model_dir, "--out-dir", str(tmp_path))

    assert result.status == 1
    assert result.stderr == f"gate: fails closed: {production_dir}/metrics.json not found\n"
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["candidate"]["accuracy"] == run_a.accuracy
