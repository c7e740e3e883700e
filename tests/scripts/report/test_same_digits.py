"""The report from a real gate.json that compared two models on the same digits (tests/scripts/conftest.py's
paired_gate: a 1-epoch candidate against run_a in production): counts, p-value, flags, pairs, cost, the picture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import report
from scripts.report.same_digits import fmt_p
from scripts.report.sections import pct
from tests.support.markdown_tables import table_row
from tests.support.pipeline_steps import StepRun

RUN_URL = "https://github.com/me/repo/actions/runs/42"


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"### {heading}")[1].split("\n### ")[0]


@pytest.fixture(scope="module")
def rendered(paired_gate: tuple[StepRun, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    """The report CLI on the gate's own out dir, as pr.yml and train.yml run it."""
    _, out = paired_gate
    target = tmp_path_factory.mktemp("paired-report")
    args = ["--metrics", str(out / "candidate_metrics.json"), "--verdict", str(out / "gate.json")]
    args += ["--production", str(out / "production_metrics.json"), "--run-url", RUN_URL]
    assert report.main([*args, "--output", str(target / "report.md"), "--plots-dir", str(target / "plots")]) == 0
    return json.loads((out / "gate.json").read_text()), (target / "report.md").read_text(), target / "plots"


def test_the_headline_compares_both_models_on_the_same_digits(rendered: tuple[dict, str, Path]) -> None:
    verdict, markdown, _ = rendered
    candidate, production = verdict["candidate"], verdict["production"]
    assert f"❌ **Gate failed**: {verdict['reason']}" in markdown
    row = table_row(markdown, "accuracy")
    assert row[1:3] == [pct(candidate["accuracy"]), pct(production["accuracy"])]
    assert row[4] == f"≥ {pct(verdict['thresholds']['required_accuracy'])}, or within noise (p ≥ 0.05)"
    assert f"production's own metrics.json recorded {pct(production['recorded_accuracy'])}" in markdown


def test_the_comparison_shows_the_discordant_counts_the_p_value_and_the_top_confused_pairs(
    rendered: tuple[dict, str, Path],
) -> None:
    verdict, markdown, _ = rendered
    comparison = verdict["comparison"]
    same = section(markdown, "Candidate vs production on the same digits")
    assert f"test split (`mnist-sample`, seed 42: {comparison['digits']:,} digits)" in same
    assert table_row(same, "production right, candidate wrong")[1] == str(comparison["production_only_right"])
    assert table_row(same, "candidate right, production wrong")[1] == str(comparison["candidate_only_right"])
    assert table_row(same, "McNemar exact p (alpha 0.05)")[1] == fmt_p(comparison["p_value"])
    top = comparison["confused_pairs"][0]
    assert f"gets wrong: {top['true']} → {top['predicted']} ({top['count']})" in same
    assert f"`regressions.png`, with the run's artifacts ([run]({RUN_URL}))" in same


def test_the_per_class_table_flags_the_classes_that_dropped_significantly(rendered: tuple[dict, str, Path]) -> None:
    verdict, markdown, _ = rendered
    classes = section(markdown, "Accuracy per class")
    for row in verdict["comparison"]["per_class"]:
        cells = table_row(classes, str(row["class"]))
        assert cells[2:4] == [pct(row["production_accuracy"]), pct(row["candidate_accuracy"])]
        assert cells[5] == f"{row['production_only_right']} / {row['candidate_only_right']}"
        assert (cells[7] == "⚠️ dropped") is row["flagged"]
    assert "Benjamini-Hochberg-adjusted over the ten classes" in classes


def test_the_cost_of_both_models_sits_beside_their_ratio(rendered: tuple[dict, str, Path]) -> None:
    verdict, markdown, _ = rendered
    cost = section(markdown, "Cost")
    assert table_row(cost, "parameters")[1:] == ["101,770", "101,770", "x1.00"]
    ratio = verdict["cost_ratio"]["ms_per_image_batch_1"]
    assert table_row(cost, "inference per image, batch 1")[3] == f"x{ratio:.2f}"


def test_the_picture_shows_the_digits_production_got_right_and_the_candidate_gets_wrong(
    rendered: tuple[dict, str, Path],
) -> None:
    _, _, plots = rendered
    data = (plots / "regressions.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda v: v["comparison"].update(p_value="0.01"), "comparison: p_value = '0.01' has the wrong type"),
        (lambda v: v["comparison"].update(per_class=[]), "one row per class"),
        (lambda v: v["candidate"].pop("cost"), "candidate has no cost figures"),
        (lambda v: v["production"].pop("version_id"), "production: missing key 'version_id'"),
        (lambda v: v["comparison"]["confused_pairs"].append([3, 5]), "confused_pairs: missing key 'true'"),
    ],
)
def test_a_verdict_with_a_broken_comparison_is_refused_with_one_line(
    paired_gate: tuple[StepRun, Path], tmp_path: Path, capsys, damage, message: str
) -> None:
    _, out = paired_gate
    verdict = json.loads((out / "gate.json").read_text())
    damage(verdict)
    (tmp_path / "gate.json").write_text(json.dumps(verdict))
    args = ["--metrics", str(out / "candidate_metrics.json"), "--verdict", str(tmp_path / "gate.json")]
    assert report.main([*args, "--output", str(tmp_path / "report.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: ") and message in err and err.count("\n") == 1
