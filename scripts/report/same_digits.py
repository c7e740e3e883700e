"""The report's champion/challenger sections, from gate.json: both models on the same digits, and their cost.

Pure functions from the verdict dict to Markdown, composed by scripts.report.render.
"""

from __future__ import annotations

from typing import Any

from scripts.report.sections import delta_pp, pct, table

PICTURE = "regressions.png"  # written by render.write_plots beside the other charts


def fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def comparison_section(verdict: dict[str, Any], run_url: str | None) -> list[str]:
    """Accuracy on the same digits, the discordant counts with McNemar's p, the top confused pairs, the picture."""
    comparison, split = verdict["comparison"], verdict.get("test_split") or {}
    production, candidate = verdict["production"], verdict["candidate"]
    b, c = comparison["production_only_right"], comparison["candidate_only_right"]
    accuracy = [pct(production["accuracy"]), pct(candidate["accuracy"])]
    accuracy.append(delta_pp(candidate["accuracy"], production["accuracy"]))
    header = ["", f"production v{production['version_id']}", "candidate", "delta"]
    loss = [f"{production['loss']:.4f}", f"{candidate['loss']:.4f}", f"{candidate['loss'] - production['loss']:+.4f}"]
    alpha = verdict["thresholds"].get("alpha")
    where = f"`{split.get('dataset')}`, seed {split.get('seed')}: " if split else ""
    parts = [
        "### Candidate vs production on the same digits",
        f"Both models were run by the gate on the candidate's test split ({where}{comparison['digits']:,} digits).",
        table(header, [["accuracy", *accuracy], ["loss", *loss]]),
        table(
            ["digits", "count"],
            [
                ["production right, candidate wrong", str(b)],
                ["candidate right, production wrong", str(c)],
                ["both right / both wrong", f"{comparison['both_right']} / {comparison['both_wrong']}"],
                [f"McNemar exact p (alpha {alpha})", fmt_p(comparison["p_value"])],
            ],
        ),
    ]
    pairs = comparison.get("confused_pairs") or []
    if pairs:
        shown = ", ".join(f"{pair['true']} → {pair['predicted']} ({pair['count']})" for pair in pairs)
        parts.append(f"Top confused pairs among the digits production got right and the candidate gets wrong: {shown}.")
        link = f" ([run]({run_url}))" if run_url else ""
        parts.append(f"_The first of them are pictured in `{PICTURE}`, with the run's artifacts{link}._")
    return parts


def class_flags_table(comparison: dict[str, Any]) -> str:
    """Per class on the same digits: both accuracies, digits lost and gained, the adjusted p and the flag."""
    rows = []
    for row in comparison["per_class"]:
        flag = "⚠️ dropped" if row["flagged"] else ""
        rows.append(
            [
                str(row["class"]),
                str(row["digits"]),
                pct(row["production_accuracy"]),
                pct(row["candidate_accuracy"]),
                delta_pp(row["candidate_accuracy"], row["production_accuracy"]),
                f"{row['production_only_right']} / {row['candidate_only_right']}",
                fmt_p(row["p_adjusted"]),
                flag,
            ]
        )
    header = ["class", "test examples", "production", "candidate", "delta", "lost / gained", "adjusted p", ""]
    return table(header, rows)


def class_flags_note(comparison: dict[str, Any], alpha: float | None) -> str:
    flagged = comparison["flagged_classes"]
    found = f"flagged: {', '.join(map(str, flagged))}" if flagged else "no class dropped significantly"
    return (
        f"_Same digits as above. Lost / gained: digits of the class that production got right and the candidate "
        f"misses, and the reverse. p-values from McNemar's exact test per class, {comparison['correction']}-adjusted "
        f"over the ten classes; a class is flagged when it lost more than it gained and the adjusted p < {alpha} "
        f"({found})._"
    )


COST_ROWS = [
    ("parameters", "parameters", lambda v: f"{v:,}"),
    ("SavedModel size", "saved_model_bytes", lambda v: f"{v / 1e6:.2f} MB"),
    ("inference per image, batch 1", "ms_per_image_batch_1", lambda v: f"{v:.3f} ms"),
    ("inference per image, batch 64", "ms_per_image_batch_64", lambda v: f"{v:.4f} ms"),
]


def cost_section(verdict: dict[str, Any]) -> list[str]:
    """Parameters, size and time per image for both models, measured in the same gate run."""
    candidate = verdict["candidate"]["cost"]
    production = (verdict.get("production") or {}).get("cost")
    ratios = verdict.get("cost_ratio") or {}
    rows = []
    for label, key, show in COST_ROWS:
        row = [label, show(candidate[key])]
        if production is not None:
            ratio = ratios.get(key)
            row = [label, show(production[key]), show(candidate[key]), f"x{ratio:.2f}" if ratio is not None else "—"]
        rows.append(row)
    header = ["", "production", "candidate", "candidate / production"] if production is not None else ["", "candidate"]
    limit = verdict["thresholds"].get("max_latency_ratio")
    rule = f"fails above x{limit}" if limit else "no limit set: `[gate] max_latency_ratio`"
    return [
        "### Cost",
        table(header, rows),
        f"_Measured by the gate in one run on one machine: the median of repeated `serving_default` calls after "
        f"warm-up, both models timed in alternating rounds. Time ratio: {rule}._",
    ]
