"""scripts/comparison/mcnemar.py's p-values against references computed here, independently of scipy: McNemar's
exact test from the binomial distribution by hand (math.comb, exact fractions), Benjamini-Hochberg by its textbook
formula, and a few published figures."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from scripts.comparison import mcnemar


def exact_mcnemar(b: int, c: int) -> float:
    """Two-sided: twice the smaller tail of Binomial(b + c, 1/2), at most 1 (the distribution is symmetric)."""
    n = b + c
    tail = sum(Fraction(math.comb(n, k), 2**n) for k in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


def textbook_bh(p_values: list[float]) -> list[float]:
    """Benjamini & Hochberg (1995): the i-th smallest of m becomes min over j >= i of m * p_(j) / j, at most 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, m * p_values[index] / rank)
        adjusted[index] = running
    return adjusted


@pytest.mark.parametrize(
    "production_only, candidate_only",
    [(0, 0), (0, 1), (0, 5), (5, 0), (1, 9), (9, 1), (3, 3), (7, 8), (2, 12), (12, 30), (40, 25), (0, 60), (150, 170)],
)
def test_mcnemar_p_is_the_exact_two_sided_binomial_test(production_only: int, candidate_only: int):
    assert mcnemar.mcnemar_p(production_only, candidate_only) == pytest.approx(
        exact_mcnemar(production_only, candidate_only), rel=1e-9, abs=1e-300
    )


@pytest.mark.parametrize(
    "production_only, candidate_only, published",
    [
        (0, 5, 0.0625),  # five discordant digits all one way: 2 / 2**5, the smallest p five can give
        (1, 9, 0.0215),  # sign test table, n = 10, x = 1: two-tailed p = 0.021
        (5, 15, 0.0414),  # sign test table, n = 20, x = 5: two-tailed p = 0.041
        (10, 10, 1.0),  # as many each way: no evidence at all
    ],
)
def test_mcnemar_p_matches_published_sign_test_values(production_only: int, candidate_only: int, published: float):
    assert round(mcnemar.mcnemar_p(production_only, candidate_only), 4) == published


def test_benjamini_hochbergs_published_example():
    """Their paper's 15 p-values: at q = 0.05 the four smallest are rejected, the fifth (0.0201) is not."""
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
         0.7590, 1.0000]  # fmt: skip
    adjusted = textbook_bh(p)
    assert [q < 0.05 for q in adjusted] == [True] * 4 + [False] * 11


# Per class: (production only right, candidate only right, both right) among its digits.
TABLE = [(0, 0, 90), (8, 1, 80), (1, 9, 80), (5, 15, 70), (12, 0, 60), (3, 3, 90), (20, 2, 50), (0, 4, 90),
         (6, 1, 85), (30, 5, 40)]  # fmt: skip
ALPHA = 0.05


def digits_with(table: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two prediction vectors whose per-class discordant counts are `table` (wrong answers: digit + 1)."""
    labels, production, candidate = [], [], []
    for digit, (production_only, candidate_only, both) in enumerate(table):
        wrong = (digit + 1) % mcnemar.CLASSES
        rows = [(digit, wrong)] * production_only + [(wrong, digit)] * candidate_only + [(digit, digit)] * both
        rows += [(wrong, wrong)] * 3  # both wrong: no part of the test
        labels += [digit] * len(rows)
        production += [p for p, _ in rows]
        candidate += [c for _, c in rows]
    return np.array(labels), np.array(production), np.array(candidate)


def test_per_class_p_values_are_exact_mcnemar_adjusted_by_textbook_benjamini_hochberg():
    rows = mcnemar.per_class(*digits_with(TABLE), ALPHA)
    raw = [exact_mcnemar(b, c) for b, c, _ in TABLE]
    assert [row["p_value"] for row in rows] == pytest.approx(raw, rel=1e-9)
    assert [row["p_adjusted"] for row in rows] == pytest.approx(textbook_bh(raw), rel=1e-9)
    # Flagged: production did better on the class and the adjusted p is below alpha.
    expected = [b > c and q < ALPHA for (b, c, _), q in zip(TABLE, textbook_bh(raw), strict=True)]
    assert [row["flagged"] for row in rows] == expected
    raw_flags = [b > c and p < ALPHA for (b, c, _), p in zip(TABLE, raw, strict=True)]
    assert sum(expected) == 3 and raw_flags[1] and not expected[1]  # class 1: p 0.039 alone, not among ten


def test_compare_tests_the_whole_table_with_the_exact_p_value():
    out = mcnemar.compare(*digits_with(TABLE), ALPHA)
    b, c = sum(row[0] for row in TABLE), sum(row[1] for row in TABLE)
    assert (out["production_only_right"], out["candidate_only_right"]) == (b, c)
    assert out["p_value"] == pytest.approx(exact_mcnemar(b, c), rel=1e-9)
