"""The numbers every other module of ``activations`` shares, and the one kernel choice (erfc).

The bottom of the package: it imports nothing from ``keras_init_lab``, so the functions, their
derivatives, their NumPy references and the facts table all read their constants from here and
never from each other.

Example:
    >>> round(SELU_SCALE * SELU_ALPHA, 4)   # selu's slope just left of 0, its largest
    1.7581
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
from keras import ops

__all__ = [
    "GELU_CUBIC",
    "GELU_TANH_SQUARE_CAP",
    "INV_SQRT_2",
    "INV_SQRT_2PI",
    "PACKAGE",
    "PUBLIC_MODULE",
    "SELU_ALPHA",
    "SELU_SCALE",
    "SQRT_2_OVER_PI",
    "erfc",
]

#: The package name under which every activation is registered: ``keras_init_lab>gelu_tanh``.
PACKAGE = "keras_init_lab"
#: The module users import the activations from; set as ``__module__`` of every public object
#: so repr, docs and saved configs name the public home, not a private file.
PUBLIC_MODULE = "keras_init_lab.activations"

#: SELU's alpha and scale, the fixed point of Klambauer et al. 2017, eq. 14
#: (https://arxiv.org/abs/1706.02515); the same digits as ``tf.nn.selu`` and ``keras.ops.selu``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: sqrt(2/pi) of the tanh approximation of GELU (Hendrycks & Gimpel 2016, section 2;
#: lecture 004, other network specifications).
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
#: The cubic coefficient of the same approximation (Hendrycks & Gimpel 2016; lecture 004).
GELU_CUBIC = 0.044715
#: 1/sqrt(2): Phi(x) = 0.5 * erfc(-x / sqrt(2)).
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
#: 1/sqrt(2 pi): the standard normal density's constant.
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Cap on x^2 inside the tanh-GELU's cubic: x (1 + 0.044715 min(x^2, 100)). Beyond |x| = 10
#: the tanh argument has magnitude >= sqrt(2/pi) * 10 * (1 + 4.4715) = 43.7, and tanh(u)
#: rounds to exactly +-1 in float64 for |u| > 19.1, so the cap changes no result in any
#: dtype; it keeps x^2 and x^3 finite in float16 (x^2 overflows 65504 for |x| > 256) and
#: avoids the 0 * inf = NaN gradient that ``keras.ops.gelu(approximate=True)`` gives in
#: float16 for |x| > 40. A one-sided cap (one ``minimum``) is cheaper than clipping x.
GELU_TANH_SQUARE_CAP = 100.0


def _tensorflow_erfc(x):
    import tensorflow as tf

    return tf.math.erfc(x)


def _erf_erfc(x):
    return 1.0 - ops.erf(x)


def _choose_erfc() -> Callable:
    """``keras.ops.erfc``, or the best fallback where this Keras lacks it (Keras < 3.9).

    On the TensorFlow backend the fallback is ``tf.math.erfc``, the very kernel
    ``keras.ops.erfc`` calls in newer Keras, so results are identical. Elsewhere it is
    ``1 - erf``, exact for ``x <= 0`` and losing relative (not absolute) accuracy in the right
    tail, i.e. in GELU's far left tail where its value is below 1e-9.
    """
    if hasattr(ops, "erfc"):
        return ops.erfc
    if keras.backend.backend() == "tensorflow":
        return _tensorflow_erfc
    return _erf_erfc


#: The complementary error function used by the exact GELU and its derivative.
erfc = _choose_erfc()
