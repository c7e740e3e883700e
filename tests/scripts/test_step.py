"""scripts/step_core.py: the cloud steps' flags, config and known errors on top of scripts/core/step_runner.py."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as google_exceptions

from pipeline_config import ConfigError, load_config
from scripts import deploy
from scripts.core import step as step_core
from scripts.core.step import StepResult
from tests.support.pipeline_steps import step
from tests.support.vertex_local_server import free_port

STEPS = ("submit_training", "gate", "register", "deploy", "rollback", "smoke_test", "demo")
REQUIRED_ARGS = {  # what each step needs besides its config to get as far as reading it
    "submit_training": ["--git-sha", "a" * 40],
    "register": ["--git-sha", "a" * 40],
    "deploy": ["--version", "1"],
    "rollback": ["--version", "1"],
}


def run_body(body, argv: list[str], environ: dict[str, str] | None = None) -> step_core.Outcome:
    parser = step_core.add_common_flags(argparse.ArgumentParser(prog="python -m scripts.example"))
    parser.add_argument("--count", type=int)
    return step_core.run_step("example", parser, body, argv, {} if environ is None else environ)


def test_a_config_error_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        load_config(args.profile, {"PIPELINE_GATE_MIN_ACCURACY": "high"})
        return StepResult()

    assert run_body(body, ["--profile", "local"]).status == 2
    assert "PIPELINE_GATE_MIN_ACCURACY='high'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (google_exceptions.NotFound("model 42 not found"), 1, "example: Google API: 404 model 42 not found\n"),
        (requests.exceptions.ConnectionError("refused"), 1,
         "example: cannot reach the service (refused); for vertex-local, is it running?\n"),
        (ConfigError("gate.alpha = 2: expected 0 < alpha < 1"), 2,
         "example: config: gate.alpha = 2: expected 0 < alpha < 1\n"),
        (step_core.StepError("accuracy 0.5 < minimum 0.9"), 1, "example: accuracy 0.5 < minimum 0.9\n"),
    ],
)  # fmt: skip
def test_the_cloud_and_config_errors_are_one_line_with_their_exit_status(
    error: Exception, status: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        raise error

    assert run_body(body, []) == step_core.Outcome(status, None)
    assert capsys.readouterr().err == line


@pytest.mark.parametrize("name", STEPS)
def test_every_step_has_build_parser_with_profile_and_out_dir_and_a_main(name: str) -> None:
    module = importlib.import_module(f"scripts.{name}")
    actions = {action.dest: action.default for action in module.build_parser()._actions}
    assert actions["profile"] is None  # resolved by load_config: $PIPELINE_PROFILE, else local
    assert actions["out_dir"] == "out"
    assert module.main(["--help"]) == 0


def test_the_model_dir_comes_from_the_flag_else_from_submit_training_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--model-dir"):
        step_core.trained_model_dir(None, str(tmp_path))
    (tmp_path / "submit_training.json").write_text(json.dumps({"model_dir": "gs://b/runs/x/model"}))
    assert step_core.trained_model_dir(None, str(tmp_path)) == "gs://b/runs/x/model"
    assert step_core.trained_model_dir("gs://b/other/model/", str(tmp_path)) == "gs://b/other/model"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PIPELINE_VERTEX_CREDENTIALS", "oauth", "vertex.credentials = 'oauth'"),
        ("PIPELINE_VERTEX_STAGING_BUCKET", "local-bucket", "vertex.staging_bucket = 'local-bucket'"),
    ],
)
def test_step_config_rejects_values_the_steps_cannot_use(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        step_core.load_step_config("local", {variable: value})


def test_an_unreachable_service_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens
    result = step(deploy.main, "--version", "1", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("deploy: cannot reach the service (") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", STEPS)
@pytest.mark.parametrize("text", ["nan", "inf"])
def test_a_threshold_that_is_not_a_number_stops_every_step_with_exit_2_and_one_line(
    name: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PIPELINE_GATE_MIN_ACCURACY=nan once let the gate pass any model (nan compares false)."""
    monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", text)
    module = importlib.import_module(f"scripts.{name}")  # by name: none of them gets past its config
    result = step(module.main, *REQUIRED_ARGS.get(name, []), "--out-dir", str(tmp_path))
    assert result.status == 2
    assert result.stderr == f"{name}: config: gate.min_accuracy = {float(text)!r}: expected a finite number\n"
    assert list(tmp_path.iterdir()) == []  # nothing written
