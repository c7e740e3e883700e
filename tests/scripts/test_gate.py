"""scripts/gate.py: the decision table, and the step on real models trained on the sample, against vertex-local.

Production is run_a (baseline, 3 epochs) throughout; the candidates are real runs of the trainer: run_a itself,
1 and 2 epochs of the same settings, and the same settings without any 3 in the training digits.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from pipeline_config import Gate, load_config
from scripts import gate
from scripts.core import cloud, registry
from scripts.core.run_metrics import fmt
from tests.support.pipeline_steps import Names, StepRun, TrainedRun, gate_run, offline, promote, register_run, step
from tests.support.vertex_local_server import VertexLocal

GATE = Gate(min_accuracy=0.97, max_drop=0.005, alpha=0.05, max_latency_ratio=0.0)
NAN = math.nan


def champion(accuracy: float, p_value: float, latency_ratio: float | None = None) -> gate.Champion:
    return gate.Champion(accuracy=accuracy, p_value=p_value, digits=1000, latency_ratio=latency_ratio)


@pytest.mark.parametrize(
    ("accuracy", "production", "thresholds", "passed", "rule", "required"),
    [
        (0.981, None, GATE, True, "first_release", 0.97),
        (0.962, None, GATE, False, "min_accuracy", 0.97),
        (0.962, champion(0.95, 1.0), GATE, False, "min_accuracy", 0.97),
        (0.981, champion(0.978, 0.6), GATE, True, "not_worse", 0.973),
        (0.973, champion(0.978, 0.01), GATE, True, "not_worse", 0.973),  # exactly max_drop below: not "more than"
        (0.975, champion(0.990, 0.001), GATE, False, "significant_drop", 0.985),
        (0.975, champion(0.990, 0.2), GATE, True, "within_noise", 0.985),
        (0.975, champion(0.990, 0.05), GATE, True, "within_noise", 0.985),  # p = alpha is not significant
        (0.99, champion(0.99, 1.0, 1.4), Gate(0.97, 0.005, 0.05, 1.5), True, "not_worse", 0.985),
        (0.99, champion(0.99, 1.0, 1.6), Gate(0.97, 0.005, 0.05, 1.5), False, "max_latency_ratio", 0.985),
        (0.99, champion(0.99, 1.0, 9.0), GATE, True, "not_worse", 0.985),  # max_latency_ratio 0 = off
        # Nothing non-finite passes: thresholds, accuracies, p-values, timing ratios.
        (0.10, None, Gate(NAN, 0.005, 0.05, 0.0), False, "thresholds", NAN),
        (0.10, champion(0.99, 1e-9), Gate(0.5, NAN, 0.05, 0.0), False, "thresholds", 0.5),
        (0.10, champion(0.99, 1e-9), Gate(0.5, 0.005, NAN, 0.0), False, "thresholds", 0.5),
        (0.99, champion(0.99, 1.0, 2.0), Gate(0.5, 0.005, 0.05, NAN), False, "thresholds", 0.5),
        (0.99, champion(0.99, 1.0, 2.0), Gate(0.5, 0.005, 0.05, math.inf), False, "thresholds", 0.5),
        (NAN, None, GATE, False, "min_accuracy", 0.97),
        (0.975, champion(0.990, NAN), GATE, False, "fails_closed", 0.97),
        (0.975, champion(NAN, 1.0), GATE, False, "fails_closed", 0.97),
        (0.99, champion(0.99, 1.0, NAN), Gate(0.5, 0.005, 0.05, 1.5), False, "max_latency_ratio", 0.985),
    ],
)
def test_decide_fails_on_the_minimum_or_a_significant_drop_and_never_on_a_nan(
    accuracy: float, production: gate.Champion | None, thresholds: Gate, passed: bool, rule: str, required: float
) -> None:
    verdict = gate.decide(accuracy, production, thresholds)
    assert (verdict.passed, verdict.rule) == (passed, rule), verdict.reason
    assert verdict.required_accuracy == pytest.approx(required, nan_ok=True)


@pytest.mark.parametrize(
    ("accuracy", "production", "reason"),
    [
        (0.962, None, "accuracy 0.962 < minimum 0.970"),
        (0.981, None, "accuracy 0.981 >= minimum 0.970 (no production model yet)"),
        (
            0.975,
            champion(0.990, 0.0004),
            "accuracy 0.975 < production 0.990 - 0.005 on the same 1000 digits, "
            "and significantly so (McNemar p = 4.0e-04 < alpha 0.05)",
        ),
        (
            0.975,
            champion(0.990, 0.31),
            "accuracy 0.975 < production 0.990 - 0.005 on the same 1000 digits, but within noise "
            "(McNemar p = 0.310 >= alpha 0.05)",
        ),
        (
            0.981,
            champion(0.978, 1.0),
            "accuracy 0.981 >= minimum 0.970 and >= production 0.978 - 0.005 on the same 1000 digits "
            "(McNemar p = 1.000)",
        ),
    ],
)
def test_the_reason_names_the_rule_that_decided_and_both_figures(
    accuracy: float, production: gate.Champion | None, reason: str
) -> None:
    assert gate.decide(accuracy, production, GATE).reason == reason


def test_the_first_run_passes_says_there_is_no_production_and_writes_its_verdict(
    names: Names, run_a: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    result = step(gate.main, "--model-dir", run_a.model_dir, "--out-dir", str(tmp_path))
    assert result.status == 0, result.stderr
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is True and verdict["rule"] == "first_release" and verdict["production"] is None
    assert verdict["comparison"] is None and verdict["test_split"]["digits"] == 1000
    assert verdict["candidate"]["accuracy"] == verdict["candidate"]["recorded_accuracy"] == run_a.accuracy
    assert verdict["candidate"]["cost"]["parameters"] == 28 * 28 * 128 + 128 + 128 * 10 + 10  # the dense baseline
    assert verdict["thresholds"] == {
        "min_accuracy": 0.8,
        "max_drop": 0.005,
        "alpha": 0.05,
        "max_latency_ratio": 0.0,
        "required_accuracy": 0.8,
    }
    assert json.loads((tmp_path / "candidate_metrics.json").read_text())["git_sha"] == run_a.git_sha
    assert not (tmp_path / "production_metrics.json").exists()
    assert f"passed=true\naccuracy={run_a.accuracy}\nrule=first_release\n" in (tmp_path / "github_output").read_text()
    assert "### Gate passed" in (tmp_path / "summary.md").read_text()
    assert "gate: PASSED: accuracy" in result.stdout and "(no production model yet)" in result.stdout


def test_a_candidate_identical_to_production_passes_with_p_1(
    production_a: Names, run_a: TrainedRun, tmp_path: Path
) -> None:
    result, verdict = gate_run(production_a, run_a.model_dir, tmp_path)
    assert result.status == 0, result.stderr
    comparison = verdict["comparison"]
    assert (comparison["production_only_right"], comparison["candidate_only_right"], comparison["p_value"]) == (0, 0, 1)
    assert comparison["digits"] == 1000 and comparison["flagged_classes"] == []
    assert verdict["production"]["accuracy"] == verdict["candidate"]["accuracy"] == run_a.accuracy
    assert verdict["production"]["same_test_split"] is True and verdict["rule"] == "not_worse"
    assert verdict["cost_ratio"]["parameters"] == verdict["cost_ratio"]["saved_model_bytes"] == 1.0
    assert "McNemar exact p = 1.000" in result.stdout


def test_a_worse_candidate_fails_on_a_significant_drop(paired_gate: tuple[StepRun, Path], run_a: TrainedRun) -> None:
    result, out_dir = paired_gate
    verdict = json.loads((out_dir / "gate.json").read_text())
    comparison = verdict["comparison"]
    assert result.status == 1 and verdict["passed"] is False and verdict["rule"] == "significant_drop"
    assert verdict["candidate"]["accuracy"] < run_a.accuracy - 0.005
    assert comparison["p_value"] < 0.05
    assert comparison["production_only_right"] > comparison["candidate_only_right"]
    b, c = comparison["production_only_right"], comparison["candidate_only_right"]
    assert verdict["production"]["accuracy"] - verdict["candidate"]["accuracy"] == pytest.approx((b - c) / 1000)
    assert result.stderr == f"gate: {verdict['reason']}\n" and "significantly so (McNemar p = " in result.stderr
    regressions = json.loads((out_dir / "gate_regressions.json").read_text())
    assert regressions["total"] == b and len(regressions["digits"]) == min(b, 32)


def test_a_lower_candidate_within_noise_passes_where_raw_accuracy_would_fail(
    production_a: Names, run_a: TrainedRun, two_epoch_run: TrainedRun, tmp_path: Path
) -> None:
    result, verdict = gate_run(production_a, two_epoch_run.model_dir, tmp_path)
    assert result.status == 0, result.stderr
    candidate, production = verdict["candidate"]["accuracy"], verdict["production"]["accuracy"]
    assert candidate < production - 0.005, "the old rule (accuracy >= production - max_drop) fails it"
    assert verdict["comparison"]["p_value"] >= 0.05
    assert verdict["passed"] is True and verdict["rule"] == "within_noise" and "but within noise" in verdict["reason"]


def test_per_class_flags_name_the_class_a_model_never_saw(
    production_a: Names, no_three_run: TrainedRun, tmp_path: Path
) -> None:
    result, verdict = gate_run(production_a, no_three_run.model_dir, tmp_path)
    assert result.status == 1
    comparison = verdict["comparison"]
    assert comparison["flagged_classes"] == [3] and comparison["correction"] == "Benjamini-Hochberg"
    three = comparison["per_class"][3]
    assert three["candidate_accuracy"] == 0.0 and three["p_adjusted"] < 0.05 and three["flagged"] is True
    assert verdict["test_split"]["dataset"].endswith("no-three.npz")
    assert "dropped significantly: 3" in result.stdout
    assert comparison["confused_pairs"][0]["true"] == 3  # the most frequent new mistake is a 3


def test_a_slower_candidate_fails_when_a_latency_ratio_is_set(
    production_a: Names, run_a: TrainedRun, tmp_path: Path
) -> None:
    result, verdict = gate_run(production_a, run_a.model_dir, tmp_path, "--max-latency-ratio", "0.01")
    assert result.status == 1 and verdict["rule"] == "max_latency_ratio"
    ratios = verdict["cost_ratio"]
    assert ratios["ms_per_image_batch_1"] > 0.01 and ratios["ms_per_image_batch_64"] > 0.01
    assert result.stderr.startswith("gate: inference time per image x") and "> max_latency_ratio 0.01" in result.stderr


def copy_run(run: TrainedRun, client, bucket_name: str, prefix: str) -> str:
    """A copy of a run's model dir under another gs:// prefix, to break without touching the shared run."""
    bucket = client.bucket(bucket_name)
    _, source = cloud.split_gs_uri(run.model_dir)
    for blob in list(client.list_blobs(bucket, prefix=f"{source}/")):
        bucket.blob(f"{prefix}/{blob.name.removeprefix(source + '/')}").upload_from_string(blob.download_as_bytes())
    return f"gs://{bucket_name}/{prefix}"


