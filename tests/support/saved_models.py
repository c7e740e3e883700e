"""Small SavedModels made in-process for serving tests: a model of another task's input than MNIST's."""

from __future__ import annotations

from pathlib import Path

FEATURES = 13  # the wine task's input width: one row of numbers per instance
CLASSES = 3


def save_feature_model(model_dir: Path) -> Path:
    """A serving_default taking `features` [None, FEATURES] float32 and answering `probabilities` [None, CLASSES]."""
    import tensorflow as tf

    class Flat(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="features")])
        def serve(self, features: tf.Tensor) -> dict:
            return {"probabilities": tf.nn.softmax(features[:, :CLASSES])}

    module = Flat()
    tf.saved_model.save(module, str(model_dir), signatures={"serving_default": module.serve})
    return model_dir
