"""A predict body's `instances` as float32 [n, 28, 28]: simdjson for plain rows of numbers, orjson for the rest.

Most bodies are `{"instances": [<n images of 28 rows of 28 numbers>]}`. orjson builds a Python float per
pixel and numpy walks them back into an array (on a 64-image body: 5-14 ms, most of a request's time);
simdjson reads the numbers straight into a buffer (about a quarter of that). The fast path answers only
when it is sure the orjson path would give the very same array; anything else (the object form, other
keys, a bad body, a value orjson and simdjson might read apart) goes the orjson way, which owns every error
message. tests/vertex_local/serving/test_instances.py checks both paths agree on generated bodies.
"""

from __future__ import annotations

import re

import numpy as np
import orjson
import simdjson

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.serving.model_server import IMAGE_SHAPE, INPUT_NAME

ROWS, COLUMNS = IMAGE_SHAPE
# numpy turns an all-integer list into int64 and that into float32 in one rounding; simdjson goes through a
# double. The two agree while every integer is exact as a double.
EXACT_INTEGERS = 2.0**53
# simdjson skips a UTF-8 byte order mark that orjson refuses: the fast path wants `{` first.
OPENS_AN_OBJECT = re.compile(rb"[ \t\n\r]*\{")


class InstancesParser:
    """Turns predict bodies into images; holds one simdjson parser, so use it from one thread."""

    def __init__(self, limits: Serving) -> None:
        self.limits = limits
        self._simdjson = simdjson.Parser()

    def parse(self, body: bytes) -> np.ndarray:
        """The body's images, float32 [n, 28, 28]; every bad input is an ApiError 400."""
        limit = self.limits.max_body_bytes
        if len(body) > limit:
            raise ApiError(400, f"request body is {len(body)} bytes, more than the {limit} allowed")
        images = self.plain_rows(body)
        return images if images is not None else parse_with_orjson(body, self.limits)

    def plain_rows(self, body: bytes) -> np.ndarray | None:
        """The images of a body that is exactly {"instances": [<images of 28 x 28 numbers>]}; else None."""
        if not OPENS_AN_OBJECT.match(body):
            return None
        try:
            values = self._numbers_of_plain_rows(body)
        except (ValueError, TypeError, RuntimeError):  # not JSON to simdjson, or not numbers all the way down
            return None
        if values is None or not np.abs(values).max() < EXACT_INTEGERS:  # a NaN cannot come out of JSON
            return None
        with np.errstate(over="ignore"):
            images = values.astype(np.float32)
        if not np.isfinite(images).all():
            return None  # past float32's range: the orjson path says so
        return images.reshape(-1, *IMAGE_SHAPE)

    def _numbers_of_plain_rows(self, body: bytes) -> np.ndarray | None:
        """Every number of the body as float64, if its structure is the plain one. The document's proxies
        die with this frame: simdjson refuses a new parse while any of them is alive."""
        document = self._simdjson.parse(body)
        if not isinstance(document, simdjson.Object) or len(document) != 1 or "instances" not in document:
            return None
        instances = document["instances"]
        if not isinstance(instances, simdjson.Array) or not 0 < len(instances) <= self.limits.max_instances:
            return None
        count = len(instances)
        # The only string is the key, so every "[" opens an array: the list, its images and their rows, no more.
        if body.count(b"[") != 1 + count * (1 + ROWS):
            return None
        for image in instances:
            if not isinstance(image, simdjson.Array) or len(image) != ROWS:
                return None
            for row in image:
                if not isinstance(row, simdjson.Array) or len(row) != COLUMNS:
                    return None
        values = np.frombuffer(instances.as_buffer(of_type="d"), np.float64)  # raises on a non-number
        return values if values.size == count * ROWS * COLUMNS else None


def parse_with_orjson(body: bytes, limits: Serving) -> np.ndarray:
    """The reference path: orjson, then numpy over the nested lists, each mistake a readable 400."""
    try:
        payload = orjson.loads(body)  # refuses NaN and Infinity: they are not JSON
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, 'request body must be a JSON object like {"instances": [...]}')
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise ApiError(400, "'instances' must be a non-empty list of 28x28 images")
    if len(instances) > limits.max_instances:
        raise ApiError(400, f"{len(instances)} instances in one request, more than the {limits.max_instances} allowed")
    return images_array(unwrap_named_inputs(instances))


def unwrap_named_inputs(instances: list) -> list:
    """TF Serving's object form: each instance {"image": <28x28>} names the model's one input."""
    if not isinstance(instances[0], dict):
        return instances
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != {INPUT_NAME}:
            keys = sorted(instance) if isinstance(instance, dict) else type(instance).__name__
            raise ApiError(
                400, f"instance {index} is {keys}: in the object form every instance is {{'image': <28x28>}}"
            )
    return [instance[INPUT_NAME] for instance in instances]


def images_array(instances: list) -> np.ndarray:
    try:
        raw = np.asarray(instances)  # one pass in C: no per-number Python work
    except (ValueError, TypeError, RecursionError):
        raise ApiError(400, "instances are ragged or nested too deeply: each must be 28 rows of 28 numbers") from None
    if raw.dtype.kind not in "iuf":
        raise ApiError(400, "instance values must all be numbers (found strings, booleans, nulls or ragged rows)")
    if raw.ndim > 3:
        raise ApiError(400, f"instances are nested {raw.ndim} levels deep: each must be 28 rows of 28 numbers")
    if raw.shape[1:] != IMAGE_SHAPE:
        raise ApiError(
            400,
            f"each instance must be 28 rows of 28 numbers (shape [n, 28, 28]), got shape {list(raw.shape)}",
        )
    with np.errstate(over="ignore"):
        images = raw.astype(np.float32)
    if not np.isfinite(images).all():
        raise ApiError(400, "instance values must be finite float32 numbers")
    return images