@pytest.mark.parametrize("damage", ["no saved_model.pb", "garbage saved_model.pb"])
def test_production_that_cannot_be_loaded_fails_closed_with_one_line(
    names: Names, run_a: TrainedRun, pipeline_env: VertexLocal, tmp_path: Path, damage: str
) -> None:
    client = cloud.storage_client(load_config())
    production_dir = copy_run(run_a, client, pipeline_env.bucket, f"runs/{names.model}/model")
    promote(TrainedRun("d" * 40, production_dir, run_a.accuracy), names, str(tmp_path / "register"))
    blob = client.bucket(pipeline_env.bucket).blob(f"runs/{names.model}/model/saved_model.pb")
    blob.delete() if damage == "no saved_model.pb" else blob.upload_from_string(b"not a protobuf")

    result = step(gate.main, "--model-dir", run_a.model_dir, "--out-dir", str(tmp_path))

    assert result.status == 1
    assert result.stderr.startswith(f"gate: fails closed: production v1's SavedModel at {production_dir} cannot be")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["rule"] == "fails_closed" and verdict["comparison"] is None


def test_production_without_readable_metrics_fails_closed(
    names: Names, run_a: TrainedRun, pipeline_env: VertexLocal, tmp_path: Path
) -> None:
    client = cloud.storage_client(load_config())
    production_dir = copy_run(run_a, client, pipeline_env.bucket, f"runs/{names.model}/model")
    register_run(TrainedRun("d" * 40, production_dir, run_a.accuracy), str(tmp_path / "register"))
    model = registry.find_model(names.model)
    registry.move_alias(registry.get_version(model.resource_name, "1"), registry.PRODUCTION)
    client.bucket(pipeline_env.bucket).blob(f"runs/{names.model}/model/metrics.json").delete()

    result = step(gate.main, "--model-dir", run_a.model_dir, "--out-dir", str(tmp_path))

    assert result.status == 1
    assert result.stderr == f"gate: fails closed: {production_dir}/metrics.json not found\n"
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["candidate"]["accuracy"] == run_a.accuracy


