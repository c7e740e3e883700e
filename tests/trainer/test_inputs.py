"""The training input pipeline: every digit once per epoch, a new order and new shifts each epoch, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from trainer.data import load_dataset
from trainer.inputs import MAX_ROTATION, MAX_SHIFT, shift_and_rotate, training_batches

CENTRE = (13.5, 13.5)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    (x, y), _ = load_dataset("mnist-sample", seed=42)
    return x[:640], y[:640]


def one_epoch(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def dot(row: int, column: int) -> tf.Tensor:
    image = np.zeros((1, 28, 28), np.float32)
    image[0, row, column] = 1.0
    return tf.constant(image)


def moved(image: tf.Tensor, angle: float, shift: tuple[float, float]) -> list[tuple[int, int]]:
    """Where a one-pixel image's pixel lands under the pipeline's transform, as (row, column)."""
    import keras

    from trainer.inputs import inverse_maps

    transforms = inverse_maps(tf.constant([angle]), tf.constant([shift]), CENTRE)
    out = keras.ops.image.affine_transform(image[..., None], transforms, interpolation="nearest")
    return [tuple(int(v) for v in point) for point in np.argwhere(np.asarray(out)[0, ..., 0] > 0.5)]


@pytest.mark.parametrize(
    "angle, shift, expected",
    [
        (0.0, (0.0, 0.0), [(5, 20)]),  # nothing moves
        (0.0, (2.0, 3.0), [(8, 22)]),  # x is the column, y the row
        (math.pi / 2, (0.0, 0.0), [(20, 22)]),  # a quarter turn about the centre (13.5, 13.5)
        (math.pi, (1.0, 0.0), [(22, 8)]),  # half a turn, then one column right
    ],
)
def test_the_transform_rotates_about_the_centre_then_shifts(angle, shift, expected):
    assert moved(dot(5, 20), angle, shift) == expected


def test_every_digit_comes_once_per_epoch_in_a_new_order_and_newly_shifted(sample):
    x, y = sample
    batches = training_batches(x, y, seed=7, global_batch=64, augment=True)
    first, second = one_epoch(batches), one_epoch(batches)
    for images, labels in (first, second):
        assert images.shape == x.shape and images.dtype == np.float32
        assert sorted(labels.tolist()) == sorted(y.tolist())
        assert images.min() >= 0.0 and images.max() <= 1.0 + 1e-6
    assert not np.array_equal(first[1], second[1])  # reshuffled
    # Shifted and turned by a few pixels and degrees, a digit keeps most of its ink and stays in the frame.
    ink = np.sort(x.sum(axis=(1, 2)))
    for images, _ in (first, second):
        assert np.allclose(np.sort(images.sum(axis=(1, 2))), ink, rtol=0.3)
    plain = one_epoch(training_batches(x, y, seed=7, global_batch=64, augment=False))
    assert np.array_equal(plain[1], first[1])  # augmentation leaves the order alone
    assert not np.allclose(plain[0], first[0], atol=0.05)


def test_the_same_seed_gives_the_same_batches_and_another_seed_others(sample):
    x, y = sample
    again = one_epoch(training_batches(x, y, seed=7, global_batch=64, augment=True))
    same = one_epoch(training_batches(x, y, seed=7, global_batch=64, augment=True))
    other = one_epoch(training_batches(x, y, seed=8, global_batch=64, augment=True))
    assert np.array_equal(again[0], same[0]) and np.array_equal(again[1], same[1])
    assert not np.array_equal(again[1], other[1])


def test_shifts_and_turns_stay_within_their_limits():
    # A dot at the centre ends at most MAX_SHIFT of the side away from it, whatever the angle.
    images = tf.repeat(dot(14, 14), 256, axis=0)
    out = shift_and_rotate(images, tf.constant([3, 4], tf.int64)).numpy()
    rows, columns = np.unravel_index(out.reshape(256, -1).argmax(axis=1), (28, 28))
    assert np.abs(columns - 14).max() <= math.ceil(MAX_SHIFT * 28) + 1
    assert np.abs(rows - 14).max() <= math.ceil(MAX_SHIFT * 28) + 1
    assert len(set(zip(rows.tolist(), columns.tolist(), strict=True))) > 10  # they do move, and differently
    assert 0 < MAX_ROTATION < math.pi / 8  # a 6 must not become a 9
