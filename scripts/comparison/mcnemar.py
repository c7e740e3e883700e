"""Champion and challenger on the same digits: McNemar's exact test, per-class flags, confused pairs.

Pure functions of the labels and the two prediction vectors (used by the gate, tested from tables).
McNemar's exact test looks only at the discordant digits: b = production right and candidate wrong,
c = candidate right and production wrong. Under "both models are equally good" each discordant digit is a fair
coin, so the two-sided p-value is the binomial test of b successes in b + c trials at 0.5
(https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.binomtest.html). Per class, the p-values
are adjusted with Benjamini-Hochberg (scipy.stats.false_discovery_control) before a drop is flagged.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tasks.mnist import TASK as MNIST

CORRECTION = "Benjamini-Hochberg"  # controls the expected share of false flags among the task's classes
TEST = "McNemar exact (two-sided binomial test on the discordant digits)"
TOP_PAIRS = 5  # confused pairs shown in the report
CLASSES = MNIST.num_classes  # the default task's; the gate passes its task's count


def mcnemar_p(production_only: int, candidate_only: int) -> float:
    """Two-sided exact McNemar p-value; 1.0 when the models never disagree on who is right."""
    trials = production_only + candidate_only
    from scipy.stats import binomtest  # deferred: importing scipy.stats takes a while (the demo does it meanwhile)

    return 1.0 if trials == 0 else float(binomtest(production_only, trials, 0.5).pvalue)


def discordance(labels: np.ndarray, production: np.ndarray, candidate: np.ndarray) -> dict[str, int]:
    """The 2x2 table of right/wrong for the two models over the same digits."""
    prod_right, cand_right = production == labels, candidate == labels
    return {
        "digits": len(labels),
        "both_right": int(np.sum(prod_right & cand_right)),
        "production_only_right": int(np.sum(prod_right & ~cand_right)),
        "candidate_only_right": int(np.sum(~prod_right & cand_right)),
        "both_wrong": int(np.sum(~prod_right & ~cand_right)),
    }


def per_class(
    labels: np.ndarray, production: np.ndarray, candidate: np.ndarray, alpha: float, classes: int = CLASSES
) -> list[dict]:
    """One row per class: both accuracies, the discordant counts, raw and adjusted p, and whether it dropped."""
    rows = []
    for digit in range(classes):
        members = labels == digit
        table = discordance(labels[members], production[members], candidate[members])
        n = max(table["digits"], 1)
        rows.append(
            {
                "class": digit,
                "digits": table["digits"],
                "production_accuracy": round((table["both_right"] + table["production_only_right"]) / n, 6),
                "candidate_accuracy": round((table["both_right"] + table["candidate_only_right"]) / n, 6),
                "production_only_right": table["production_only_right"],
                "candidate_only_right": table["candidate_only_right"],
                "p_value": mcnemar_p(table["production_only_right"], table["candidate_only_right"]),
            }
        )
    from scipy.stats import false_discovery_control

    adjusted = false_discovery_control([row["p_value"] for row in rows], method="bh")
    for row, p in zip(rows, adjusted, strict=True):
        row["p_adjusted"] = float(p)
        # Written so that a nan p-value or alpha flags the class rather than hiding it.
        dropped = row["production_only_right"] > row["candidate_only_right"]
        row["flagged"] = dropped and not float(p) >= alpha
    return rows


def confused_pairs(labels: np.ndarray, production: np.ndarray, candidate: np.ndarray) -> list[dict[str, int]]:
    """Among the digits production got right and the candidate gets wrong: (true, candidate's answer) by count."""
    regressed = (production == labels) & (candidate != labels)
    counts = Counter(zip(labels[regressed].tolist(), candidate[regressed].tolist(), strict=True))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"true": true, "predicted": predicted, "count": n} for (true, predicted), n in ranked[:TOP_PAIRS]]


def compare(
    labels: np.ndarray, production: np.ndarray, candidate: np.ndarray, alpha: float, num_classes: int = CLASSES
) -> dict[str, Any]:
    """Everything gate.json says about the two models on the same examples."""
    table = discordance(labels, production, candidate)
    classes = per_class(labels, production, candidate, alpha, num_classes)
    return {
        **table,
        "p_value": mcnemar_p(table["production_only_right"], table["candidate_only_right"]),
        "test": TEST,
        "per_class": classes,
        "correction": CORRECTION,
        "flagged_classes": [row["class"] for row in classes if row["flagged"]],
        "confused_pairs": confused_pairs(labels, production, candidate),
    }


def regressed_indices(labels: np.ndarray, production: np.ndarray, candidate: np.ndarray, limit: int) -> np.ndarray:
    """Positions (in the test split) of the first `limit` digits production got right and the candidate misses."""
    return np.flatnonzero((production == labels) & (candidate != labels))[:limit]
