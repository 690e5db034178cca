"""NumPy versions of the activations, in float64: what Gaussian expectations integrate.

Each facts row points at one of these (``ActivationSpec.numpy_function``): the gain table of
:mod:`keras_init_lab.fans` (elu, gelu, swish) and ``check_model``'s predictions evaluate them
on a quadrature grid, without TensorFlow and without float32 rounding. The tests check every
one against its Keras twin in ``_functions``.

This module imports only ``_constants`` (and NumPy), so :mod:`keras_init_lab.fans`, which the
rest of the package imports, can read it without a circle.

Example:
    >>> [float(v) for v in relu(np.array([-1.0, 2.0]))]
    [0.0, 2.0]
    >>> round(float(gelu(np.array(1.0))), 4)
    0.8413
"""

from __future__ import annotations

import math

import numpy as np

from keras_init_lab.activations._constants import (
    GELU_CUBIC,
    INV_SQRT_2,
    SELU_ALPHA,
    SELU_SCALE,
    SQRT_2_OVER_PI,
)

__all__ = [
    "elu",
    "gelu",
    "gelu_tanh",
    "leaky_relu",
    "linear",
    "relu",
    "selu",
    "sigmoid",
    "softmax",
    "step",
    "swish",
    "tanh",
]

#: ``math.erfc`` elementwise (NumPy has no erfc; SciPy is only a test dependency).
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _float(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def linear(x) -> np.ndarray:
    """``f(x) = x``."""
    return _float(x)


def step(x) -> np.ndarray:
    """``H(x)``: 1 for x > 0, 0 for x < 0, 1/2 at 0 (``numpy.heaviside(x, 0.5)``)."""
    return np.heaviside(_float(x), 0.5)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, written with ``exp(-|x|)`` so neither tail overflows."""
    x = _float(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x) -> np.ndarray:
    """``tanh(x)``."""
    return np.tanh(_float(x))


def relu(x) -> np.ndarray:
    """``max(0, x)``."""
    return np.maximum(_float(x), 0.0)


def leaky_relu(x, negative_slope: float) -> np.ndarray:
    """``x if x > 0 else a x`` with ``a = negative_slope``."""
    x = _float(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x) -> np.ndarray:
    """``x if x > 0 else exp(x) - 1`` (alpha = 1; ``expm1`` keeps small negatives exact)."""
    x = _float(x)
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def selu(x) -> np.ndarray:
    """``lambda (x if x > 0 else alpha (exp(x) - 1))`` with Klambauer et al.'s constants."""
    x = _float(x)
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def gelu(x) -> np.ndarray:
    """``x Phi(x) = x/2 erfc(-x / sqrt(2))``, exact."""
    x = _float(x)
    return 0.5 * x * _erfc(-x * INV_SQRT_2)


def gelu_tanh(x) -> np.ndarray:
    """``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    x = _float(x)
    return 0.5 * x * (1.0 + np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3)))


def swish(x) -> np.ndarray:
    """``x sigmoid(x)`` (SiLU)."""
    x = _float(x)
    return x * sigmoid(x)


def softmax(x, axis: int = -1) -> np.ndarray:
    """``exp(x_i - max x) / sum_j exp(x_j - max x)`` over ``axis``."""
    x = _float(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
