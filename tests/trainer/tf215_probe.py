"""Run under TensorFlow 2.15: load each SavedModel and write serving_default's output for the given digits.

.venv-tf215/bin/python tests/trainer/tf215_probe.py DIGITS.npy MODEL_DIR OUT.npy [MODEL_DIR OUT.npy ...]

Several models in one run: TensorFlow's import is most of a run's time, and each model is loaded on its own.
"""

import sys

import numpy as np
import tensorflow as tf

digits_path, pairs = sys.argv[1], sys.argv[2:]
digits = tf.constant(np.load(digits_path), tf.float32)
for model_dir, out_path in zip(pairs[::2], pairs[1::2], strict=True):
    serving = tf.saved_model.load(model_dir).signatures["serving_default"]
    outputs = serving(image=digits)
    np.save(out_path, outputs["probabilities"].numpy())
    print(f"tensorflow {tf.__version__}: {model_dir} {outputs['probabilities'].shape}")
