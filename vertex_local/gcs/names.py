"""Bucket and object names as Cloud Storage checks them, and gs:// URIs.

Names are only ever keys in the catalog (gcs/catalog.py), never paths, so every name Cloud Storage accepts works:
"a" beside "a/b", placeholders ending in "/", segments of any length. What Cloud Storage refuses, vertex-local
refuses with 400, naming the rule.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from vertex_local.errors import ApiError

# https://cloud.google.com/storage/docs/buckets#naming (the rules a new bucket's name must meet)
BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
MAX_BUCKET_COMPONENT = 63
MAX_DOTTED_BUCKET = 222
# https://cloud.google.com/storage/docs/objects#naming
MAX_OBJECT_NAME_BYTES = 1024
ACME_PREFIX = ".well-known/acme-challenge/"


def bucket_name_problem(name: str) -> str | None:
    """Why `name` cannot name a bucket (None when it can)."""
    if not BUCKET_CHARS.fullmatch(name) or len(name) < 3:
        return "use 3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    if "." not in name and len(name) > MAX_BUCKET_COMPONENT:
        return f"a name without dots has at most {MAX_BUCKET_COMPONENT} characters"
    if len(name) > MAX_DOTTED_BUCKET or any(len(part) > MAX_BUCKET_COMPONENT for part in name.split(".")):
        return f"a dotted name has at most {MAX_DOTTED_BUCKET} characters and {MAX_BUCKET_COMPONENT} per component"
    try:
        ipaddress.IPv4Address(name)
        return "a bucket name cannot be an IP address"
    except ValueError:
        pass
    if name.startswith("goog") or "google" in name.replace("0", "o"):
        return "a bucket name cannot start with 'goog' or contain 'google' (or a close misspelling)"
    return None


@functools.lru_cache(maxsize=1024)  # every object request checks its bucket's name: a few names, checked once each
def check_bucket_name(name: str) -> str:
    """The name of a bucket to look up; 400 when no bucket could have it (a refusal is not cached: it raises)."""
    problem = bucket_name_problem(name)
    if problem:
        raise ApiError(400, f"invalid bucket name {name!r}: {problem}")
    return name


def check_new_bucket_name(name: str) -> str:
    """A name for a new bucket: also refused when it holds dots, which Cloud Storage only accepts once the domain
    they spell is verified as yours (https://cloud.google.com/storage/docs/domain-name-verification)."""
    check_bucket_name(name)
    if "." in name:
        raise ApiError(400, f"invalid bucket name {name!r}: dotted names need a verified domain, which vertex-local "
                            "cannot verify; use '-' instead")  # fmt: skip
    return name


def object_name_problem(name: str) -> str | None:
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= MAX_OBJECT_NAME_BYTES:
        return f"an object name is 1-{MAX_OBJECT_NAME_BYTES} bytes of UTF-8, this one is {size}"
    if any(0xD800 <= ord(char) <= 0xDFFF for char in name):
        return "an object name must be valid UTF-8"
    if "\r" in name or "\n" in name:
        return "an object name cannot contain a carriage return or a line feed"
    if name in (".", ".."):
        return "an object name cannot be '.' or '..'"
    if name.startswith(ACME_PREFIX):
        return f"an object name cannot start with {ACME_PREFIX!r}"
    return None


def check_object_name(name: object) -> str:
    if not isinstance(name, str):
        raise ApiError(400, f"an object name must be a string, got {type(name).__name__}")
    problem = object_name_problem(name)
    if problem:
        raise ApiError(400, f"invalid object name {name[:100]!r}: {problem}")
    return name


def split_uri(uri: str) -> tuple[str, str]:
    """gs://BUCKET/NAME -> (BUCKET, NAME), NAME possibly empty (a prefix); ValueError for anything else."""
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    problem = bucket_name_problem(bucket) or (name and object_name_problem(name))
    if problem:
        raise ValueError(f"{uri!r}: {problem}")
    return bucket, name
