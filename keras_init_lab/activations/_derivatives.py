"""Analytic derivatives of the activations, written out by hand (not autodiff).

A student can plot ``sigma'(z)`` and see why ``0.25 ** 20 ~ 9.1e-13`` kills the gradient of a
20-layer sigmoid net (lecture 004, other network specifications); the tests check every
derivative against ``tf.GradientTape`` on a grid that includes +-1000, in every float dtype and
under XLA.

Example:
    >>> float(sigmoid_derivative(0.0))
    0.25
"""

from __future__ import annotations

from keras import ops

from keras_init_lab._arrays import check_tensor_input
from keras_init_lab.activations._constants import (
    GELU_CUBIC,
    GELU_TANH_SQUARE_CAP,
    INV_SQRT_2,
    INV_SQRT_2PI,
    PUBLIC_MODULE,
    SELU_ALPHA,
    SELU_SCALE,
    SQRT_2_OVER_PI,
    erfc,
)
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE

__all__ = [
    "elu_derivative",
    "gelu_derivative",
    "gelu_tanh_derivative",
    "leaky_relu_derivative",
    "linear_derivative",
    "relu_derivative",
    "selu_derivative",
    "sigmoid_derivative",
    "softmax_derivative",
    "softmax_jacobian",
    "step_derivative",
    "swish_derivative",
    "tanh_derivative",
]


def linear_derivative(x):
    """``f'(x) = 1``."""
    return ops.ones_like(ops.convert_to_tensor(x))


def step_derivative(x):
    """``H'(x) = 0`` almost everywhere (the Dirac delta at 0 is not a usable gradient)."""
    return ops.zeros_like(ops.convert_to_tensor(x))


def sigmoid_derivative(x):
    """``sigma'(x) = sigma(x) (1 - sigma(x))``: 1/4 at 0, exactly 0 at +-1000."""
    s = ops.sigmoid(x)
    return s * (1.0 - s)


def tanh_derivative(x):
    """``tanh'(x) = 1 - tanh(x)^2``."""
    t = ops.tanh(x)
    return 1.0 - t * t


def relu_derivative(x):
    """``relu'(x) = 1 if x > 0 else 0`` (0 at x = 0, as TensorFlow's ReluGrad)."""
    x = ops.convert_to_tensor(x)
    return ops.cast(ops.greater(x, 0.0), x.dtype)


def leaky_relu_derivative(x, negative_slope=DEFAULT_NEGATIVE_SLOPE):
    """``f'(x) = 1 if x > 0 else a`` (``a`` at x = 0, as TensorFlow's LeakyReluGrad)."""
    x = ops.convert_to_tensor(x)
    return ops.where(ops.greater(x, 0.0), ops.ones_like(x), ops.full_like(x, negative_slope))


def elu_derivative(x):
    """``elu'(x) = 1 if x > 0 else exp(x)``; exp only sees ``min(x, 0)``, so never overflows."""
    x = ops.convert_to_tensor(x)
    return ops.where(ops.greater(x, 0.0), ops.ones_like(x), ops.exp(ops.minimum(x, 0.0)))


def selu_derivative(x):
    """``selu'(x) = lambda if x >= 0 else lambda alpha exp(x)`` (lambda at 0, as TF's SeluGrad)."""
    x = ops.convert_to_tensor(x)
    negative = (SELU_SCALE * SELU_ALPHA) * ops.exp(ops.minimum(x, 0.0))
    return ops.where(ops.greater_equal(x, 0.0), ops.full_like(x, SELU_SCALE), negative)


def gelu_derivative(x):
    """``gelu'(x) = Phi(x) + x phi(x)``; at |x| = 1000 ``phi`` underflows to 0, no NaN."""
    x = ops.convert_to_tensor(x)
    cdf = 0.5 * erfc(-x * INV_SQRT_2)
    density = INV_SQRT_2PI * ops.exp(-0.5 * x * x)
    return cdf + x * density


def gelu_tanh_derivative(x):
    """``f'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)``."""
    x = ops.convert_to_tensor(x)
    square = ops.minimum(ops.square(x), GELU_TANH_SQUARE_CAP)
    t = ops.tanh(x * (SQRT_2_OVER_PI + (SQRT_2_OVER_PI * GELU_CUBIC) * square))
    # Beyond the cap (|x| > 10) 1 - t^2 is exactly 0, so the capped square in the second term
    # changes nothing there and keeps it finite in float16.
    inner_slope = SQRT_2_OVER_PI * (1.0 + (3.0 * GELU_CUBIC) * square)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_slope


def swish_derivative(x):
    """``f'(x) = sigma(x) (1 + x (1 - sigma(x)))``."""
    x = ops.convert_to_tensor(x)
    s = ops.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def softmax_derivative(x, axis=-1):
    """Diagonal of the softmax Jacobian: ``ds_i/dx_i = s_i (1 - s_i)``."""
    s = ops.softmax(x, axis=axis)
    return s * (1.0 - s)


def softmax_jacobian(x):
    """Full Jacobian of :func:`softmax` over the last axis: ``J_ij = s_i (delta_ij - s_j)``.

    Formula: ``J = diag(s) - s s^T`` for each row of ``x``.

    Example:
        >>> J = softmax_jacobian([[0.0, 0.0]])
        >>> [[float(v) for v in row] for row in J[0]]
        [[0.25, -0.25], [-0.25, 0.25]]

    Args:
        x: logits of shape ``(..., k)``.

    Returns:
        A tensor of shape ``(..., k, k)``.

    Reference:
        Bridle 1990; Goodfellow, Bengio & Courville, "Deep Learning", section 6.2.2.3.
    """
    check_tensor_input("x", x)
    s = ops.softmax(ops.convert_to_tensor(x), axis=-1)
    k = ops.shape(s)[-1]
    eye = ops.eye(k, dtype=s.dtype)
    return s[..., :, None] * eye - s[..., :, None] * s[..., None, :]


softmax_jacobian.__module__ = PUBLIC_MODULE
