"""Google's list filter syntax, as the Vertex list routes take it: `display_name="x" AND labels.k="v"`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from vertex_local.errors import ApiError
from vertex_local.vertex.fields import snake_to_camel

# One term of a list filter: display_name="x", labels.k="v", labels."a key"!="v", labels.k:*, state=X.
FILTER_TERM = re.compile(
    r"""\s*(?P<field>labels\."[^"]*"|[A-Za-z_][\w.-]*)\s*(?P<op>!=|=|:)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"()]+)\s*"""
)
FILTER_AND = re.compile(r"AND\s+", re.IGNORECASE)


def compile_filter(
    text: str, fields: set[str], equals_only: frozenset[str] = frozenset()
) -> Callable[[dict[str, Any]], bool]:
    """A predicate for Google's list filter syntax: terms joined by AND on `fields` (camelCase) and labels;
    the fields in `equals_only` take `=` alone."""
    terms: list[tuple[str, str, str]] = []
    position, text = 0, text.strip()
    while position < len(text):
        if terms:
            joint = FILTER_AND.match(text, position)
            if not joint:
                raise ApiError(400, f"invalid filter {text!r}: expected AND at offset {position}")
            position = joint.end()
        term = FILTER_TERM.match(text, position)
        if not term:
            raise ApiError(400, f"invalid filter {text!r} at offset {position}")
        checked = _checked_term(term["field"], term["op"], term["value"], fields, text)
        if checked[0] in {"." + name for name in equals_only} and term["op"] != "=":
            raise ApiError(400, f"invalid filter {text!r}: {term['field']} supports only =")
        terms.append(checked)
        position = term.end()
    return lambda resource: all(_term_holds(resource, *term) for term in terms)


def _checked_term(field: str, op: str, value: str, fields: set[str], text: str) -> tuple[str, str, str]:
    if value.startswith('"'):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"invalid filter {text!r}: {value} is not a valid quoted string ({exc})") from None
    if field.startswith("labels."):
        return field.removeprefix("labels.").strip('"'), op, value
    if field == "labels" and op == ":":
        return value, ":", "*"
    camel = snake_to_camel(field)
    if camel not in fields or op == ":":
        raise ApiError(400, f"invalid filter {text!r}: cannot filter on {field}{op} (use {sorted(fields)})")
    return "." + camel, op, value


def _term_holds(resource: dict[str, Any], key: str, op: str, value: str) -> bool:
    labels = resource.get("labels") or {}
    actual = resource.get(key[1:]) if key.startswith(".") else labels.get(key)
    if op == ":":
        return actual is not None
    matched = actual is not None and str(actual) == value
    return matched if op == "=" else not matched
