"""Import TensorFlow with the legacy (tf-keras) Keras that TF Model Optimization requires.

Import `tf` and `keras` from here, never `tensorflow` directly, so that `TF_USE_LEGACY_KERAS=1`
is set before TensorFlow is first imported in the process.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras"]
