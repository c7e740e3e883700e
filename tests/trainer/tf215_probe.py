"""Run under TensorFlow 2.15: load a SavedModel and write serving_default's output for the given digits.

.venv-tf215/bin/python tests/trainer/tf215_probe.py MODEL_DIR DIGITS.npy OUT.npy
"""

import sys

import numpy as np
import tensorflow as tf

model_dir, digits_path, out_path = sys.argv[1:4]
serving = tf.saved_model.load(model_dir).signatures["serving_default"]
outputs = serving(image=tf.constant(np.load(digits_path), tf.float32))
np.save(out_path, outputs["probabilities"].numpy())
print(f"tensorflow {tf.__version__}: {outputs['probabilities'].shape}")
