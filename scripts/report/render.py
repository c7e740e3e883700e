"""The accuracy report as one Markdown document, and its two charts as PNG files.

Shared by PR comments, job summaries and the Release model card; the sections and charts it puts
together live in sections.py and charts.py. Nothing here reads files or the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.report.charts import (
    mermaid_per_class,
    mermaid_training_curve,
    per_class_png,
    regressions_png,
    training_curve_png,
)
from scripts.report.same_digits import PICTURE, class_flags_note, class_flags_table, comparison_section, cost_section
from scripts.report.sections import (
    confusion_table,
    hyperparameter_table,
    pct,
    per_class_table,
    provenance_table,
    summary_table,
    verdict_line,
)
from scripts.report.validate import task_of

MARKER = "<!-- mnist-accuracy-report -->"  # report-comment.yml finds its own comment by it


def render_report(
    candidate: dict[str, Any],
    production: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    run_url: str | None = None,
    job: str | None = None,
    baseline_unavailable: str | None = None,
) -> str:
    """The whole report; `production` is the production model's metrics.json, None on a first run or when
    `baseline_unavailable` says why it could not be read.

    When the gate compared the two models on the same digits (gate.json's `comparison`), the headline, the
    per-class figures and the cost come from there rather than from the two runs' own metrics.json."""
    same = (verdict or {}).get("comparison")
    title = f"## {task_of(candidate, 'metrics.json').name.upper()} accuracy report"
    parts = [MARKER, title, *headline(candidate, production, verdict, baseline_unavailable)]
    if same:
        parts += comparison_section(verdict, run_url)
    parts += ["### Accuracy per class", *per_class_parts(candidate, production, verdict)]
    if "cost" in ((verdict or {}).get("candidate") or {}):
        parts += cost_section(verdict)
    parts += [
        "### Confusion matrix (test split)",
        confusion_table(candidate["confusion_matrix"]),
        "### Training curve",
        mermaid_training_curve(candidate["history"]),
        "_First line: train accuracy; second line: test accuracy._",
        "<details><summary>Hyperparameters, data and versions</summary>\n",
        hyperparameter_table(candidate, production),
        provenance_table(candidate, production, run_url, job),
        "</details>",
    ]
    return "\n\n".join(parts) + "\n"


def per_class_parts(candidate: dict[str, Any], production: dict[str, Any] | None, verdict: dict[str, Any] | None):
    """The per-class table and chart: on the same digits, with flags, when the gate compared the models."""
    same = (verdict or {}).get("comparison")
    labels = task_of(candidate, "metrics.json").labels
    if not same:
        before = (production or {}).get("per_class_accuracy")
        return [
            per_class_table(candidate, production),
            mermaid_per_class(candidate["per_class_accuracy"], before, labels),
            "_Bars: candidate." + (" Line: production._" if before else "_"),
        ]
    rows = same["per_class"]
    return [
        class_flags_table(same),
        class_flags_note(same, verdict["thresholds"].get("alpha")),
        mermaid_per_class(
            [row["candidate_accuracy"] for row in rows], [row["production_accuracy"] for row in rows], labels
        ),
        "_Bars: candidate. Line: production, on the same digits._",
    ]


def headline(
    candidate: dict[str, Any],
    production: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    baseline_unavailable: str | None = None,
) -> list[str]:
    """The verdict and the accuracy/loss table: the gate's figures on the same digits when it measured both
    models; else production's metrics.json, or the gate's production figures standing in for a missing one."""
    verdict = verdict or {}
    thresholds = verdict.get("thresholds", {})
    if verdict.get("comparison"):
        recorded = verdict["production"].get("recorded_accuracy")
        note = "_Accuracy and loss of both models measured by the gate on the same test digits"
        note += f" (production's own metrics.json recorded {pct(recorded)})._" if recorded is not None else "._"
        table = summary_table(verdict["candidate"], verdict["production"], thresholds, paired=True)
        return [verdict_line(verdict), table, note]
    compared = production or verdict.get("production")
    parts = [verdict_line(verdict or None), summary_table(candidate, compared, thresholds)]
    if compared is None and baseline_unavailable:
        parts.append(f"_Production baseline unavailable ({baseline_unavailable}): no deltas this time._")
    elif compared is None:
        parts.append("_No production model yet (first run): nothing to compare against, no deltas._")
    elif production is None:
        parts.append("_Production's metrics.json was not available: per-class deltas are left out._")
    return parts


def write_plots(
    candidate: dict[str, Any],
    production: dict[str, Any] | None,
    plots_dir: Path,
    regressions: dict[str, Any] | None = None,
) -> list[Path]:
    """The same two charts as PNG files, for artifacts and the Release; with the gate's regressed digits, their
    picture too."""
    drawable = regressions and regressions["digits"] and all("pixels" in row for row in regressions["digits"])
    pictured = [regressions_png(regressions, plots_dir / PICTURE)] if drawable else []
    return [
        *pictured,
        training_curve_png(candidate["history"], plots_dir / "training_curve.png"),
        per_class_png(
            candidate["per_class_accuracy"],
            (production or {}).get("per_class_accuracy"),
            plots_dir / "per_class_accuracy.png",
            task_of(candidate, "metrics.json").labels,
        ),
    ]
