"""The console's test digits are real held-out MNIST digits: the first of each class in mnist-sample's test split.

Regenerate vertex_local/console/static/digits.json (after a change to trainer.data's split) with:
    .venv/bin/python -m tests.vertex_local.console.test_digits
"""

from __future__ import annotations

import base64
import json

import numpy as np

from tests.support.console import DIGITS_FILE

SOURCE = "mnist-sample test split (seed 42): the first digit of each class"


def expected_digits() -> dict:
    from trainer.data import load_dataset

    _, (images, labels) = load_dataset("mnist-sample", seed=42)
    firsts = [int(np.flatnonzero(labels == digit)[0]) for digit in range(10)]
    pixels = [np.rint(images[index] * 255).astype(np.uint8) for index in firsts]
    return {
        "source": SOURCE,
        "digits": [
            {"label": int(labels[index]), "index": index, "pixels": base64.b64encode(image.tobytes()).decode()}
            for index, image in zip(firsts, pixels, strict=True)
        ],
    }


def test_the_console_test_digits_are_the_held_out_mnist_digits_they_claim_to_be() -> None:
    shipped = json.loads(DIGITS_FILE.read_text(encoding="utf-8"))
    assert shipped == expected_digits(), "regenerate with: python -m tests.vertex_local.console.test_digits"
    assert [digit["label"] for digit in shipped["digits"]] == list(range(10))


if __name__ == "__main__":
    DIGITS_FILE.write_text(json.dumps(expected_digits(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {DIGITS_FILE}")
