"""A predict body's `instances` as float32 [n, *shape] for the deployed model's input: simdjson for plain rows
of numbers, orjson for the rest. The shape and the input's name come from the model's own serving signature
(model_server.InputSpec), as TF Serving reads them, so any task's model is served; MNIST's is the default.

Most bodies are `{"instances": [<n images of 28 rows of 28 numbers>]}`. orjson builds a Python float per
pixel and numpy walks them back into an array (on a 64-image body: 5-14 ms, most of a request's time);
simdjson reads the numbers straight into a buffer (about a quarter of that). The fast path answers only
when it is sure the orjson path would give the very same array; anything else (the object form, other
keys, a bad body, a value orjson and simdjson might read apart) goes the orjson way, which owns every error
message. tests/vertex_local/serving/test_instances.py checks both paths agree on generated bodies.
"""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
import simdjson

from pipeline_config import Serving
from vertex_local.errors import ApiError
from vertex_local.serving.model_server import DEFAULT_INPUT, InputSpec

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

    def parse(self, body: bytes, spec: InputSpec = DEFAULT_INPUT) -> np.ndarray:
        """The body's instances, float32 [n, *spec.shape]; every bad input is an ApiError 400."""
        limit = self.limits.max_body_bytes
        if len(body) > limit:
            raise ApiError(400, f"request body is {len(body)} bytes, more than the {limit} allowed")
        images = self.plain_rows(body, spec)
        return images if images is not None else parse_with_orjson(body, self.limits, spec)

    def plain_rows(self, body: bytes, spec: InputSpec = DEFAULT_INPUT) -> np.ndarray | None:
        """The instances of a body that is exactly {"instances": [<arrays of spec.shape numbers>]}; else None."""
        if not OPENS_AN_OBJECT.match(body):
            return None
        try:
            values = self._numbers_of_plain_rows(body, spec.shape)
        except (ValueError, TypeError, RuntimeError):  # not JSON to simdjson, or not numbers all the way down
            return None
        if values is None or not np.abs(values).max() < EXACT_INTEGERS:  # a NaN cannot come out of JSON
            return None
        with np.errstate(over="ignore"):
            images = values.astype(np.float32)
        if not np.isfinite(images).all():
            return None  # past float32's range: the orjson path says so
        return images.reshape(-1, *spec.shape)

    def _numbers_of_plain_rows(self, body: bytes, shape: tuple[int, ...]) -> np.ndarray | None:
        """Every number of the body as float64, if its structure is the plain one. The document's proxies
        die with this frame: simdjson refuses a new parse while any of them is alive."""
        document = self._simdjson.parse(body)
        if not isinstance(document, simdjson.Object) or len(document) != 1 or "instances" not in document:
            return None
        instances = document["instances"]
        if not isinstance(instances, simdjson.Array) or not 0 < len(instances) <= self.limits.max_instances:
            return None
        count = len(instances)
        # The only string is the key, so every "[" opens an array: the list, its instances and their rows, no more.
        if body.count(b"[") != 1 + count * arrays_per_instance(shape):
            return None
        if not all(has_shape(instance, shape) for instance in instances):
            return None
        values = np.frombuffer(instances.as_buffer(of_type="d"), np.float64)  # raises on a non-number
        return values if values.size == count * math.prod(shape) else None


def arrays_per_instance(shape: tuple[int, ...]) -> int:
    """How many JSON arrays one instance of `shape` opens: itself, its rows, their rows... ([28, 28]: 29)."""
    return sum(math.prod(shape[:depth]) for depth in range(len(shape)))


def has_shape(value: object, shape: tuple[int, ...]) -> bool:
    """Whether a simdjson value is nested arrays of exactly `shape` (the numbers are checked by as_buffer)."""
    if not isinstance(value, simdjson.Array) or len(value) != shape[0]:
        return False
    return len(shape) == 1 or all(has_shape(inner, shape[1:]) for inner in value)


def instance_text(shape: tuple[int, ...]) -> str:
    """An instance of `shape` in words, as the 400s say it: "28 rows of 28 numbers", "13 numbers"."""
    if len(shape) == 1:
        return f"{shape[0]} numbers"
    if len(shape) == 2:
        return f"{shape[0]} rows of {shape[1]} numbers"
    return f"an array of shape {list(shape)}"


def batch_text(shape: tuple[int, ...]) -> str:
    return "[n, " + ", ".join(str(side) for side in shape) + "]"


def parse_with_orjson(body: bytes, limits: Serving, spec: InputSpec = DEFAULT_INPUT) -> np.ndarray:
    """The reference path: orjson, then numpy over the nested lists, each mistake a readable 400."""
    try:
        payload = orjson.loads(body)  # refuses NaN and Infinity: they are not JSON
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, 'request body must be a JSON object like {"instances": [...]}')
    instances = payload.get("instances")
    if not isinstance(instances, list) or not instances:
        raise ApiError(400, f"'instances' must be a non-empty list of {'x'.join(map(str, spec.shape))} instances")
    if len(instances) > limits.max_instances:
        raise ApiError(400, f"{len(instances)} instances in one request, more than the {limits.max_instances} allowed")
    return images_array(unwrap_named_inputs(instances, spec), spec.shape)


def unwrap_named_inputs(instances: list, spec: InputSpec = DEFAULT_INPUT) -> list:
    """TF Serving's object form: each instance {"image": <28x28>} names the model's one input."""
    if not isinstance(instances[0], dict):
        return instances
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != {spec.name}:
            keys = sorted(instance) if isinstance(instance, dict) else type(instance).__name__
            shown = "x".join(str(side) for side in spec.shape)
            raise ApiError(
                400, f"instance {index} is {keys}: in the object form every instance is {{{spec.name!r}: <{shown}>}}"
            )
    return [instance[spec.name] for instance in instances]


def images_array(instances: list, shape: tuple[int, ...] = DEFAULT_INPUT.shape) -> np.ndarray:
    each = instance_text(shape)
    try:
        raw = np.asarray(instances)  # one pass in C: no per-number Python work
    except (ValueError, TypeError, RecursionError):
        raise ApiError(400, f"instances are ragged or nested too deeply: each must be {each}") from None
    if raw.dtype.kind not in "iuf":
        raise ApiError(400, "instance values must all be numbers (found strings, booleans, nulls or ragged rows)")
    if raw.ndim > 1 + len(shape):
        raise ApiError(400, f"instances are nested {raw.ndim} levels deep: each must be {each}")
    if raw.shape[1:] != shape:
        raise ApiError(
            400,
            f"each instance must be {each} (shape {batch_text(shape)}), got shape {list(raw.shape)}",
        )
    with np.errstate(over="ignore"):
        images = raw.astype(np.float32)
    if not np.isfinite(images).all():
        raise ApiError(400, "instance values must be finite float32 numbers")
    return images
