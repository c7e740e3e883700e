"""The accuracy report as one Markdown document, and its two charts as PNG files.

Shared by PR comments, job summaries and the Release model card; the sections and charts it puts
together live in sections.py and charts.py. Nothing here reads files or the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.report.charts import mermaid_per_class, mermaid_training_curve, per_class_png, training_curve_png
from scripts.report.sections import (
    confusion_table,
    hyperparameter_table,
    per_class_table,
    provenance_table,
    summary_table,
    verdict_line,
)

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
    `baseline_unavailable` says why it could not be read."""
    parts = [MARKER, "## MNIST accuracy report", *headline(candidate, production, verdict, baseline_unavailable)]
    parts += [
        "### Accuracy per class",
        per_class_table(candidate, production),
        mermaid_per_class(candidate["per_class_accuracy"], (production or {}).get("per_class_accuracy")),
        "_Bars: candidate." + (" Line: production._" if production else "_"),
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


def headline(
    candidate: dict[str, Any],
    production: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    baseline_unavailable: str | None = None,
) -> list[str]:
    """The verdict and the accuracy/loss table; the gate's own production figures stand in for a
    missing production metrics.json."""
    compared = production or (verdict or {}).get("production")
    parts = [verdict_line(verdict), summary_table(candidate, compared, (verdict or {}).get("thresholds", {}))]
    if compared is None and baseline_unavailable:
        parts.append(f"_Production baseline unavailable ({baseline_unavailable}): no deltas this time._")
    elif compared is None:
        parts.append("_No production model yet (first run): nothing to compare against, no deltas._")
    elif production is None:
        parts.append("_Production's metrics.json was not available: per-class deltas are left out._")
    return parts


def write_plots(candidate: dict[str, Any], production: dict[str, Any] | None, plots_dir: Path) -> list[Path]:
    """The same two charts as PNG files, for artifacts and the Release."""
    return [
        training_curve_png(candidate["history"], plots_dir / "training_curve.png"),
        per_class_png(
            candidate["per_class_accuracy"],
            (production or {}).get("per_class_accuracy"),
            plots_dir / "per_class_accuracy.png",
        ),
    ]
