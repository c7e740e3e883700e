"""scripts/core/step.py: exit codes, the one write of a step's result, GitHub outputs, the step config."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest

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


def test_a_step_error_becomes_one_stderr_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        raise step_core.StepError("accuracy 0.962 < minimum 0.970")

    assert run_body(body, []).status == 1
    assert capsys.readouterr().err == "example: accuracy 0.962 < minimum 0.970\n"


def test_a_config_error_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        load_config(args.profile, {"PIPELINE_GATE_MIN_ACCURACY": "high"})
        return StepResult()

    assert run_body(body, ["--profile", "local"]).status == 2
    assert "PIPELINE_GATE_MIN_ACCURACY='high'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "status"), [(["--count", "x"], 2), (["--bogus"], 2), (["--help"], 0)])
def test_usage_errors_and_help_return_their_status_instead_of_raising(argv: list[str], status: int) -> None:
    assert run_body(lambda args, environ: StepResult(), argv).status == status


def test_unexpected_exceptions_keep_their_traceback() -> None:
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_body(body, [])


def test_a_result_is_written_to_out_github_output_and_the_summary_in_one_go(tmp_path: Path) -> None:
    environ = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = StepResult({"passed": True}, {"passed": True}, "### Example\n", {"extra": [1, 2]})
    outcome = run_body(lambda args, env: result, ["--out-dir", str(tmp_path / "out")], environ)
    assert outcome == step_core.Outcome(0, result)
    assert json.loads((tmp_path / "out" / "example.json").read_text()) == {"passed": True}
    assert json.loads((tmp_path / "out" / "extra.json").read_text()) == [1, 2]
    assert (tmp_path / "output").read_text() == "passed=true\n"
    assert (tmp_path / "summary").read_text() == "### Example\n\n"


def test_a_failed_result_is_written_first_then_exits_1_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = StepResult({"passed": False}, failure="accuracy 0.5 < minimum 0.9")
    outcome = run_body(lambda args, env: result, ["--out-dir", str(tmp_path)])
    assert outcome.status == 1 and outcome.result is result
    assert json.loads((tmp_path / "example.json").read_text()) == {"passed": False}
    assert capsys.readouterr().err == "example: accuracy 0.5 < minimum 0.9\n"


@pytest.mark.parametrize("name", STEPS)
def test_every_step_has_build_parser_with_profile_and_out_dir_and_a_main(name: str) -> None:
    module = importlib.import_module(f"scripts.{name}")
    actions = {action.dest: action.default for action in module.build_parser()._actions}
    assert actions["profile"] is None  # resolved by load_config: $PIPELINE_PROFILE, else local
    assert actions["out_dir"] == "out"
    assert module.main(["--help"]) == 0


def test_publish_appends_outputs_and_markdown(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("earlier=1\n")
    step_core.publish(str(output), str(summary), {"passed": False, "accuracy": 0.97}, "### Gate\n")
    assert output.read_text() == "earlier=1\npassed=false\naccuracy=0.97\n"
    assert summary.read_text() == "### Gate\n\n"


def test_publish_refuses_a_multi_line_output_value(tmp_path: Path) -> None:
    with pytest.raises(step_core.StepError, match="newline"):
        step_core.publish(str(tmp_path / "output"), None, {"reason": "a\nb"}, "")


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
