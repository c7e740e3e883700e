"""InstancesParser: predict bodies to float32 images, by simdjson's fast path or the orjson reference path.

The fast path must give bit for bit the array the orjson path gives, or step aside so that path answers
(with its error message); a differential test holds the two against each other on generated bodies.

Run: .venv/bin/pytest tests/vertex_local/serving/test_instances.py
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_config import Serving, load_config
from tests.support import fuzz_strategies
from tests.support.instance_bodies import edge_bodies
from vertex_local.errors import ApiError
from vertex_local.serving.instances import InstancesParser, parse_with_orjson

DIFFERENTIAL_EXAMPLES = 3000
MIN_FAST_SHARE = 0.1  # of the generated bodies; fewer would mean the generator stopped reaching the fast path


def limits(**changes: Any) -> Serving:
    return dataclasses.replace(load_config("local", environ={}).serving, **changes)


IMAGE = [[0.5] * 28] * 28
VALID_BODIES = [
    ({"instances": [IMAGE]}, 1),
    ({"instances": [IMAGE, IMAGE, IMAGE]}, 3),
    ({"instances": [{"image": IMAGE}, {"image": IMAGE}]}, 2),
    ({"instances": [[[255] * 28] * 28]}, 1),  # integers, as raw pixels
    ({"instances": [IMAGE], "parameters": {}}, 1),
]


@pytest.mark.parametrize(("payload", "count"), VALID_BODIES)
def test_parse_accepts_rows_objects_and_integers(payload: dict, count: int) -> None:
    images = InstancesParser(limits()).parse(orjson.dumps(payload))
    assert images.shape == (count, 28, 28) and images.dtype == np.float32


def deep(levels: int) -> list:
    nested: list = [0.5]
    for _ in range(levels):
        nested = [nested]
    return nested


BAD_BODIES = [
    (b"", "not valid JSON"),
    (b'{"instances": [', "not valid JSON"),
    (b'{"instances": [[[NaN]]]}', "not valid JSON"),
    (b'{"instances": [[[Infinity]]]}', "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"instances"', "must be a JSON object"),
    (b"{}", "non-empty list"),
    (b'{"instances": []}', "non-empty list"),
    (b'{"instances": "image"}', "non-empty list"),
    (b'{"instances": {"image": []}}', "non-empty list"),
    (orjson.dumps({"instances": [[[0.5] * 27] * 28]}), "(shape [n, 28, 28]), got shape [1, 28, 27]"),
    (orjson.dumps({"instances": [[0.5] * 784]}), "got shape [1, 784]"),
    (orjson.dumps({"instances": [0.5]}), "got shape [1]"),
    (orjson.dumps({"instances": [[*IMAGE[:27], [0.5] * 3]]}), "ragged"),
    (orjson.dumps({"instances": [[["a"] * 28] * 28]}), "must all be numbers"),
    (orjson.dumps({"instances": [[[None] * 28] * 28]}), "must all be numbers"),
    (orjson.dumps({"instances": [[[True] * 28] * 28]}), "must all be numbers"),
    (orjson.dumps({"instances": [[[1e300] * 28] * 28]}), "finite float32"),
    (orjson.dumps({"instances": [{"pixels": IMAGE}]}), "every instance is {'image'"),
    (orjson.dumps({"instances": [{"image": IMAGE, "extra": 1}]}), "every instance is {'image'"),
    (orjson.dumps({"instances": [{"image": IMAGE}, IMAGE]}), "instance 1 is list"),
    (orjson.dumps({"instances": [IMAGE] * 257}), "257 instances in one request, more than the 256"),
    (orjson.dumps({"instances": [[[[0.5]] * 28] * 28]}), "nested 4 levels deep"),
    (orjson.dumps({"instances": deep(60)}), "nested 61 levels deep"),
    (orjson.dumps({"instances": deep(100)}), "ragged or nested too deeply"),
    (b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}", "not valid JSON"),
    (b"x" * 1_572_865, "more than the 1572864 allowed"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m for _, m in BAD_BODIES])
def test_parse_refuses_bad_bodies_with_a_readable_400(body: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        InstancesParser(limits()).parse(body)
    assert caught.value.code == 400
    assert message in caught.value.message


def outcome(parse: Any, body: bytes) -> tuple:
    """What a parse gives, comparable bit for bit: ("array", shape, float32 bits) or ("error", code, message)."""
    try:
        images = parse(body)
    except ApiError as error:
        return ("error", error.code, error.message)
    return ("array", images.shape, images.dtype.str, images.view(np.uint32).tobytes())


def test_the_fast_path_and_the_orjson_path_give_the_same_array_or_the_same_error() -> None:
    serving = limits(max_instances=3)  # so that 4 images cross the instance limit
    parser, taken = InstancesParser(serving), []

    @settings(max_examples=DIFFERENTIAL_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(body=st.one_of(edge_bodies(), edge_bodies(), edge_bodies(), fuzz_strategies.predict_bodies))
    def compare(body: bytes) -> None:
        reference = outcome(lambda b: parse_with_orjson(b, serving), body)
        fast = parser.plain_rows(body)
        if fast is not None:
            taken.append(body)
            assert outcome(lambda _: fast, body) == reference, body[:300]
        if len(body) <= serving.max_body_bytes:
            assert outcome(parser.parse, body) == reference, body[:300]

    compare()
    assert len(taken) >= DIFFERENTIAL_EXAMPLES * MIN_FAST_SHARE, f"only {len(taken)} bodies took the fast path"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'\xef\xbb\xbf{"instances": ' + json.dumps([[[0.5] * 28] * 28]).encode() + b"}", "simdjson skips a BOM"),
        (json.dumps({"instances": [[[2**53 + 1] * 28] * 28]}).encode(), "past 2**53"),
        (json.dumps({"instances": [[[0.5] * 28] * 28], "parameters": {}}).encode(), "another key"),
        (json.dumps({"instances": [[[0.5] * 29] + [[0.5] * 27] + [[0.5] * 28] * 26]}).encode(), "ragged rows"),
        (json.dumps({"instances": [[[1e39] * 28] * 28]}).encode(), "past float32"),
        (json.dumps({"instances": [{"image": [[0.5] * 28] * 28}]}).encode(), "the object form"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_fast_path_steps_aside_where_the_orjson_path_could_answer_otherwise(body: bytes, why: str) -> None:
    parser = InstancesParser(limits())
    assert parser.plain_rows(body) is None, why
    assert outcome(parser.parse, body) == outcome(lambda b: parse_with_orjson(b, limits()), body)


def test_a_walkthrough_body_of_64_real_digits_takes_the_fast_path(mnist_test_digits) -> None:
    pixels = np.rint(mnist_test_digits[0][:64].astype(np.float64) * 255) / 255  # the walkthrough's test_x / 255.0
    body = json.dumps({"instances": pixels.tolist()}).encode()
    fast = InstancesParser(limits()).plain_rows(body)
    assert fast is not None
    np.testing.assert_array_equal(fast, pixels.astype(np.float32))
    assert outcome(lambda _: fast, body) == outcome(lambda b: parse_with_orjson(b, limits()), body)


def test_one_parser_serves_body_after_body() -> None:
    parser = InstancesParser(limits())
    for value in (0.25, 0.5, 0.75):  # simdjson refuses a new parse while the last document's proxies live
        body = json.dumps({"instances": [[[value] * 28] * 28]}).encode()
        assert parser.plain_rows(body) is not None and parser.parse(body)[0, 0, 0] == np.float32(value)
