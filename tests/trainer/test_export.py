"""The SavedModel export: the same artifact as Keras' own ExportArchive.track would give, without its search."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from trainer import export
from trainer.export import export_saved_model
from trainer.model import build_model


def saved_model_layout(model_dir: Path) -> tuple[list, dict[str, bytes], bytes]:
    """(the object graph's nodes and their children, every checkpointed value by key, serving_default's def)."""
    saved = saved_model_pb2.SavedModel.FromString((model_dir / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0]
    nodes = [(node.WhichOneof("kind"), [(c.local_name, c.node_id) for c in node.children])
             for node in graph.object_graph_def.nodes]  # fmt: skip
    reader = tf.train.load_checkpoint(str(model_dir / "variables" / "variables"))
    values = {key: np.asarray(reader.get_tensor(key)).tobytes() for key in reader.get_variable_to_shape_map()}
    return nodes, values, graph.signature_def["serving_default"].SerializeToString()


@pytest.mark.parametrize("name", ["cnn", "baseline"])
def test_the_export_is_what_tracking_the_whole_model_gives(name, tmp_path, monkeypatch):
    keras.utils.set_random_seed(5)
    model = build_model(name, 0.001, 1)
    model(np.zeros((1, 28, 28), np.float32))
    export_saved_model(model, tmp_path / "ours")
    # Keras' own way: ExportArchive.track, with its search for resources.
    monkeypatch.setattr(export, "track_variables", lambda archive, model: archive.track(model))
    export_saved_model(model, tmp_path / "tracked")
    assert saved_model_layout(tmp_path / "ours") == saved_model_layout(tmp_path / "tracked")
    loaded = tf.saved_model.load(str(tmp_path / "ours"))
    assert len(loaded.variables) == len(model.variables) and len(model.variables) > 0


class TableLookup(keras.layers.Layer):
    """A custom layer with a tf.lookup table: only the search finds it."""

    def __init__(self) -> None:
        super().__init__()
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer([0, 1], [5.0, 7.0]), 0.0)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return inputs + self.table.lookup(tf.zeros(tf.shape(inputs)[:1], tf.int32))[:, None, None]


def test_a_model_with_a_custom_layer_is_tracked_in_full(tmp_path):
    image = keras.Input((28, 28), name="image")
    model = keras.Model(image, keras.layers.Softmax()(keras.layers.Flatten()(TableLookup()(image))[:, :10]))
    export_saved_model(model, tmp_path / "model")
    serving = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    assert serving(image=tf.zeros((2, 28, 28)))["probabilities"].shape == (2, 10)
