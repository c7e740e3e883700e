"""scripts.report: every section of the accuracy report, rendered from the real trainer's metrics.json.

The candidate is the shared `trained_model_dir` (baseline, 3 epochs); production is a second real run
(baseline, 1 epoch, another learning rate), so numbers, deltas and the hyperparameter diff are real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import gate, report
from scripts.report_sections import delta_pp, pct

pytestmark = pytest.mark.slow  # the session fixtures train two small models

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_URL = "https://github.com/me/repo/actions/runs/42"
JOB = "projects/p/locations/us-central1/customJobs/7"


@pytest.fixture(scope="session")
def production_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second real training run, different enough from the candidate to show deltas."""
    model_dir = tmp_path_factory.mktemp("production") / "model"
    command = [sys.executable, "-m", "trainer.task", "--dataset", "mnist-sample", "--model", "baseline"]
    command += ["--epochs", "1", "--learning-rate", "0.01", "--model-dir", str(model_dir)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIP_")}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"trainer failed:\n{result.stdout}\n{result.stderr}"
    return model_dir


@pytest.fixture(scope="session")
def candidate(trained_model_dir: Path) -> dict[str, Any]:
    return json.loads((trained_model_dir / "metrics.json").read_text())


@pytest.fixture(scope="session")
def production(production_model_dir: Path) -> dict[str, Any]:
    return json.loads((production_model_dir / "metrics.json").read_text())


def verdict_for(candidate: dict[str, Any], production: dict[str, Any] | None, passed: bool) -> dict[str, Any]:
    """A gate.json as the gate writes it (schema in the README), for the given runs."""
    prod = None if production is None else {"accuracy": production["accuracy"], "loss": production["loss"]}
    required = max(0.5, production["accuracy"] - 0.005) if production else 0.5
    word = ">=" if passed else "<"
    return {
        "passed": passed,
        "reason": f"accuracy {candidate['accuracy']:.4f} {word} required {required:.4f}",
        "candidate": {"accuracy": candidate["accuracy"], "loss": candidate["loss"], "model_dir": "gs://b/m"},
        "production": prod,
        "thresholds": {"min_accuracy": 0.5, "max_drop": 0.005, "required_accuracy": required},
    }


def section(markdown: str, heading: str) -> str:
    """The text from a `### heading` to the next heading."""
    return markdown.split(f"### {heading}")[1].split("\n### ")[0]


def table_row(markdown: str, first_cell: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_starts_with_the_hidden_marker_the_comment_workflow_looks_for(candidate, production) -> None:
    markdown = report.render_report(candidate, production, verdict_for(candidate, production, True))
    assert markdown.startswith("<!-- mnist-accuracy-report -->\n")


@pytest.mark.parametrize(("passed", "mark"), [(True, "✅ **Gate passed**"), (False, "❌ **Gate failed**")])
def test_report_opens_with_the_gates_verdict_and_reason(candidate, production, passed: bool, mark: str) -> None:
    verdict = verdict_for(candidate, production, passed)
    markdown = report.render_report(candidate, production, verdict)
    verdict_line = markdown.split("\n\n")[2]
    assert verdict_line == f"{mark}: {verdict['reason']}"


def test_report_summary_table_shows_candidate_production_delta_and_threshold(candidate, production) -> None:
    verdict = verdict_for(candidate, production, True)
    markdown = report.render_report(candidate, production, verdict)
    accuracy = table_row(markdown, "accuracy")
    assert accuracy == [
        "accuracy",
        pct(candidate["accuracy"]),
        pct(production["accuracy"]),
        delta_pp(candidate["accuracy"], production["accuracy"]),
        f"≥ {pct(verdict['thresholds']['required_accuracy'])}",
    ]
    loss = table_row(markdown, "loss")
    assert loss[1:4] == [
        f"{candidate['loss']:.4f}",
        f"{production['loss']:.4f}",
        f"{candidate['loss'] - production['loss']:+.4f}",
    ]


def test_report_per_class_table_has_every_digit_with_its_delta(candidate, production) -> None:
    table = section(report.render_report(candidate, production, None), "Accuracy per class")
    for digit in range(10):
        now, before = candidate["per_class_accuracy"][digit], production["per_class_accuracy"][digit]
        support = sum(candidate["confusion_matrix"][digit])
        assert table_row(table, str(digit)) == [
            str(digit),
            str(support),
            pct(now),
            pct(before),
            delta_pp(now, before),
        ]


def test_report_confusion_matrix_rows_are_the_true_digit_with_the_diagonal_bold(candidate) -> None:
    table = section(report.render_report(candidate, None, None), "Confusion matrix (test split)")
    for true, counts in enumerate(candidate["confusion_matrix"]):
        expected = [f"**{n}**" if pred == true else str(n) for pred, n in enumerate(counts)]
        assert table_row(table, f"**{true}**")[1:] == expected


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", markdown, flags=re.DOTALL)


def numbers(block: str, kind: str) -> list[list[float]]:
    return [[float(v) for v in m.split(",")] for m in re.findall(rf"^\s+{kind} \[(.*)\]$", block, re.MULTILINE)]


def test_report_charts_are_mermaid_xycharts_of_the_history_and_per_class_accuracy(candidate, production) -> None:
    per_class, curve = mermaid_blocks(report.render_report(candidate, production, None))
    assert per_class.startswith("xychart-beta") and curve.startswith("xychart-beta")
    assert numbers(per_class, "bar") == [pytest.approx(candidate["per_class_accuracy"], abs=5e-5)]
    assert numbers(per_class, "line") == [pytest.approx(production["per_class_accuracy"], abs=5e-5)]
    train, test = numbers(curve, "line")
    assert train == pytest.approx([row["accuracy"] for row in candidate["history"]], abs=5e-5)
    assert test == pytest.approx([row["val_accuracy"] for row in candidate["history"]], abs=5e-5)
    epochs = ", ".join(str(row["epoch"]) for row in candidate["history"])
    assert f'x-axis "epoch" [{epochs}]' in curve


def test_report_marks_the_hyperparameters_that_differ_from_production(candidate, production) -> None:
    markdown = report.render_report(candidate, production, None)
    for key, value in candidate["hyperparameters"].items():
        row = table_row(markdown, f"`{key}`")
        changed = value != production["hyperparameters"][key]
        assert row == [
            f"`{key}`",
            f"`{value}`",
            f"`{production['hyperparameters'][key]}`",
            "changed" if changed else "",
        ]
    assert candidate["hyperparameters"]["epochs"] != production["hyperparameters"]["epochs"]


def test_report_names_data_fingerprint_versions_links_and_timings(candidate, production) -> None:
    markdown = report.render_report(candidate, production, None, run_url=RUN_URL, job=JOB)
    assert table_row(markdown, "data fingerprint")[1] == f"`{candidate['data_fingerprint']}`"
    versions = candidate["versions"]
    assert table_row(markdown, "TensorFlow / Keras / Python")[1] == (
        f"{versions['tensorflow']} / {versions['keras']} / {versions['python']}"
    )
    assert table_row(markdown, "workflow run")[1] == f"[{RUN_URL}]({RUN_URL})"
    assert table_row(markdown, "training job")[1] == f"`{JOB}`"
    epochs = len(candidate["history"])
    assert table_row(markdown, "training time")[1] == f"{candidate['wall_time_s']:.1f} s for {epochs} epoch(s)"


def test_report_without_production_says_first_run_and_shows_no_deltas(candidate) -> None:
    markdown = report.render_report(candidate, None, verdict_for(candidate, None, True))
    assert "No production model yet (first run)" in markdown
    assert table_row(markdown, "accuracy")[2:4] == ["—", "—"]
    assert " pp |" not in markdown
    assert len(numbers(mermaid_blocks(markdown)[0], "line")) == 0


def test_report_with_only_the_gates_production_figures_shows_no_per_class_deltas(candidate, production) -> None:
    verdict = verdict_for(candidate, production, True)
    markdown = report.render_report(candidate, None, verdict)
    assert table_row(markdown, "accuracy")[3] == delta_pp(candidate["accuracy"], production["accuracy"])
    assert "per-class deltas are left out" in markdown
    assert " pp |" not in section(markdown, "Accuracy per class")


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
    assert (tmp_path / "summary.md").read_text() == output.read_text()


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
    with pytest.raises(SystemExit) as exit_info:
        report.main(["--metrics", "m.json", "--output", str(tmp_path / "r.md"), "--pr-number", "12; rm -rf /"])
    assert exit_info.value.code == 2
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
