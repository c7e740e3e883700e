"""Integers as the REST APIs write them: int64 fields travel as JSON numbers or as strings of ASCII digits.

str.isdigit() also accepts '²' and '١' (int() then fails on the first, and takes the second), and an int64 field
of 25 digits overflows SQLite's integers: both were 500s. Every integer a request carries is read here.
"""

from __future__ import annotations

import re

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
ASCII_INTEGER = re.compile(r"-?[0-9]+")


def int64(text: str) -> int | None:
    """The int64 a string of ASCII digits (optionally negative) writes; None when it is not one."""
    if not ASCII_INTEGER.fullmatch(text) or len(text) > 20:
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def is_ascii_digits(text: str) -> bool:
    """Only 0-9, at least one (what str.isdigit() means to a reader, not what it does)."""
    return text.isascii() and text.isdigit()
