"""scripts/core/step_runner.py: the one error path (exit codes, one stderr line), the one write of a step's result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from scripts.core import step_runner
from scripts.core.step_runner import KnownError, StepError, StepResult, UsageError


class LibraryError(RuntimeError):
    """Stands for a library's own error type (GitHubError, ReleaseError, ...)."""


class SetupError(LibraryError):
    """A subclass the step reports as a usage error."""


KNOWN = (KnownError(SetupError, step_runner.EXIT_USAGE), KnownError(LibraryError, template="the library: {}"))


def run_body(body, argv: list[str], environ: dict[str, str] | None = None) -> step_runner.Outcome:
    parser = argparse.ArgumentParser(prog="python -m scripts.example")
    parser.add_argument("--out-dir", default=None)
    parser.add_argument("--count", type=int)
    return step_runner.run_step("example", parser, body, argv, {} if environ is None else environ, KNOWN)


def raising(error: Exception):
    def body(args: argparse.Namespace, environ: dict) -> StepResult:
        raise error

    return body


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (StepError("accuracy 0.962 < minimum 0.970"), 1, "example: accuracy 0.962 < minimum 0.970\n"),
        (UsageError("--interval must be positive"), 2, "example: --interval must be positive\n"),
        (StepError("stopped: gate failed (exit 2)", 2), 2, "example: stopped: gate failed (exit 2)\n"),
        (LibraryError("GitHub answered\n502"), 1, "example: the library: GitHub answered 502\n"),
        (SetupError("no token"), 2, "example: no token\n"),  # the subclass's entry, listed first, wins
    ],
)
def test_a_known_error_becomes_one_stderr_line_and_its_exit_status(
    error: Exception, status: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_body(raising(error), []) == step_runner.Outcome(status, None)
    assert capsys.readouterr() == ("", line)


@pytest.mark.parametrize(("argv", "status"), [(["--count", "x"], 2), (["--bogus"], 2), (["--help"], 0)])
def test_usage_errors_and_help_return_their_status_instead_of_raising(argv: list[str], status: int) -> None:
    assert run_body(lambda args, environ: StepResult(), argv).status == status


@pytest.mark.parametrize("error", [KeyError("bug"), ValueError("not a known error type")])
def test_unexpected_exceptions_keep_their_traceback(error: Exception) -> None:
    with pytest.raises(type(error)):
        run_body(raising(error), [])


def test_run_main_reads_the_process_environment_unless_given_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "process"))
    parser = argparse.ArgumentParser()
    assert step_runner.run_main("example", parser, lambda args, env: StepResult(summary="A"), []) == 0
    given = {"GITHUB_STEP_SUMMARY": str(tmp_path / "given")}
    assert step_runner.run_main("example", parser, lambda args, env: StepResult(summary="B"), [], given) == 0
    assert (tmp_path / "process").read_text() == "A\n\n" and (tmp_path / "given").read_text() == "B\n\n"


def test_a_result_is_written_to_out_github_output_and_the_summary_in_one_go(tmp_path: Path) -> None:
    environ = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = StepResult({"passed": True}, {"passed": True}, "### Example\n", {"extra": [1, 2]})
    outcome = run_body(lambda args, env: result, ["--out-dir", str(tmp_path / "out")], environ)
    assert outcome == step_runner.Outcome(0, result)
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


def test_publish_appends_outputs_and_markdown(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("earlier=1\n")
    step_runner.publish(str(output), str(summary), {"passed": False, "accuracy": 0.97}, "### Gate\n")
    assert output.read_text() == "earlier=1\npassed=false\naccuracy=0.97\n"
    assert summary.read_text() == "### Gate\n\n"


def test_publish_refuses_a_multi_line_output_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(StepError, match="newline"):
        step_runner.publish(str(tmp_path / "output"), None, {"reason": "a\nb"}, "")
    environ = {"GITHUB_OUTPUT": str(tmp_path / "output")}
    assert run_body(lambda args, env: StepResult(outputs={"reason": "a\nb"}), [], environ).status == 1
    assert "output reason holds a newline" in capsys.readouterr().err
