"""Request preconditions as Cloud Storage applies them: generation and metageneration, match and not-match, on the
object a request targets (the generation it names, else the live one); ETag headers on reads.

Rules: https://cloud.google.com/storage/docs/request-preconditions (a failed *Match is 412 Precondition Failed, a
failed *NotMatch is 304 Not Modified; 0 for ifGenerationMatch means "no live object"), and the JSON API reference
of each method (https://cloud.google.com/storage/docs/json_api/v1/objects) for which method takes which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.numbers import int64

NAMES = ("GenerationMatch", "GenerationNotMatch", "MetagenerationMatch", "MetagenerationNotMatch")


class NotModified(ApiError):
    """A failed *NotMatch precondition or If-None-Match: 304 with no body (routes.py answers it)."""

    def __init__(self, message: str) -> None:
        super().__init__(304, message, "FAILED_PRECONDITION")


def parse_int(query: Mapping[str, str], key: str, minimum: int | None = None) -> int | None:
    """An int64 query parameter (generations, preconditions, maxResults); 400 unless ASCII digits in range."""
    text = query.get(key)
    if text is None:
        return None
    value = int64(text)
    if value is None:
        raise ApiError(400, f"{key} must be a 64-bit integer, got {text[:40]!r}")
    if minimum is not None and value < minimum:
        raise ApiError(400, f"{key} must be at least {minimum}, got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class Preconditions:
    generation_match: int | None = None
    generation_not_match: int | None = None
    metageneration_match: int | None = None
    metageneration_not_match: int | None = None
    label: str = "if"  # "ifSource" for the source of a copy, rewrite or compose

    @classmethod
    def from_query(cls, query: Mapping[str, str], prefix: str = "if") -> Preconditions:
        return cls(*(parse_int(query, prefix + name) for name in NAMES), label=prefix)

    @classmethod
    def from_body(cls, body: object, label: str) -> Preconditions:
        """`objectPreconditions` of a compose source: only ifGenerationMatch exists there."""
        if body is None:
            return cls(label=label)
        if not isinstance(body, dict) or set(body) - {"ifGenerationMatch"}:
            raise ApiError(400, f"{label}: objectPreconditions takes only ifGenerationMatch")
        return cls.from_query({k: str(v) for k, v in body.items()}, "if")

    def check(self, current: ObjectRecord | None, what: str) -> None:
        """Raise 412 or 304 unless `current` (None: no such object) meets every precondition."""
        generation = current.generation if current else 0
        metageneration = current.metageneration if current else 0
        if self.generation_match is not None and self.generation_match != generation:
            self._failed(412, "GenerationMatch", self.generation_match, what, generation)
        if self.metageneration_match is not None and self.metageneration_match != metageneration:
            self._failed(412, "MetagenerationMatch", self.metageneration_match, what, metageneration)
        not_match = self.generation_not_match
        if not_match is not None and ((not_match == 0 and current is None) or (not_match and not_match == generation)):
            self._failed(304, "GenerationNotMatch", not_match, what, generation)
        meta_not = self.metageneration_not_match
        if meta_not is not None and current is not None and meta_not == metageneration:
            self._failed(304, "MetagenerationNotMatch", meta_not, what, metageneration)

    def _failed(self, code: int, name: str, wanted: int, what: str, actual: int) -> None:
        state = (
            f"is at {name.removesuffix('NotMatch').removesuffix('Match').lower()} {actual}"
            if actual
            else "does not exist"
        )
        message = f"{self.label}{name}={wanted} failed: {what} {state}"
        raise NotModified(message) if code == 304 else ApiError(412, message)


def check_etag(headers: Mapping[str, str], etag: str) -> None:
    """If-Match / If-None-Match on reads (the client's if_etag_match / if_etag_not_match)."""
    wanted = headers.get("if-match")
    if wanted is not None and etag not in [tag.strip().strip('"') for tag in wanted.split(",")] and wanted != "*":
        raise ApiError(412, f"If-Match {wanted!r} failed: the object's ETag is {etag!r}")
    unwanted = headers.get("if-none-match")
    if unwanted is not None and (unwanted == "*" or etag in [tag.strip().strip('"') for tag in unwanted.split(",")]):
        raise NotModified(f"If-None-Match {unwanted!r}: the object's ETag is still {etag!r}")
