"""scripts.report's command line: Markdown, plots, pr-number.txt, the job summary, bad inputs, a real verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import gate, report
from scripts.report.sections import pct
from tests.support.markdown_tables import table_row

RUN_URL = "https://github.com/me/repo/actions/runs/42"


def run_main(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code = report.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_cli_writes_markdown_plots_pr_number_and_the_job_summary(
    trained_model_dir: Path, production_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    output, plots = tmp_path / "report" / "report.md", tmp_path / "plots"
    code, _, err = run_main(
        [
            "--metrics",
            str(trained_model_dir / "metrics.json"),
            "--production",
            str(production_model_dir / "metrics.json"),
            "--output",
            str(output),
            "--plots-dir",
            str(plots),
            "--pr-number",
            "17",
            "--run-url",
            RUN_URL,
        ],
        monkeypatch,
        tmp_path,
        capsys,
    )
    assert (code, err) == (0, "")
    assert output.read_text().startswith(report.MARKER)
    assert (tmp_path / "report" / "pr-number.txt").read_text() == "17\n"
    for name in ("training_curve.png", "per_class_accuracy.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert (tmp_path / "summary.md").read_text() == output.read_text().rstrip("\n") + "\n\n"  # as every step's


def test_report_cli_treats_a_missing_production_file_as_the_first_run(
    trained_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production", str(tmp_path / "none.json")]
    code, _, _ = run_main([*args, "--output", str(output)], monkeypatch, tmp_path, capsys)
    assert code == 0 and "No production model yet" in output.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not readable JSON"),
        ('{"schema_version": 2}', "schema_version = 2, expected 1"),
        ('{"schema_version": 1, "model": "cnn"}', "missing key 'dataset'"),
    ],
)
def test_report_cli_rejects_bad_metrics_with_one_line_and_exit_2(
    content: str | None, message: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    metrics = tmp_path / "metrics.json"
    if content is not None:
        metrics.write_text(content)
    code, _, err = run_main(
        ["--metrics", str(metrics), "--output", str(tmp_path / "r.md")], monkeypatch, tmp_path, capsys
    )
    assert code == 2 and err.startswith("report: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r.md").exists()


def test_report_cli_rejects_a_verdict_without_a_pass_or_fail(
    trained_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    verdict = tmp_path / "gate.json"
    verdict.write_text('{"passed": "yes", "reason": "r", "thresholds": {}}')
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--verdict", str(verdict)]
    code, _, err = run_main([*args, "--output", str(tmp_path / "r.md")], monkeypatch, tmp_path, capsys)
    assert code == 2 and "passed = 'yes', expected true or false" in err


def test_report_cli_refuses_a_pr_number_that_is_not_a_positive_integer(tmp_path: Path, capsys) -> None:
    args = ["--metrics", "m.json", "--output", str(tmp_path / "r.md"), "--pr-number", "12; rm -rf /"]
    assert report.main(args) == 2
    assert "is not a pull request number" in capsys.readouterr().err


def test_report_renders_the_verdict_the_real_gate_wrote(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    # tests/scripts/conftest.py: the local profile on the session's vertex-local, a model name of our own
    out = tmp_path / "out"
    model_dir = pipeline_env.stage_model(trained_model_dir, unique_name)
    gate_code = gate.main(["--model-dir", model_dir, "--out-dir", str(out)])
    verdict = json.loads((out / "gate.json").read_text())
    assert gate_code == (0 if verdict["passed"] else 1)
    capsys.readouterr()  # the gate's own output
    args = ["--metrics", str(out / "candidate_metrics.json"), "--verdict", str(out / "gate.json")]
    args += ["--production", str(out / "production_metrics.json"), "--output", str(out / "report.md")]
    code, _, err = run_main(args, monkeypatch, tmp_path, capsys)
    assert (code, err) == (0, "")
    markdown = (out / "report.md").read_text()
    mark = "✅ **Gate passed**" if verdict["passed"] else "❌ **Gate failed**"
    assert f"{mark}: {verdict['reason']}" in markdown
    assert "No production model yet (first run)" in markdown
    required = verdict["thresholds"]["required_accuracy"]
    assert table_row(markdown, "accuracy")[4] == f"≥ {pct(required)}"
