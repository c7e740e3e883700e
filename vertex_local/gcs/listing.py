"""objects.list: prefix, delimiter, offsets, versions, matchGlob, context filters and pages, straight from the catalog.

Rules: https://cloud.google.com/storage/docs/json_api/v1/objects/list; glob syntax:
https://cloud.google.com/storage/docs/json_api/v1/objects/list#list-object-glob; filters on object contexts:
https://cloud.google.com/storage/docs/listing-objects#filter-by-object-contexts. Items and prefixes both count
toward maxResults; once a prefix is reported the scan jumps past every name under it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from vertex_local.errors import ApiError
from vertex_local.gcs.catalog import ObjectRecord
from vertex_local.gcs.preconditions import parse_int
from vertex_local.gcs.store import ObjectStore

MAX_RESULTS = 1000
BATCH = 256
PAST = "\U0010ffff"  # sorts after every character a name under a prefix can continue with
CONTEXT_FILTER = re.compile(r'(-?)contexts\."([^"]+)"(?:="([^"]*)"|:\*)')
NOT_IMPLEMENTED = ("includeFoldersAsPrefixes", "softDeleted")


class Entries:
    """Catalog rows under a prefix, in (name, generation) order, read in batches, with a seek."""

    def __init__(self, store: ObjectStore, bucket: str, prefix: str, versions: bool, after: tuple[str, int]) -> None:
        self.store, self.bucket, self.prefix, self.versions = store, bucket, prefix, versions
        self.after, self.batch = after, list[ObjectRecord]()

    def seek(self, after: tuple[str, int]) -> None:
        self.after, self.batch = max(self.after, after), []

    def next(self) -> ObjectRecord | None:
        if not self.batch:
            self.batch = self.store.catalog.scan(self.bucket, self.prefix, self.after, self.versions, BATCH)[::-1]
        if not self.batch:
            return None
        found = self.batch.pop()
        self.after = (found.name, found.generation)
        return found


def glob_set(body: str) -> str:
    """A [..] or [!..] set of matchGlob as a regex character class."""
    negate, chars = body.startswith("!"), body.removeprefix("!")
    return ("[^" if negate else "[") + re.escape(chars).replace("\\-", "-") + "]"


def glob_regex(glob: str) -> str:
    """matchGlob as a regular expression: ** spans '/', * and ? do not, [..] / [!..] sets, {a,b} alternatives."""
    out, i = [], 0
    while i < len(glob):
        for token, regex in (("**/", "(?:.*/)?"), ("**", ".*"), ("*", "[^/]*"), ("?", "[^/]")):
            if glob.startswith(token, i):
                out.append(regex)
                i += len(token)
                break
        else:
            if glob[i] in "{[":
                close = glob.find("}" if glob[i] == "{" else "]", i + (1 if glob[i] == "{" else 2))
                if close == -1:
                    raise ApiError(400, f"matchGlob {glob!r} has an unclosed {glob[i]!r}")
                body = glob[i + 1 : close]
                alternatives = "(?:" + "|".join(glob_regex(part) for part in body.split(",")) + ")"
                out.append(alternatives if glob[i] == "{" else glob_set(body))
                i = close + 1
            else:
                out.append(re.escape(glob[i]))
                i += 1
    return "".join(out)


def context_filter(text: str) -> Callable[[ObjectRecord], bool]:
    match = CONTEXT_FILTER.fullmatch(text.strip())
    if match is None:
        supported = 'contexts."KEY"="VALUE" and contexts."KEY":*, each optionally negated with a leading \'-\''
        raise ApiError(400, f"filter {text!r}: vertex-local supports {supported}")
    negate, key, value = match.groups()

    def matches(record: ObjectRecord) -> bool:
        found = record.meta.get("contexts", {}).get("custom", {}).get(key)
        hit = found is not None and (value is None or found["value"] == value)
        return hit != bool(negate)

    return matches


def page_token(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def parse_token(token: str) -> tuple[str, int]:
    try:
        name, generation = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(name), int(generation)
    except (ValueError, TypeError):
        raise ApiError(400, f"pageToken {token[:50]!r} is not one this server handed out") from None


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """objects.list's parameters, checked."""

    prefix: str
    delimiter: str
    size: int
    end: str | None
    trailing: bool
    versions: bool
    after: tuple[str, int]  # start past this (name, generation)
    keep: Callable[[ObjectRecord], bool]  # matchGlob and filter

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ListQuery:
        for param in NOT_IMPLEMENTED:
            if query.get(param, "false").lower() == "true":
                raise ApiError(400, f"{param} is not implemented by vertex-local (no managed folders, no soft delete)")
        size = min(parse_int(query, "maxResults", minimum=0) or MAX_RESULTS, MAX_RESULTS)
        prefix = query.get("prefix", "")
        after = max((query.get("startOffset", ""), -1), (prefix, -1))
        if query.get("pageToken"):
            after = max(after, parse_token(query["pageToken"]))
        glob = re.compile(glob_regex(query["matchGlob"])) if query.get("matchGlob") else None
        wanted = context_filter(query["filter"]) if query.get("filter") else None

        def keep(record: ObjectRecord) -> bool:
            return (glob is None or bool(glob.fullmatch(record.name))) and (wanted is None or wanted(record))

        flag = {key: query.get(key, "false").lower() == "true" for key in ("includeTrailingDelimiter", "versions")}
        return cls(prefix, query.get("delimiter", ""), size, query.get("endOffset"),
                   flag["includeTrailingDelimiter"], flag["versions"], after, keep)  # fmt: skip


def list_objects(store: ObjectStore, bucket: str, query: Mapping[str, str]) -> dict[str, Any]:
    """One page of objects.list; blocking."""
    wanted = ListQuery.parse(query)
    store.bucket(bucket)
    entries = Entries(store, bucket, wanted.prefix, wanted.versions, wanted.after)
    items, prefixes, last = [], [], wanted.after
    while len(items) + len(prefixes) < wanted.size:
        record = entries.next()
        if record is None or (wanted.end is not None and record.name >= wanted.end):
            return {"items": items, "prefixes": prefixes}
        if not wanted.keep(record):
            continue
        cut = record.name.find(wanted.delimiter, len(wanted.prefix)) if wanted.delimiter else -1
        if cut == -1:
            items.append(record)
            last = (record.name, record.generation)
            continue
        folder = record.name[: cut + len(wanted.delimiter)]
        prefixes.append(folder)
        if wanted.trailing and record.name == folder:
            items.append(record)
        last = (folder + PAST, 1 << 62)  # past every name under the folder
        entries.seek(last)
    following = entries.next()
    more = following is not None and (wanted.end is None or following.name < wanted.end)
    return {"items": items, "prefixes": prefixes, **({"nextPageToken": page_token(last)} if more else {})}
