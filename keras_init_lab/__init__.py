"""keras-init-lab: see and diagnose weight initialization and activation functions in Keras 3.

Importing the package registers its initializer and activation names with Keras, so
``keras.layers.Dense(8, kernel_initializer="he_avg_normal")`` and
``keras.layers.Dense(8, activation="gelu_tanh")`` work. Names that Keras already defines keep
Keras's meaning inside Keras (see ``initializers`` and ``activations``).

Public face only: implementations live in the submodules.
"""

from keras_init_lab import activations, callbacks, experiments, initializers, plots
from keras_init_lab.diagnostics import check_model
from keras_init_lab.fans import calculate_gain, compute_fans
from keras_init_lab.lsuv import lsuv

__version__ = "0.1.0"

__all__ = [
    "activations",
    "calculate_gain",
    "callbacks",
    "check_model",
    "compute_fans",
    "experiments",
    "initializers",
    "lsuv",
    "plots",
]
