"""The gate's verdict as the lines it prints (one per fact) and as its job summary; reads only gate.json's record."""

from __future__ import annotations

from typing import Any

from scripts.core.run_metrics import fmt


def fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def split_line(split: dict[str, Any]) -> str:
    return (
        f"test split {split['dataset']} (seed {split['seed']}): {split['digits']} digits, "
        f"{split['fingerprint'][:19]}… as the candidate's metrics.json records"
    )


def production_line(production: dict[str, Any], measured: bool) -> str:
    line = f"production v{production['version_id']} accuracy {fmt(production['accuracy'])}"
    if not measured:
        return line + " (as recorded; not measured)"
    recorded = f"{fmt(production['recorded_accuracy'])} on its own test split"
    if production.get("same_test_split"):
        recorded = "the same as it recorded on this split"
    return f"{line} on the same digits ({recorded})"


def comparison_lines(comparison: dict[str, Any], alpha: float) -> list[str]:
    b, c = comparison["production_only_right"], comparison["candidate_only_right"]
    flagged = comparison["flagged_classes"]
    per_class = f"per class ({comparison['correction']}-adjusted, alpha {alpha}): "
    per_class += f"dropped significantly: {', '.join(map(str, flagged))}" if flagged else "none dropped significantly"
    return [
        f"discordant digits: production right / candidate wrong {b}, candidate right / production wrong {c}; "
        f"McNemar exact p = {fmt_p(comparison['p_value'])}",
        per_class,
    ]


def cost_line(candidate: dict[str, Any], production: dict[str, Any] | None, ratio: dict[str, Any] | None) -> str:
    """parameters, size and time per image; candidate / production (xratio) when there is a production."""
    figures = [
        ("parameters", "parameters", lambda v: f"{v:,}"),
        ("SavedModel MB", "saved_model_bytes", lambda v: f"{v / 1e6:.2f}"),
        ("ms/image at batch 1", "ms_per_image_batch_1", lambda v: f"{v:.3f}"),
        ("ms/image at batch 64", "ms_per_image_batch_64", lambda v: f"{v:.4f}"),
    ]
    parts = []
    for label, key, show in figures:
        text = f"{label} {show(candidate[key])}"
        if production is not None and ratio is not None:
            times = ratio.get(key)
            text += f" / {show(production[key])} (x{times:.2f})" if times is not None else f" / {show(production[key])}"
        parts.append(text)
    who = "candidate / production" if production is not None else "candidate"
    return f"cost, {who}: " + ", ".join(parts)


def lines(record: dict[str, Any]) -> list[str]:
    """Everything the gate found, one fact per line, ending with the verdict."""
    candidate, production, comparison = record["candidate"], record["production"], record["comparison"]
    found = []
    if record["test_split"]:
        found.append(split_line(record["test_split"]))
    if candidate:
        found.append(f"candidate accuracy {fmt(candidate['accuracy'])} ({candidate['model_dir']})")
        if "cost" in candidate and abs(candidate["accuracy"] - candidate["recorded_accuracy"]) > 1e-9:
            found.append(f"warning: the candidate's metrics.json records {fmt(candidate['recorded_accuracy'])}")
    if production:
        found.append(production_line(production, comparison is not None))
    if comparison:
        found += comparison_lines(comparison, record["thresholds"]["alpha"])
    if candidate and "cost" in candidate:
        found.append(cost_line(candidate["cost"], (production or {}).get("cost"), record["cost_ratio"]))
    found.append(f"{'PASSED' if record['passed'] else 'FAILED'}: {record['reason']}")
    return found


def summary(passed: bool, shown: list[str]) -> str:
    """The job summary: a heading and the printed lines as a list."""
    return f"### Gate {'passed' if passed else 'failed'}\n\n" + "\n".join(f"- {line}" for line in shown)
