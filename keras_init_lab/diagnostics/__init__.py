"""``check_model``: find initializer/activation mistakes in a Keras model before training it.

Two kinds of checks, both from the configuration alone (no data, no training step):

1. **Pairing rules** (the course's coherent packages of initializer and activation): zero or
   constant kernels (symmetry, lecture 001, the perceptron and activations), ReLU with
   Glorot in a deep stack and tanh/sigmoid with He (lecture 002, initialization, summary
   table), sigmoid in deep hidden stacks (lecture 004, activation functions: ``0.25^n``),
   softmax in a hidden layer (lecture 003, backpropagation and optimization), leaky ReLU
   without the leaky gain.
2. **Predicted signal**: the variance recursion of lecture 002,
   ``Var(f_k) = fan_in * E[W^2] * E[a(f_{k-1})^2]``, evaluated layer by layer from
   standardized inputs, with the backward gain ``fan_out * E[W^2] * E[a'(f)^2]``. The first
   layer whose predicted pre-activation variance leaves :data:`VARIANCE_BAND` is flagged.

One module per concern: :mod:`.describe` (initializers, activations, layers),
:mod:`.predict` (the signal), :mod:`.rules` (one function per rule), :mod:`.report`
(findings, grouping, printing), :mod:`.check` (``check_model``), :mod:`.loading`
(``check_model_path``, ``load_model_file``).

Example:
    >>> import keras
    >>> from keras_init_lab.diagnostics import check_model
    >>> model = keras.Sequential([keras.Input((20,))]
    ...     + [keras.layers.Dense(64, activation="relu") for _ in range(8)]
    ...     + [keras.layers.Dense(1, activation="sigmoid")])
    >>> print(check_model(model))
"""

import importlib

__all__ = [
    "DEEP_STACK_LAYERS",
    "INPUT_SECOND_MOMENT",
    "SEVERITIES",
    "VARIANCE_BAND",
    "Finding",
    "LayerPrediction",
    "ModelCheck",
    "check_model",
    "check_model_path",
    "load_model_file",
]

#: Where each public name lives. Loaded on first use (PEP 562), so that
#: ``keras_init_lab.diagnostics.loading.check_model_path`` can run without Keras.
_HOMES = {
    "DEEP_STACK_LAYERS": "rules",
    "INPUT_SECOND_MOMENT": "predict",
    "SEVERITIES": "report",
    "VARIANCE_BAND": "report",
    "Finding": "report",
    "LayerPrediction": "report",
    "ModelCheck": "report",
    "check_model": "check",
    "check_model_path": "loading",
    "load_model_file": "loading",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
