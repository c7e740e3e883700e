"""Hypothesis strategies for predict bodies that sit on the edge of InstancesParser's fast path.

Used by tests/vertex_local/serving/test_instances.py. A body is built as images of number tokens, spelled
the ways JSON allows (shortest repr, 17 and 25 significant digits, upper-case exponents, integers), with
values where two float parsers could part ways (float32 midpoints, subnormals, float32's overflow, integers
past 2**53 and 2**64), then maybe broken by one mutation that keeps it plausible: a ragged row with the same
number count, a nested or empty array, another key, a duplicate key, a BOM, the object form, a string.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

F32_MAX = float(np.finfo(np.float32).max)
OVERFLOW_EDGE = F32_MAX + 2.0**103  # half a float32 step past the largest float32: from here on, inf


def float32_midpoint(value: float, ulps: int) -> float:
    """A double `ulps` steps from the midpoint between float32 `value` and the next float32 up."""
    low = np.float32(value)
    middle = (float(low) + float(np.nextafter(low, np.float32(np.inf)))) / 2
    for _ in range(abs(ulps)):
        middle = float(np.nextafter(middle, np.inf if ulps > 0 else -np.inf))
    return middle


below_max32 = st.floats(width=32, allow_nan=False, allow_infinity=False).filter(lambda value: abs(value) < F32_MAX)
fitting = st.one_of(  # values the fast path takes
    st.integers(0, 255).map(lambda pixel: pixel / 255),  # the walkthrough's test_x / 255.0
    st.integers(0, 255),
    below_max32.map(float),
    st.builds(float32_midpoint, below_max32, st.integers(-3, 3)),
    st.floats(min_value=0, max_value=1e-37),  # float32 subnormals and below
    st.integers(-(2**53), 2**53),
    st.sampled_from([F32_MAX, -0.0, 2.0**53, 1e-320]),
)
risky = st.one_of(  # values it leaves to orjson, or that fail both ways
    st.floats(allow_nan=False, allow_infinity=False),  # most of them past float32's range
    st.integers(-(2**64), 2**64),
    st.sampled_from([OVERFLOW_EDGE, float(np.nextafter(OVERFLOW_EDGE, 0)), 2.0**53 + 2, 1e308]),
    st.just(2**60 + 2**36 + 1),  # to float32 directly: 2**60 + 2**37; through a double: 2**60
)
spellings = st.sampled_from(["repr", "e17", "g25", "E+"])


def spell(value: float | int, spelling: str) -> str:
    if isinstance(value, int):
        return str(value)
    if spelling == "e17":
        return f"{value:.16e}"
    if spelling == "g25":
        return f"{value:.25g}"
    if spelling == "E+":
        return f"{value:.8E}"
    return repr(value)


# The strategies a body's draws use are built once, here, not in every draw: hypothesis validates each new strategy
# object before its first draw, which cost more CPU than the drawing (the same objects, so the same bodies are drawn).
palette_values = st.lists(fitting, min_size=1, max_size=12)
one_in_four = st.integers(0, 3)
coin = st.booleans()
seeds = st.integers(0, 2**32 - 1)
image_counts = st.integers(1, 4)


@st.composite
def token_images(draw: st.DrawFn) -> list:
    """1-4 images of 28 x 28 number tokens, picked from a small drawn palette (a 784-token draw is slow)."""
    drawn = draw(palette_values)
    if draw(one_in_four) == 0:  # one body in four also holds a value the fast path leaves to orjson
        drawn.append(draw(risky))
    palette = [spell(value, draw(spellings)) for value in drawn]
    if draw(coin):
        palette += ["0", "0.0"] * 4  # mostly background, as digits are
    rng = np.random.default_rng(draw(seeds))
    count = draw(image_counts)
    picks = rng.integers(0, len(palette), (count, 28, 28))
    return np.array(palette, dtype=object)[picks].tolist()  # as indexing each pick, in one numpy call


def ragged(images: list, rng: np.random.Generator) -> None:
    """One number moves to another row: every count stays the same, the shape does not."""
    rows = [row for image in images for row in image]
    source, target = rng.choice(len(rows), 2, replace=len(rows) < 2)
    rows[target].append(rows[source].pop())


def set_token(images: list, rng: np.random.Generator, token: object) -> None:
    image = images[rng.integers(len(images))]
    image[rng.integers(len(image))][rng.integers(28)] = token


MUTATIONS = ["ragged", "nested", "empty", "string", "true", "null", "key", "duplicate",
             "bom", "objects", "escaped_key", "short_row", "long_row", "trailing", "spaces", "no_images",
             "nested_and_empty"]  # fmt: skip


def encode(value: object, separator: str) -> str:
    if isinstance(value, list):
        try:  # a row of tokens, most of a body, in one join; a list holding lists or numbers below
            return "[" + separator.join(value) + "]"
        except TypeError:
            return "[" + separator.join([encode(item, separator) for item in value]) + "]"
    return value if isinstance(value, str) else str(value)


images_of_tokens = token_images()
mutations = st.sampled_from(["none"] * len(MUTATIONS) + MUTATIONS)
separators = st.sampled_from([",", ", ", ",\n", " ,\t"])


@st.composite
def edge_bodies(draw: st.DrawFn) -> bytes:
    images, mutation = draw(images_of_tokens), draw(mutations)
    rng = np.random.default_rng(draw(seeds))
    separator = draw(separators)
    replacements = {"nested": ["1", "2"], "empty": [], "string": '"0.5"', "true": "true", "null": "null"}
    if mutation == "ragged":
        ragged(images, rng)
    elif mutation in replacements:
        set_token(images, rng, replacements[mutation])
    elif mutation == "nested_and_empty":  # one number fewer here, one more there: the count stays
        set_token(images, rng, [])
        set_token(images, rng, ["1", "2"])
    elif mutation in ("short_row", "long_row"):
        row = images[0][rng.integers(28)]
        row.pop() if mutation == "short_row" else row.append("0")
    instances = encode([] if mutation == "no_images" else images, separator)
    if mutation == "objects":
        instances = "[" + separator.join('{"image": ' + encode(image, separator) + "}" for image in images) + "]"
    key = '"\\u0069nstances"' if mutation == "escaped_key" else '"instances"'
    body = "{" + key + ": " + instances
    body += {"key": ', "parameters": {"x": [1]}', "duplicate": ', "instances": 1'}.get(mutation, "") + "}"
    body = {"bom": "\ufeff" + body, "trailing": body + " 0", "spaces": " \n\t" + body + "\r\n "}.get(mutation, body)
    return body.encode()
