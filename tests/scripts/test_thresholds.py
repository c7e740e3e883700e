"""Issue 10 item 16: no step passes on a threshold that is not a finite number, however it arrives.

The config loader refuses nan and infinities in pipeline.toml and PIPELINE_* variables (exit 2); flags reach a
step without the loader, so the steps check their own; and every comparison is written so that a nan fails.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline_config import Smoke
from scripts import deploy, gate, smoke_test
from scripts.core import probe
from scripts.core.probe import SmokeResult
from tests.support.pipeline_steps import EndpointState, Names, TrainedRun, endpoint_state, offline, register_run, step

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity"]


@pytest.mark.parametrize("flag", ["--min-accuracy", "--max-drop", "--alpha", "--max-latency-ratio"])
@pytest.mark.parametrize("value", NOT_FINITE)
def test_a_gate_flag_that_is_not_a_finite_number_is_a_usage_error(
    flag: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    offline(monkeypatch)
    status = gate.main(["--model-dir", str(tmp_path), "--out-dir", str(tmp_path / "out"), f"{flag}={value}"])
    assert status == 2
    assert f"argument {flag}: {value!r} is not a finite number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min-accuracy", "1.5"], "gate.min_accuracy = 1.5: expected 0-1"),
        (["--min-accuracy", "-0.1"], "gate.min_accuracy = -0.1: expected 0-1"),
        (["--max-drop", "2"], "gate.max_drop = 2.0: expected 0-1"),
        (["--alpha", "0"], "gate.alpha = 0.0: expected 0 < alpha < 1"),
        (["--alpha", "1"], "gate.alpha = 1.0: expected 0 < alpha < 1"),
        (["--max-latency-ratio", "-1"], "gate.max_latency_ratio = -1.0: expected >= 0 (0 = off)"),
    ],
)
def test_a_gate_threshold_out_of_its_range_is_a_config_error(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    result = step(gate.main, "--model-dir", str(tmp_path), "--out-dir", str(tmp_path / "out"), *argv)
    assert (result.status, result.stderr) == (2, f"gate: config: {message}\n")


@pytest.mark.parametrize("variable", ["GATE_MIN_ACCURACY", "GATE_MAX_DROP", "GATE_ALPHA", "GATE_MAX_LATENCY_RATIO"])
def test_a_gate_variable_that_is_nan_is_a_config_error(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    monkeypatch.setenv(f"PIPELINE_{variable}", "nan")
    result = step(gate.main, "--model-dir", str(tmp_path), "--out-dir", str(tmp_path / "out"))
    assert result.status == 2 and "expected a finite number" in result.stderr


ACCURACY_STEPS = [
    (smoke_test.main, "SMOKE_MIN_ACCURACY", []),
    (deploy.main, "SMOKE_MIN_ACCURACY", ["--git-sha", "c0ffee1"]),
    (gate.main, "GATE_MIN_ACCURACY", []),
]


@pytest.mark.parametrize("value", ["-1", "1.5"])
@pytest.mark.parametrize(("main", "variable", "argv"), ACCURACY_STEPS, ids=["smoke_test", "deploy", "gate"])
def test_an_accuracy_threshold_out_of_0_to_1_is_a_config_error_naming_the_key(
    main, variable: str, argv: list[str], value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    monkeypatch.setenv(f"PIPELINE_{variable}", value)
    result = step(main, "--out-dir", str(tmp_path / "out"), *argv)
    key, name = variable.lower().replace("_", ".", 1), main.__module__.rsplit(".", 1)[-1]
    assert (result.status, result.stderr) == (2, f"{name}: config: {key} = {float(value)!r}: expected 0-1\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("smoke", "problem"),
    [
        (Smoke(count=100, min_accuracy=math.nan, p95_latency_ms=500.0), "accuracy 0.950 < minimum nan on 100 digits"),
        (Smoke(count=100, min_accuracy=0.9, p95_latency_ms=math.nan), "p95 latency 20 ms > budget nan ms"),
        (Smoke(count=100, min_accuracy=0.0, p95_latency_ms=500.0), None),
    ],
)
def test_the_smoke_tests_comparisons_fail_on_a_nan_threshold(smoke: Smoke, problem: str | None) -> None:
    problems = probe.evaluate(SmokeResult(digits=100, correct=95, latencies_ms=[20.0]), smoke)
    assert problems == ([problem] if problem else [])


def test_a_nan_latency_figure_fails_the_smoke_test() -> None:
    smoke = Smoke(count=100, min_accuracy=0.0, p95_latency_ms=500.0)
    assert probe.evaluate(SmokeResult(digits=100, correct=100, latencies_ms=[math.nan]), smoke) == [
        "p95 latency nan ms > budget 500 ms"
    ]


@pytest.mark.parametrize("how", ["environment", "flag"])
def test_a_nan_minimum_cannot_pass_an_untrained_model_through_the_gate(
    names: Names, bad_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    argv = ["--model-dir", bad_run.model_dir, "--out-dir", str(tmp_path)]
    if how == "environment":
        monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", "nan")
    else:
        argv += ["--min-accuracy", "nan"]
    assert step(gate.main, *argv).status == 2
    assert not (tmp_path / "gate.json").exists()
    monkeypatch.delenv("PIPELINE_GATE_MIN_ACCURACY", raising=False)
    refused = step(gate.main, "--model-dir", bad_run.model_dir, "--out-dir", str(tmp_path))
    assert refused.status == 1 and refused.stderr.startswith("gate: accuracy 0.")
    assert json.loads((tmp_path / "gate.json").read_text())["rule"] == "min_accuracy"


@pytest.mark.parametrize(("variable", "value"), [("SMOKE_MIN_ACCURACY", "nan"), ("SMOKE_P95_LATENCY_MS", "inf")])
def test_a_non_finite_smoke_threshold_cannot_promote_an_untrained_model(
    names: Names, bad_run: TrainedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    register_run(bad_run, str(tmp_path / "register"))
    monkeypatch.setenv(f"PIPELINE_{variable}", value)
    result = step(deploy.main, "--git-sha", bad_run.git_sha, "--out-dir", str(tmp_path))
    assert result.status == 2 and "expected a finite number" in result.stderr
    assert endpoint_state(names) == EndpointState({}, {}, None)  # nothing deployed, no production alias
