"""Hypothesis strategies for fuzzing vertex-local's HTTP API (used by tests/vertex_local/test_fuzz.py).

Bodies are bytes, built to reach past the first check: malformed and valid-but-wrong JSON, NaN and
Infinity, huge and deeply nested arrays, lone surrogates and other unicode, near-valid images with one
bad pixel, and structured management bodies whose fields take any JSON value.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np
from hypothesis import strategies as st

MAX_BODY_BYTES = 1_572_864  # pipeline.toml [serving] max_body_bytes
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),  # past int64 and uint64
    st.floats(),  # NaN, Infinity, -0.0, subnormals
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
            "",
        ]
    ),
    st.text(PRINTABLE, max_size=40),
)


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON as Python writes it: NaN/Infinity tokens allowed, and lone surrogates kept as bad UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


json_bodies = st.builds(encode, json_values, st.booleans())


@st.composite
def image_batches(draw: st.DrawFn, shapes: list[tuple[int, ...]] | None = None) -> np.ndarray:
    """Random float images (numpy: a 28x28 image is one draw, not 784)."""
    count = draw(st.integers(1, 6))
    shape = draw(st.sampled_from(shapes or [(28, 28)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.random((count, *shape), dtype=np.float32)


def set_leaf(nested: list, path: list[int], value: Any) -> None:
    """Replace the element a path of indexes reaches (clamped to the lists it walks)."""
    for index in path[:-1]:
        if not isinstance(nested, list) or not nested:
            return
        nested = nested[index % len(nested)]
    if isinstance(nested, list) and nested:
        nested[path[-1] % len(nested)] = value


@st.composite
def near_valid_instances(draw: st.DrawFn) -> bytes:
    """Images of a wrong shape, or right-shaped with one bad value, in either instance form."""
    shapes = [(28, 28), (28, 27), (27, 28), (1, 28, 28), (28,), (28, 28, 1), (0,), ()]
    instances: Any = draw(image_batches(shapes)).tolist()
    if draw(st.booleans()):
        bad = draw(st.one_of(scalars, json_values, st.just([0.5] * 28)))
        set_leaf(instances, draw(st.lists(st.integers(0, 40), min_size=1, max_size=4)), bad)
    if draw(st.booleans()):
        key = draw(st.sampled_from(["image", "image", "b64", "", "Image"]))
        instances = [{key: image} for image in instances] if isinstance(instances, list) else instances
    return encode({"instances": instances, **draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2))},
                  draw(st.booleans()))  # fmt: skip


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 200_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    inside = opener * depth + b"0" + closer * depth
    return b'{"instances": [' + inside + b"]}" if draw(st.booleans()) else inside


@st.composite
def huge_arrays(draw: st.DrawFn) -> bytes:
    """Many instances, long rows, or more bytes than the limit: cheap to build, expensive to mishandle."""
    count = draw(st.integers(0, MAX_BODY_BYTES // 2 + 20_000))
    item = draw(st.sampled_from([b"0", b"1e308", b"-0.5", b'"x"', b"null"]))
    items = b",".join([item] * count)
    shape = draw(st.sampled_from(["instances", "row", "images"]))
    if shape == "row":
        return b'{"instances": [[' + items + b"]]}"
    if shape == "images":
        image = b"[" + b",".join([b"[" + b",".join([b"0"] * 28) + b"]"] * 28) + b"]"
        return b'{"instances": [' + b",".join([image] * min(count, 400)) + b"]}"
    return b'{"instances": [' + items + b"]}"


predict_bodies = st.one_of(
    st.binary(max_size=300),
    json_bodies,
    st.builds(lambda v, a: encode({"instances": v}, a), json_values, st.booleans()),
    near_valid_instances(),
    deep_nesting(),
    huge_arrays(),
    st.sampled_from([b"", b"{", b'{"instances": NaN}', b'{"instances": [Infinity]}', b"\xff\xfe", b"[]"]),
)


def fuzz_id(known: list[str]) -> st.SearchStrategy[str]:
    """Ids and names as path segments: mostly known ones, else unknown numbers or any text, percent-encoded."""
    return _fuzz_id(tuple(known))


@functools.cache
def _fuzz_id(known: tuple[str, ...]) -> st.SearchStrategy[str]:
    # One strategy object per list of ids: hypothesis validates a new object before its first draw, so one built
    # anew in every case (the composite strategies call fuzz_id per case) cost more CPU than drawing from it.
    return st.one_of(
        st.sampled_from(list(known)),
        st.sampled_from(list(known)),
        st.sampled_from(list(known)),
        st.integers(10**7, 10**12).map(str),
        st.text(min_size=1, max_size=30).map(lambda text: quote(text.encode("utf-8", "surrogatepass"), safe="@:")),
    )


def readable(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


filters = st.one_of(
    st.text(max_size=30),
    st.builds(
        '{}{}"{}"'.format,
        st.sampled_from(["display_name", "displayName", "labels.k", 'labels."a b"', "state", "versionId", "x"]),
        st.sampled_from(["=", "!=", ":", "<"]),
        st.text(st.characters(codec="utf-8") | st.sampled_from('\\"*'), max_size=10),
    ),
).map(readable)
query_strings = st.one_of(
    st.dictionaries(st.sampled_from(["filter", "updateMask", "endpointId", "pageSize", "pageToken", "x"]),
                    st.text(max_size=40).map(readable), max_size=3),
    st.builds(lambda f: {"filter": f}, filters),
).map(lambda query: "?" + urlencode(query) if query else "")  # fmt: skip

ODD_SAMPLES = [None, "", [], {}, 0, -1, 2**64, 1.5, True, "x" * 5000, "ü", [None], {"": None},
               "²", "1" * 25, "a\r\nb"]  # fmt: skip
odd_values = st.one_of(scalars, json_values, st.sampled_from(ODD_SAMPLES))


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key or index path inside a JSON template."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths_of(child, (*prefix, key)))
    return found


def fresh(value: Any) -> Any:
    """A private copy of a drawn value: odd_values samples shared lists and dicts, and a later mutation
    must not change the sample itself (hypothesis then sees a different strategy from one case to the next)."""
    return copy.deepcopy(value)


MUTATIONS = st.sampled_from(["drop", "replace", "replace", "add"])
ADDED_KEYS = st.text(max_size=12)


@st.composite
def mutated(draw: st.DrawFn, template: Any, values: st.SearchStrategy[Any] = odd_values) -> Any:
    """A valid template with 0-3 mutations: a field dropped, given any value or an odd one, or a field added."""
    doc = json.loads(json.dumps(template))
    for _ in range(draw(st.integers(0, 3))):
        paths = paths_of(doc)
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths))
        holder = doc
        for step in parents:
            holder = holder[step]
        action = draw(MUTATIONS)
        if action == "drop":
            del holder[key]
        elif action == "replace":
            holder[key] = fresh(draw(values))
        elif isinstance(holder, dict):
            holder[draw(ADDED_KEYS)] = fresh(draw(values))
        else:
            holder.append(fresh(draw(values)))
    return doc


def any_of(*values: Any) -> st.SearchStrategy[Any]:
    """A field's value: one of the meaningful ones, or any JSON at all."""
    return st.one_of(st.sampled_from(values), json_values) if values else json_values


def objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts holding any subset of the fields (missing fields are part of the fuzzing)."""
    return st.fixed_dictionaries({}, optional=fields)
