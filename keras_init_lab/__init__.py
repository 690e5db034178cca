"""keras-init-lab: see and diagnose weight initialization and activation functions in Keras 3.

Importing the package registers its initializer and activation names with Keras, so
``keras.layers.Dense(8, kernel_initializer="he_avg_normal")`` works. Names that Keras
already defines keep Keras's meaning inside Keras.
"""

from keras_init_lab import activations  # noqa: F401  (registers activation names)
from keras_init_lab import initializers
from keras_init_lab.diagnostics import check_model
from keras_init_lab import experiments  # noqa: F401  (propagate, compare, datasets, models)
from keras_init_lab.fans import calculate_gain, compute_fans
from keras_init_lab.lsuv import lsuv

__version__ = "0.1.0"

__all__ = ["calculate_gain", "check_model", "compute_fans", "initializers", "lsuv"]