def test_a_candidate_whose_test_split_is_not_the_recorded_one_fails_closed(
    production_a: Names, one_epoch_run: TrainedRun, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(one_epoch_run.model_dir, model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    metrics["hyperparameters"]["seed"] = 7  # another seed draws another 1,000 test digits from the sample
    (model_dir / "metrics.json").write_text(json.dumps(metrics))
    result, verdict = gate_run(production_a, str(model_dir), tmp_path / "out")
    assert result.status == 1 and verdict["rule"] == "fails_closed"
    assert result.stderr.startswith("gate: fails closed: the test split rebuilt from mnist-sample (seed 7) has ")
    assert "not the digits it was evaluated on" in result.stderr


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


def test_corrupt_metrics_in_the_bucket_fail_closed(names: Names, pipeline_env: VertexLocal, tmp_path: Path) -> None:
    model_dir = f"gs://{pipeline_env.bucket}/runs/{names.model}/model"
    cloud.write_text(f"{model_dir}/metrics.json", "{accuracy: 0.99", cloud.storage_client(load_config()))
    result = step(gate.main, "--model-dir", model_dir, "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith(f"gate: fails closed: {model_dir}/metrics.json is not valid JSON")


def test_a_local_model_dir_is_accepted(names: Names, one_epoch_run: TrainedRun, tmp_path: Path) -> None:
    result = step(gate.main, "--model-dir", one_epoch_run.model_dir, "--out-dir", str(tmp_path / "out"))
    assert result.status == 0, result.stderr
    assert f"candidate accuracy {fmt(one_epoch_run.accuracy)} ({one_epoch_run.model_dir})" in result.stdout


GOOD = {
    "schema_version": 1,
    "accuracy": 0.9,
    "loss": 0.3,
    "dataset": "mnist-sample",
    "hyperparameters": {"seed": 42},
    "test_fingerprint": "sha256:" + "0" * 64,
    "test_examples": 1000,
}


def with_field(key: str, value: str) -> str:
    """GOOD as JSON text with one field's value spelt out raw (so that NaN, 1e400 or huge integers survive)."""
    fields = {k: json.dumps(v) for k, v in GOOD.items() if k != key}
    if value is not None:
        fields[key] = value
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


MALFORMED_METRICS = [
    ("empty", b"", "is not valid JSON"),
    ("truncated", b'{"schema_version": 1, "accuracy": 0.9', "is not valid JSON"),
    ("not UTF-8", b'{"accuracy": "\xff\xfe"}', "is not valid JSON"),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    ("an object nested 100,000 deep", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "is not valid JSON"),
    ("an integer of 5,000 digits", with_field("accuracy", "9" * 5000).encode(), "is not valid JSON"),
    ("null", b"null", "is not a schema_version 1 metrics object"),
    ("a list", b"[0.9]", "is not a schema_version 1 metrics object"),
    ("a string", b'"metrics"', "is not a schema_version 1 metrics object"),
    ("no schema_version", with_field("schema_version", None).encode(), "is not a schema_version 1"),
    ("schema_version 2", with_field("schema_version", "2").encode(), "is not a schema_version 1"),
    ("schema_version true", with_field("schema_version", "true").encode(), "is not a schema_version 1"),
    ("accuracy 1e400 as an integer", with_field("accuracy", "1" + "0" * 400).encode(), "accuracy = 1000"),
    ("accuracy 1e400", with_field("accuracy", "1e400").encode(), "accuracy = inf is not a finite number"),
    ("accuracy NaN", with_field("accuracy", "NaN").encode(), "accuracy = nan is not a finite number"),
    ("accuracy -Infinity", with_field("accuracy", "-Infinity").encode(), "accuracy = -inf is not a finite"),
    ("accuracy a string", with_field("accuracy", '"0.9"').encode(), "accuracy = '0.9' is not a finite"),
    ("accuracy true", with_field("accuracy", "true").encode(), "accuracy = True is not a finite"),
    ("accuracy null", with_field("accuracy", "null").encode(), "accuracy = None is not a finite"),
    ("accuracy missing", with_field("accuracy", None).encode(), "accuracy = None is not a finite"),
    (
        "accuracy a deep list",
        with_field("accuracy", "[" * 500 + "]" * 500).encode(),
        "accuracy = [[[...]]] is not a finite number",
    ),
    ("accuracy a long string", with_field("accuracy", json.dumps("x" * 100_000)).encode(), "is not a finite"),
    ("accuracy 98.1", with_field("accuracy", "98.1").encode(), "accuracy = 98.1 is outside [0, 1]"),
    ("accuracy -0.1", with_field("accuracy", "-0.1").encode(), "accuracy = -0.1 is outside [0, 1]"),
    ("loss Infinity", with_field("loss", "Infinity").encode(), "loss = inf is not a finite number"),
    ("loss negative", with_field("loss", "-1").encode(), "loss = -1 is negative"),
    ("dataset missing", with_field("dataset", None).encode(), "dataset = None is not a dataset"),
    ("dataset a number", with_field("dataset", "7").encode(), "dataset = 7 is not a dataset"),
    ("no hyperparameters", with_field("hyperparameters", None).encode(), "hyperparameters.seed = None"),
    ("seed a string", with_field("hyperparameters", '{"seed": "42"}').encode(), "hyperparameters.seed = '42'"),
    ("seed true", with_field("hyperparameters", '{"seed": true}').encode(), "hyperparameters.seed = True"),
    ("seed negative", with_field("hyperparameters", '{"seed": -1}').encode(), "hyperparameters.seed = -1"),
    ("seed 2**40", with_field("hyperparameters", '{"seed": 1099511627776}').encode(), "not a seed"),
    ("no test_fingerprint", with_field("test_fingerprint", None).encode(), "test_fingerprint = None is not"),
    ("a short fingerprint", with_field("test_fingerprint", '"sha256:abc"').encode(), "test_fingerprint = 'sha"),
    ("test_examples 0", with_field("test_examples", "0").encode(), "test_examples = 0 is not a positive count"),
]


@pytest.mark.parametrize(("content", "message"), [case[1:] for case in MALFORMED_METRICS],
                         ids=[case[0] for case in MALFORMED_METRICS])  # fmt: skip
def test_every_malformed_metrics_file_gets_one_clear_line_exit_1_and_a_gate_json(
    content: bytes, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    model_dir, out_dir = tmp_path / "model", tmp_path / "out"
    model_dir.mkdir()
    (model_dir / "metrics.json").write_bytes(content)
    result = step(gate.main, "--model-dir", str(model_dir), "--out-dir", str(out_dir))
    assert result.status == 1
    assert result.stderr.startswith(f"gate: fails closed: {model_dir}/metrics.json") and message in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 400, result.stderr[:1000]
    verdict = json.loads((out_dir / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["rule"] == "fails_closed"
    assert verdict["reason"] == result.stderr.removeprefix("gate: ").rstrip("\n")
