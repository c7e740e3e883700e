"""The training input pipeline: in-memory arrays, reshuffled every epoch, each image randomly shifted and rotated.

Augmentation is one bilinear resampling per image (a shift and a rotation composed into one affine transform) in
tf.data's parallel map, where it overlaps the training step. Keras' RandomTranslation and RandomRotation layers
resampled twice and drew from a shared random state; here each batch draws from its own stateless seed, so the
same seed gives the same images whatever the threads do.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

MAX_SHIFT = 0.08  # of the image's side, each way (2.2 pixels on MNIST), as RandomTranslation(0.08) drew
MAX_ROTATION = 0.04 * 2 * math.pi  # radians each way (14.4 degrees), as RandomRotation(0.04) drew


def training_batches(x: np.ndarray, y: np.ndarray, seed: int, global_batch: int, augment: bool) -> tf.data.Dataset:
    """One epoch of shuffled (x, y) batches per iteration, augmented when `augment`; a new order every epoch."""
    batches = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(global_batch)
    if augment:
        # A new pair of seeds per batch and per epoch, the same pairs for the same seed.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip(batches, seeds).map(
            lambda batch, pair: (shift_and_rotate(batch[0], pair), batch[1]), num_parallel_calls=tf.data.AUTOTUNE
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def shift_and_rotate(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each [n, height, width] image shifted by up to MAX_SHIFT and rotated by up to MAX_ROTATION about its
    centre, edges filled with zeros (the background), in one bilinear resampling."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    angle = tf.random.stateless_uniform([count], seed, -MAX_ROTATION, MAX_ROTATION)
    limit = tf.constant([MAX_SHIFT * width, MAX_SHIFT * height])
    shift = tf.random.stateless_uniform([count, 2], seed + 1, -1.0, 1.0) * limit
    transforms = inverse_maps(angle, shift, ((width - 1) / 2, (height - 1) / 2))
    moved = keras.ops.image.affine_transform(images[..., None], transforms, fill_mode="constant")
    return moved[..., 0]


def inverse_maps(angle: tf.Tensor, shift: tf.Tensor, centre: tuple[float, float]) -> tf.Tensor:
    """The [n, 8] projective transforms that rotate by `angle` about `centre`, then move by `shift` (x, y).

    affine_transform wants the map from each output pixel back to the input: x_in = a0 x + a1 y + a2,
    y_in = b0 x + b1 y + b2, the last two entries 0 (no perspective).
    """
    cos, sin = tf.cos(angle), tf.sin(angle)
    x0, y0 = centre[0] + shift[:, 0], centre[1] + shift[:, 1]  # where the centre lands
    zeros = tf.zeros_like(angle)
    rows = [cos, sin, centre[0] - cos * x0 - sin * y0, -sin, cos, centre[1] + sin * x0 - cos * y0, zeros, zeros]
    return tf.stack(rows, axis=1)
