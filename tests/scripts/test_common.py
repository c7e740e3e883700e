"""scripts/common.py: exit-code contract, GitHub outputs, label values, JSON from gs:// and local paths."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest

from pipeline_config import ConfigError, load_config
from scripts import common, deploy
from tests.conftest import VertexLocal, free_port
from tests.scripts.conftest import step

STEPS = ("submit_training", "gate", "register", "deploy", "rollback", "smoke_test", "demo")


def run_body(body, argv: list[str]) -> int:
    parser = common.add_common_flags(argparse.ArgumentParser(prog="python -m scripts.example"))
    parser.add_argument("--count", type=int)
    return common.run_main("example", parser, body, argv)


def test_a_step_error_becomes_one_stderr_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    def body(args: argparse.Namespace) -> int:
        raise common.StepError("accuracy 0.962 < minimum 0.970")

    assert run_body(body, []) == 1
    assert capsys.readouterr().err == "example: accuracy 0.962 < minimum 0.970\n"


def test_a_config_error_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    def body(args: argparse.Namespace) -> int:
        load_config(args.profile, {"PIPELINE_GATE_MIN_ACCURACY": "high"})
        return 0

    assert run_body(body, ["--profile", "local"]) == 2
    assert "PIPELINE_GATE_MIN_ACCURACY='high'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "status"), [(["--count", "x"], 2), (["--bogus"], 2), (["--help"], 0)])
def test_usage_errors_and_help_return_their_status_instead_of_raising(argv: list[str], status: int) -> None:
    assert run_body(lambda args: 0, argv) == status


def test_unexpected_exceptions_keep_their_traceback() -> None:
    def body(args: argparse.Namespace) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_body(body, [])


@pytest.mark.parametrize("name", STEPS)
def test_every_step_has_build_parser_with_profile_and_out_dir_and_a_main(name: str) -> None:
    module = importlib.import_module(f"scripts.{name}")
    actions = {action.dest: action.default for action in module.build_parser()._actions}
    assert actions["profile"] is None  # resolved by load_config: $PIPELINE_PROFILE, else local
    assert actions["out_dir"] == "out"
    assert module.main(["--help"]) == 0


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("3F2A" + "0" * 36, "3f2a" + "0" * 36),
        ("refs/pull/12/merge", "refs-pull-12-merge"),
        ("x" * 70, "x" * 63),
        ("run_id-42", "run_id-42"),
        ("héllo wörld", "h-llo-w-rld"),
    ],
)
def test_label_values_are_lowercase_restricted_and_at_most_63_characters(value: str, label: str) -> None:
    assert common.label_value(value) == label


def test_job_labels_leave_out_unknown_values() -> None:
    assert common.job_labels("abc", None, "77") == {"git_sha": "abc", "run_id": "77"}


@pytest.mark.parametrize(
    ("sha", "short"),
    [("0123456789abcdef" * 2 + "01234567", "0123456789ab"), ("3f2a1b2c3d4e-demo-20261124020000", None)],
)
def test_short_sha_cuts_only_full_git_shas(sha: str, short: str | None) -> None:
    assert common.short_sha(sha) == (short or sha)


def test_publish_appends_outputs_and_markdown(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("earlier=1\n")
    common.publish(str(output), str(summary), {"passed": False, "accuracy": 0.97}, "### Gate\n")
    assert output.read_text() == "earlier=1\npassed=false\naccuracy=0.97\n"
    assert summary.read_text() == "### Gate\n\n"


def test_publish_refuses_a_multi_line_output_value(tmp_path: Path) -> None:
    with pytest.raises(common.StepError, match="newline"):
        common.publish(str(tmp_path / "output"), None, {"reason": "a\nb"}, "")


def test_read_json_names_a_missing_or_corrupt_local_file(tmp_path: Path) -> None:
    with pytest.raises(common.StepError, match="not found"):
        common.read_json(str(tmp_path / "metrics.json"), None)  # type: ignore[arg-type]
    (tmp_path / "metrics.json").write_text("{accuracy: 0.9")
    with pytest.raises(common.StepError, match="not valid JSON"):
        common.read_json(str(tmp_path / "metrics.json"), None)  # type: ignore[arg-type]


def test_json_round_trips_through_gs_and_a_missing_object_is_not_found(pipeline_env: VertexLocal) -> None:
    client = common.storage_client(load_config())
    uri = f"gs://{pipeline_env.bucket}/common-test/metrics.json"
    common.write_text(uri, json.dumps({"accuracy": 0.5}), client)
    assert common.read_json(uri, client) == {"accuracy": 0.5}
    with pytest.raises(common.StepError, match="not found"):
        common.read_json(f"gs://{pipeline_env.bucket}/common-test/absent.json", client)


def test_the_model_dir_comes_from_the_flag_else_from_submit_training_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--model-dir"):
        common.trained_model_dir(None, str(tmp_path))
    (tmp_path / "submit_training.json").write_text(json.dumps({"model_dir": "gs://b/runs/x/model"}))
    assert common.trained_model_dir(None, str(tmp_path)) == "gs://b/runs/x/model"
    assert common.trained_model_dir("gs://b/other/model/", str(tmp_path)) == "gs://b/other/model"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PIPELINE_VERTEX_CREDENTIALS", "oauth", "vertex.credentials = 'oauth'"),
        ("PIPELINE_VERTEX_STAGING_BUCKET", "local-bucket", "vertex.staging_bucket = 'local-bucket'"),
    ],
)
def test_step_config_rejects_values_the_steps_cannot_use(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        common.load_step_config("local", {variable: value})


def test_an_unreachable_service_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_VERTEX_API_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens
    result = step(deploy.main, "--version", "1", "--out-dir", str(tmp_path))
    assert result.status == 1
    assert result.stderr.startswith("deploy: cannot reach the service (") and result.stderr.count("\n") == 1
