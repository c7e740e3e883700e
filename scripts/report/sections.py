"""The accuracy report's Markdown sections: pure functions from metrics dicts to strings.

Composed by scripts.report.render; numbers are printed as they come in metrics.json and gate.json.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Metrics = dict[str, Any]


def pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def delta_pp(candidate: float, production: float) -> str:
    """A difference in accuracy, in percentage points, always signed."""
    return f"{(candidate - production) * 100:+.2f} pp"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_line(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "**No gate verdict** for this report."
    mark, word = ("✅", "passed") if verdict["passed"] else ("❌", "failed")
    return f"{mark} **Gate {word}**: {verdict['reason']}"


def summary_table(
    candidate: Metrics, production: dict[str, Any] | None, thresholds: dict[str, Any], paired: bool = False
) -> str:
    """Accuracy and loss: candidate, production, delta, threshold (`paired`: the gate's significance rule applies)."""
    required = thresholds.get("required_accuracy", thresholds.get("min_accuracy"))
    noise = f", or within noise (p ≥ {thresholds.get('alpha')})" if paired and production else ""
    rows = []
    for key, fmt, limit in (
        ("accuracy", pct, f"≥ {pct(required)}{noise}" if required is not None else "—"),
        ("loss", lambda v: f"{v:.4f}", "—"),
    ):
        prod = production[key] if production else None
        if prod is None:
            change = "—"
        elif key == "accuracy":
            change = delta_pp(candidate[key], prod)
        else:
            change = f"{candidate[key] - prod:+.4f}"
        rows.append([key, fmt(candidate[key]), fmt(prod) if prod is not None else "—", change, limit])
    return table(["metric", "candidate", "production", "delta", "threshold"], rows)


def per_class_table(candidate: Metrics, production: Metrics | None) -> str:
    """Accuracy per digit with its test support, and the change from production."""
    support = [sum(row) for row in candidate["confusion_matrix"]]
    rows = []
    for digit, accuracy in enumerate(candidate["per_class_accuracy"]):
        row = [str(digit), str(support[digit]), pct(accuracy)]
        if production is not None:
            before = production["per_class_accuracy"][digit]
            row += [pct(before), delta_pp(accuracy, before)]
        rows.append(row)
    header = ["class", "test examples", "candidate"]
    return table(header + (["production", "delta"] if production is not None else []), rows)


def confusion_table(matrix: Sequence[Sequence[int]]) -> str:
    """Rows are the true digit, columns the predicted one; the diagonal (correct) is bold."""
    rows = [
        [f"**{true}**"] + [f"**{n}**" if true == pred else str(n) for pred, n in enumerate(counts)]
        for true, counts in enumerate(matrix)
    ]
    return table(["true ╲ predicted"] + [str(digit) for digit in range(len(matrix))], rows)


def hyperparameter_table(candidate: Metrics, production: Metrics | None) -> str:
    """Every hyperparameter of either run; a changed value is marked."""
    mine, theirs = candidate["hyperparameters"], (production or {}).get("hyperparameters", {})
    rows = []
    for key in sorted(set(mine) | set(theirs)):
        row = [f"`{key}`", _value(mine.get(key))]
        if production is not None:
            changed = mine.get(key) != theirs.get(key)
            row += [_value(theirs.get(key)), "changed" if changed else ""]
        rows.append(row)
    header = ["hyperparameter", "candidate"] + (["production", ""] if production is not None else [])
    return table(header, rows)


def _value(value: Any) -> str:
    return "—" if value is None else f"`{value}`"


VERSIONS = ("tensorflow", "keras", "python")
# (label, how to show it, whether a difference from production is worth flagging)
PROVENANCE: list[tuple[str, Callable[[Metrics], str], bool]] = [
    ("model", lambda m: f"`{m['model']}`", True),
    ("dataset", lambda m: f"`{m['dataset']}`: {m['train_examples']} train, {m['test_examples']} test", True),
    ("data fingerprint", lambda m: f"`{m['data_fingerprint']}`", True),
    ("TensorFlow / Keras / Python", lambda m: " / ".join(m["versions"][k] for k in VERSIONS), True),
    ("distribution", lambda m: f"{m['strategy']}, {m['replicas']} replica(s)", True),
    ("git commit", lambda m: f"`{m['git_sha']}`" if m.get("git_sha") else "—", False),
    ("trained at", lambda m: m["created_at"], False),
    ("training time", lambda m: f"{m['wall_time_s']:.1f} s for {len(m['history'])} epoch(s)", False),
]


def provenance_table(
    candidate: Metrics, production: Metrics | None, run_url: str | None = None, job: str | None = None
) -> str:
    """Where the numbers come from: data, model, library versions, code, time, and this run's links."""
    rows = []
    for label, show, flag in PROVENANCE:
        row = [label, show(candidate)]
        if production is not None:
            row += [show(production), "changed" if flag and show(production) != row[1] else ""]
        rows.append(row)
    padding = ["", ""] if production is not None else []
    rows.append(["workflow run", f"[{run_url}]({run_url})" if run_url else "—", *padding])
    rows.append(["training job", f"`{job}`" if job else "—", *padding])
    return table(["", "candidate"] + (["production", ""] if production is not None else []), rows)
