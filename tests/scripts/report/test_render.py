"""scripts.report.render: every section of the accuracy report, rendered from the real trainer's metrics.json.

The candidate and production metrics are the fixtures of tests/scripts/report/conftest.py (two real runs).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from scripts import report
from scripts.report.sections import delta_pp, pct
from tests.support.markdown_tables import table_row

RUN_URL = "https://github.com/me/repo/actions/runs/42"
JOB = "projects/p/locations/us-central1/customJobs/7"


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
