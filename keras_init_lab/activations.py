"""Activation functions with their analytic derivatives and facts, usable in any Keras layer.

Every activation is a plain Keras-serializable function (registered under the package name
``keras_init_lab``), so it works as ``Dense(8, activation=activations.gelu_tanh)``, in
``Conv2D``, in ``keras.layers.Activation``, and a model using it saves to ``.keras`` and loads
in a fresh process after ``import keras_init_lab``. Beside the function, each one carries

* its **derivative**, written out by hand (not autodiff), so a student can plot
  ``sigma'(z)`` and see why ``0.25 ** 20 ~ 9.1e-13`` kills the gradient of a 20-layer sigmoid
  net (seed 004); the tests check every derivative against ``tf.GradientTape``;
* its **facts** (:class:`ActivationSpec`): output range, zero-centred, saturating, maximum
  slope, whether units can die, the recommended initializer and its gain
  (``keras_init_lab.fans.calculate_gain``).

Example:
    >>> import keras
    >>> from keras_init_lab import activations
    >>> layer = keras.layers.Dense(4, activation=activations.leaky_relu)   # slope 0.01
    >>> activations.spec("sigmoid").max_slope
    0.25
    >>> activations.get("silu") is activations.swish
    True

**Names as plain strings.** ``keras.activations.get("name")`` (which every Keras layer calls)
only looks in Keras's own table of activations; registering a function with
``keras.saving.register_keras_serializable`` does not make its *string* name work. Importing
``keras_init_lab`` therefore adds the package's names that Keras does **not** define
(``"step"``, ``"heaviside"``, ``"gelu_tanh"``, ...; see :data:`KERAS_STRING_NAMES`) to that
table, in one guarded place (:func:`register_keras_names`): only if the table exists, never
overriding a Keras name, and checked by reading it back through ``keras.activations.get``.
Names Keras already defines keep **Keras's** meaning as strings: ``Dense(activation="leaky_relu")``
is Keras's leaky ReLU with slope **0.2**, ``"gelu"`` is Keras's exact GELU, ``"relu"`` Keras's
ReLU. To get this package's version pass the function itself
(``activation=keras_init_lab.activations.leaky_relu``, slope 0.01) or resolve the name first
(``activation=keras_init_lab.activations.get("leaky_relu")``).

**Other leaky-ReLU slopes.** :func:`leaky_relu` uses the course's 0.01 (Keras's
``keras.activations.leaky_relu`` defaults to 0.2 and its ``LeakyReLU`` layer to 0.3). For any
other slope use :class:`LeakyReLUActivation` (``activation=LeakyReLUActivation(0.2)``), which
serializes its slope with the model.

**PReLU** (learnable slope) is a layer, not a function: :func:`prelu` returns a
``keras.layers.PReLU`` whose slope starts at 0.01 (Keras's own starts at 0, i.e. as a ReLU).
``spec("prelu")`` describes it; :func:`as_layer` turns any name into a layer.

Reference:
    Course seeds ``004_1ff4b784171ba958.txt`` (table of activations), ``003_f4acee80e076a33a.txt``
    (perceptron, sigmoid, ReLU, leaky ReLU, softmax), ``000_6047279db55f0baf.txt``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import numbers
from typing import Callable

import keras
from keras import ops

from keras_init_lab._names import unknown_name_error
# Default slope of leaky_relu: the course's 0.01 (seed 004: "alpha suele ser 0.01"; seed 003),
# also PyTorch's; one constant for the gain table, the initializers and the activations.
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE

__all__ = [
    "ActivationSpec",
    "KERAS_STRING_NAMES",
    "LeakyReLUActivation",
    "aliases",
    "as_layer",
    "describe",
    "elu",
    "format_table",
    "gelu",
    "gelu_tanh",
    "get",
    "leaky_relu",
    "linear",
    "names",
    "prelu",
    "register_keras_names",
    "relu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softmax_jacobian",
    "spec",
    "step",
    "swish",
    "tanh",
]

_PACKAGE = "keras_init_lab"

# --------------------------------------------------------------------------------------------
# Constants (each says where it comes from)
# --------------------------------------------------------------------------------------------


#: SELU's alpha and scale, the fixed point of Klambauer et al. 2017, eq. 14
#: (https://arxiv.org/abs/1706.02515); the same digits as ``tf.nn.selu`` and ``keras.ops.selu``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: sqrt(2/pi) of the tanh approximation of GELU (Hendrycks & Gimpel 2016, section 2; seed 004).
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
#: The cubic coefficient of the same approximation (Hendrycks & Gimpel 2016; seed 004).
_GELU_CUBIC = 0.044715
#: 1/sqrt(2): Phi(x) = 0.5 * erfc(-x / sqrt(2)).
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
#: 1/sqrt(2 pi): the standard normal density's constant.
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Cap on x^2 inside the tanh-GELU's cubic: x (1 + 0.044715 min(x^2, 100)). Beyond |x| = 10
#: the tanh argument has magnitude >= sqrt(2/pi) * 10 * (1 + 4.4715) = 43.7, and tanh(u)
#: rounds to exactly +-1 in float64 for |u| > 19.1, so the cap changes no result in any
#: dtype; it keeps x^2 and x^3 finite in float16 (x^2 overflows 65504 for |x| > 256) and
#: avoids the 0 * inf = NaN gradient that ``keras.ops.gelu(approximate=True)`` gives in
#: float16 for |x| > 40. A one-sided cap (one ``minimum``) is cheaper than clipping x.
_GELU_TANH_SQUARE_CAP = 100.0


# --------------------------------------------------------------------------------------------
# The activation functions
# --------------------------------------------------------------------------------------------


def _register(function: Callable) -> Callable:
    return keras.saving.register_keras_serializable(package=_PACKAGE)(function)


def _attach_logits(output, logits):
    # Keras's own sigmoid and softmax remember their input so that a cross-entropy loss with
    # from_logits=False can use the logits (numerically stable); do the same, so swapping
    # Keras's function for ours changes nothing in training.
    try:
        output._keras_logits = logits
    except AttributeError:  # a C-type tensor that takes no attributes
        pass
    return output


@_register
def linear(x):
    """Identity: the unit passes its input through.

    Formula: ``f(x) = x``; ``f'(x) = 1``.

    Example:
        >>> float(linear(2.5))
        2.5

    Args:
        x: a tensor.

    Returns:
        ``x`` unchanged.

    Reference:
        Seed 000: without activations the network collapses to one linear map.
    """
    return x


@_register
def step(x):
    """Heaviside step, the perceptron's activation: 1 for x > 0, 0 for x < 0, 1/2 at 0.

    Formula: ``H(x) = (sign(x) + 1) / 2``; ``H'(x) = 0`` for every ``x != 0``.

    Its gradient is zero almost everywhere, which is why a perceptron with a step cannot be
    trained by gradient descent: backpropagation through it returns all-zero gradients
    (written as ``(sign(x) + 1) / 2`` so the gradient is an explicit 0, not a missing one).
    The value 1/2 at 0 is the half-maximum convention, ``numpy.heaviside(x, 0.5)``.

    Example:
        >>> [float(v) for v in step([-2.0, 0.0, 3.0])]
        [0.0, 0.5, 1.0]

    Args:
        x: a float tensor.

    Returns:
        ``H(x)`` with the dtype of ``x``.

    Reference:
        Rosenblatt, "The perceptron", Psychological Review 65(6), 1958; seed 003.
    """
    x = ops.convert_to_tensor(x)
    return (ops.sign(x) + 1.0) * 0.5


@_register
def sigmoid(x):
    """Logistic sigmoid, range (0, 1).

    Formula: ``sigma(x) = 1 / (1 + exp(-x))``; ``sigma'(x) = sigma(x) (1 - sigma(x)) <= 1/4``.

    Saturates at both ends (derivative ~ 0), hence the vanishing gradients of deep sigmoid
    nets: 20 layers multiply at most ``0.25 ** 20 ~ 9.1e-13`` (seed 004). Stable at extreme
    inputs: ``sigmoid(-1000) = 0``, ``sigmoid(1000) = 1``, no NaN. Like Keras's sigmoid it
    remembers its logits, so ``binary_crossentropy(from_logits=False)`` stays stable.

    Example:
        >>> float(sigmoid(0.0))
        0.5

    Args:
        x: a float tensor.

    Returns:
        ``sigma(x)``.

    Reference:
        Seed 004 ("Sigmoid"); Rumelhart, Hinton & Williams, Nature 323, 1986.
    """
    x = ops.convert_to_tensor(x)
    return _attach_logits(ops.sigmoid(x), x)


@_register
def tanh(x):
    """Hyperbolic tangent, range (-1, 1), zero-centred.

    Formula: ``tanh(x) = (e^x - e^-x) / (e^x + e^-x)``; ``tanh'(x) = 1 - tanh(x)^2 <= 1``.

    Example:
        >>> float(tanh(0.0))
        0.0

    Args:
        x: a float tensor.

    Returns:
        ``tanh(x)``.

    Reference:
        LeCun, Bottou, Orr & Mueller, "Efficient BackProp", 1998; seed 004 ("Tanh").
    """
    return ops.tanh(x)


@_register
def relu(x):
    """Rectified linear unit, range [0, inf).

    Formula: ``relu(x) = max(0, x)``; ``relu'(x) = 1 if x > 0 else 0``.

    Does not saturate for large positive inputs, but a unit whose input stays negative gets no
    gradient at all ("dead" unit, seed 004).

    Example:
        >>> [float(v) for v in relu([-1.0, 2.0])]
        [0.0, 2.0]

    Args:
        x: a float tensor.

    Returns:
        ``max(0, x)``.

    Reference:
        Nair & Hinton, ICML 2010; Glorot, Bordes & Bengio, AISTATS 2011.
    """
    return ops.relu(x)


@_register
def leaky_relu(x):
    """Leaky ReLU with negative slope 0.01 (the course's value), range (-inf, inf).

    Formula: ``f(x) = x if x > 0 else 0.01 x``; ``f'(x) = 1 if x > 0 else 0.01``.

    Keras's ``keras.activations.leaky_relu`` defaults to slope 0.2 and its ``LeakyReLU`` layer
    to 0.3; for another slope use ``LeakyReLUActivation(negative_slope)``.

    Example:
        >>> [round(float(v), 4) for v in leaky_relu([-2.0, 3.0])]
        [-0.02, 3.0]

    Args:
        x: a float tensor.

    Returns:
        ``f(x)``.

    Reference:
        Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural Network Acoustic Models",
        ICML 2013; seeds 003 and 004.
    """
    return _leaky_relu(x, DEFAULT_NEGATIVE_SLOPE)


def _leaky_relu(x, negative_slope: float):
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        # TensorFlow's fused LeakyRelu kernel stores its slope as a float32 attribute, so in
        # float64 it would multiply by 0.0099999998 instead of 0.01. float64 is for accuracy,
        # not speed: compute it exactly with a select (same gradient convention at 0).
        return ops.where(ops.greater(x, 0.0), x, x * negative_slope)
    # The fused kernel is 4x faster than a select in eager mode (benchmarks/activations.py).
    return ops.leaky_relu(x, negative_slope=negative_slope)


@_register
def elu(x):
    """Exponential linear unit (alpha = 1), range (-1, inf).

    Formula: ``elu(x) = x if x > 0 else exp(x) - 1``; ``elu'(x) = 1 if x > 0 else exp(x)``.

    Example:
        >>> round(float(elu(-1.0)), 4)
        -0.6321

    Args:
        x: a float tensor.

    Returns:
        ``elu(x)``.

    Reference:
        Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep Network Learning by
        Exponential Linear Units (ELUs)", ICLR 2016, https://arxiv.org/abs/1511.07289.
    """
    return ops.elu(x, alpha=1.0)


@_register
def selu(x):
    """Scaled ELU, the self-normalizing activation, range (-1.7581, inf).

    Formula: ``selu(x) = lambda * (x if x > 0 else alpha (exp(x) - 1))`` with
    ``alpha = 1.6733``, ``lambda = 1.0507`` (:data:`SELU_ALPHA`, :data:`SELU_SCALE`);
    ``selu'(x) = lambda if x > 0 else lambda alpha exp(x)``.

    With LeCun-normal weights, a standard-normal input keeps mean 0 and variance 1 through the
    layers.

    Example:
        >>> round(float(selu(1.0)), 4)
        1.0507

    Args:
        x: a float tensor.

    Returns:
        ``selu(x)``.

    Reference:
        Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017,
        https://arxiv.org/abs/1706.02515.
    """
    return ops.selu(x)


@_register
def gelu(x):
    """Gaussian error linear unit, exact: ``x * Phi(x)`` with the normal CDF, range [-0.17, inf).

    Formula: ``gelu(x) = x Phi(x) = x/2 * erfc(-x / sqrt(2))``;
    ``gelu'(x) = Phi(x) + x phi(x)``, ``phi(x) = exp(-x^2/2) / sqrt(2 pi)``.

    Computed with ``erfc``, which keeps the left tail accurate, and with ``1/sqrt(2)`` in the
    input's own precision: ``tf.nn.gelu`` (behind ``keras.ops.gelu``) rounds that constant to
    float32 first, which costs float64 inputs 6 digits (gelu(-5) off by 4e-7, relatively).

    Example:
        >>> round(float(gelu(1.0)), 4)
        0.8413

    Args:
        x: a float tensor.

    Returns:
        ``gelu(x)``.

    Reference:
        Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)", 2016,
        https://arxiv.org/abs/1606.08415; seed 004.
    """
    x = ops.convert_to_tensor(x)
    return (0.5 * x) * ops.erfc(x * -_INV_SQRT_2)


@_register
def gelu_tanh(x):
    """GELU by its tanh approximation (seed 004; GPT-2, BERT), range [-0.17, inf).

    Formula: ``f(x) = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``;
    ``f'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)``, ``t`` the tanh.

    The cubic is written ``x (1 + 0.044715 min(x^2, 100))``: beyond |x| = 10 the tanh is
    already exactly +-1 in every float format, so values are unchanged while float16 no
    longer overflows ``x^3`` (``keras.ops.gelu(approximate=True)`` has NaN gradients in
    float16 for |x| > 40).

    Example:
        >>> round(float(gelu_tanh(1.0)), 4)
        0.8412

    Args:
        x: a float tensor.

    Returns:
        ``f(x)``.

    Reference:
        Hendrycks & Gimpel 2016, https://arxiv.org/abs/1606.08415, section 2; seed 004
        ("Aproximacion eficiente").
    """
    x = ops.convert_to_tensor(x)
    square = ops.minimum(ops.square(x), _GELU_TANH_SQUARE_CAP)
    # sqrt(2/pi) (x + 0.044715 x^3) with the constants folded: one multiply less per element.
    inner = x * (_SQRT_2_OVER_PI + (_SQRT_2_OVER_PI * _GELU_CUBIC) * square)
    return 0.5 * x * (1.0 + ops.tanh(inner))


@_register
def swish(x):
    """Swish / SiLU, ``x * sigmoid(x)``, range [-0.2785, inf).

    Formula: ``f(x) = x sigma(x)``; ``f'(x) = sigma(x) (1 + x (1 - sigma(x)))``.

    Example:
        >>> round(float(swish(1.0)), 4)
        0.7311

    Args:
        x: a float tensor.

    Returns:
        ``x * sigmoid(x)``.

    Reference:
        Ramachandran, Zoph & Le, "Searching for Activation Functions", 2017,
        https://arxiv.org/abs/1710.05941; Elfwing, Uchibe & Doya, "Sigmoid-Weighted Linear
        Units", 2017, https://arxiv.org/abs/1702.03118.
    """
    return ops.silu(x)


#: SiLU is the same function as swish (Elfwing et al. 2017 named it first); one object, so it
#: serializes as ``keras_init_lab>swish``.
silu = swish


@_register
def softmax(x, axis=-1):
    """Softmax over ``axis``: positive outputs that sum to 1 (a probability distribution).

    Formula: ``s_i = exp(x_i - max(x)) / sum_j exp(x_j - max(x))`` (subtracting the max changes
    nothing mathematically and keeps ``exp`` from overflowing); the Jacobian is
    ``ds_i/dx_j = s_i (delta_ij - s_j)`` (:func:`softmax_jacobian`); its diagonal
    ``s_i (1 - s_i) <= 1/4`` is what ``spec("softmax").derivative`` returns.

    Example:
        >>> [round(float(v), 3) for v in softmax([5.0, 6.0, 11.0, 7.0])]   # seed 003's logits
        [0.002, 0.007, 0.973, 0.018]

    Args:
        x: a float tensor of logits.
        axis: the axis that sums to 1 (default: last).

    Returns:
        The probabilities, same shape as ``x``.

    Reference:
        Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs",
        1990; seed 003.
    """
    x = ops.convert_to_tensor(x)
    return _attach_logits(ops.softmax(x, axis=axis), x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LeakyReLUActivation:
    """Leaky ReLU with any fixed negative slope, as a serializable callable.

    Formula: ``f(x) = x if x > 0 else a x``; ``f'(x) = 1 if x > 0 else a``.

    Example:
        >>> act = LeakyReLUActivation(0.2)           # Keras's leaky_relu default
        >>> layer = keras.layers.Dense(4, activation=act)
        >>> act.get_config()
        {'negative_slope': 0.2}

    Args:
        negative_slope: the slope ``a`` for negative inputs, in [0, 1] (0 is ReLU, 1 is the
            identity). Default 0.01, as :func:`leaky_relu`.

    Reference:
        Maas et al. 2013 (see :func:`leaky_relu`).
    """

    def __init__(self, negative_slope: float = DEFAULT_NEGATIVE_SLOPE):
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, numbers.Real)
            or not 0.0 <= float(negative_slope) <= 1.0
        ):
            raise ValueError(
                "LeakyReLUActivation needs negative_slope, a number in [0, 1] (0 is ReLU, "
                f"0.01 the course's leaky ReLU); received negative_slope={negative_slope!r}."
            )
        self.negative_slope = float(negative_slope)
        self.__name__ = "leaky_relu"

    def __call__(self, x):
        return _leaky_relu(x, self.negative_slope)

    def derivative(self, x):
        """Return ``1`` where ``x > 0`` and ``negative_slope`` elsewhere."""
        return _leaky_relu_derivative(x, self.negative_slope)

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    @classmethod
    def from_config(cls, config: dict) -> "LeakyReLUActivation":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.negative_slope == self.negative_slope

    def __hash__(self) -> int:
        return hash((type(self), self.negative_slope))

    def __repr__(self) -> str:
        return f"LeakyReLUActivation(negative_slope={self.negative_slope!r})"


def prelu(alpha_initializer=DEFAULT_NEGATIVE_SLOPE, **kwargs) -> keras.layers.PReLU:
    """Return a ``keras.layers.PReLU`` (learnable slope) whose slope starts at 0.01.

    Formula: ``f(x) = x if x >= 0 else a x`` with one learnable ``a`` per unit (or per shared
    axis); ``df/dx = 1 if x > 0 else a`` and ``df/da = min(x, 0)``.

    Keras's ``PReLU`` starts every slope at 0, i.e. as a plain ReLU; starting at 0.01 begins
    as the course's leaky ReLU, so no unit is dead at initialization.

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), prelu()])

    Args:
        alpha_initializer: a number (the initial slope, made a ``keras.initializers.Constant``)
            or anything ``keras.layers.PReLU`` accepts (a name, an initializer).
        **kwargs: passed to ``keras.layers.PReLU`` (``shared_axes``, ``alpha_regularizer``,
            ``alpha_constraint``, ``name``...).

    Returns:
        A ``keras.layers.PReLU`` layer.

    Reference:
        He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015,
        https://arxiv.org/abs/1502.01852; seed 004 ("Parametric Leaky ReLU").
    """
    if isinstance(alpha_initializer, bool):
        raise TypeError(
            f"prelu(alpha_initializer=...) takes a number or an initializer; received "
            f"{alpha_initializer!r}. Example: prelu(0.01)."
        )
    if isinstance(alpha_initializer, numbers.Real):
        if not math.isfinite(float(alpha_initializer)):
            raise ValueError(
                f"prelu's initial slope must be finite; received {alpha_initializer!r}. "
                "Example: prelu(0.01)."
            )
        alpha_initializer = keras.initializers.Constant(float(alpha_initializer))
    return keras.layers.PReLU(alpha_initializer=alpha_initializer, **kwargs)


# --------------------------------------------------------------------------------------------
# Analytic derivatives (written out; the tests check each against tf.GradientTape)
# --------------------------------------------------------------------------------------------


def _linear_derivative(x):
    """``f'(x) = 1``."""
    return ops.ones_like(ops.convert_to_tensor(x))


def _step_derivative(x):
    """``H'(x) = 0`` almost everywhere (the Dirac delta at 0 is not a usable gradient)."""
    return ops.zeros_like(ops.convert_to_tensor(x))


def _sigmoid_derivative(x):
    """``sigma'(x) = sigma(x) (1 - sigma(x))``: 1/4 at 0, exactly 0 at +-1000."""
    s = ops.sigmoid(x)
    return s * (1.0 - s)


def _tanh_derivative(x):
    """``tanh'(x) = 1 - tanh(x)^2``."""
    t = ops.tanh(x)
    return 1.0 - t * t


def _relu_derivative(x):
    """``relu'(x) = 1 if x > 0 else 0`` (0 at x = 0, as TensorFlow's ReluGrad)."""
    x = ops.convert_to_tensor(x)
    return ops.cast(ops.greater(x, 0.0), x.dtype)


def _leaky_relu_derivative(x, negative_slope=DEFAULT_NEGATIVE_SLOPE):
    """``f'(x) = 1 if x > 0 else a`` (``a`` at x = 0, as TensorFlow's LeakyReluGrad)."""
    x = ops.convert_to_tensor(x)
    return ops.where(ops.greater(x, 0.0), ops.ones_like(x), ops.full_like(x, negative_slope))


def _elu_derivative(x):
    """``elu'(x) = 1 if x > 0 else exp(x)``; exp only sees ``min(x, 0)``, so never overflows."""
    x = ops.convert_to_tensor(x)
    return ops.where(ops.greater(x, 0.0), ops.ones_like(x), ops.exp(ops.minimum(x, 0.0)))


def _selu_derivative(x):
    """``selu'(x) = lambda if x >= 0 else lambda alpha exp(x)`` (lambda at 0, as TF's SeluGrad)."""
    x = ops.convert_to_tensor(x)
    negative = (SELU_SCALE * SELU_ALPHA) * ops.exp(ops.minimum(x, 0.0))
    return ops.where(ops.greater_equal(x, 0.0), ops.full_like(x, SELU_SCALE), negative)


def _gelu_derivative(x):
    """``gelu'(x) = Phi(x) + x phi(x)``; at |x| = 1000 ``phi`` underflows to 0, no NaN."""
    x = ops.convert_to_tensor(x)
    cdf = 0.5 * ops.erfc(-x * _INV_SQRT_2)
    density = _INV_SQRT_2PI * ops.exp(-0.5 * x * x)
    return cdf + x * density


def _gelu_tanh_derivative(x):
    """``f'(x) = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)``."""
    x = ops.convert_to_tensor(x)
    square = ops.minimum(ops.square(x), _GELU_TANH_SQUARE_CAP)
    t = ops.tanh(x * (_SQRT_2_OVER_PI + (_SQRT_2_OVER_PI * _GELU_CUBIC) * square))
    # Beyond the cap (|x| > 10) 1 - t^2 is exactly 0, so the capped square in the second term
    # changes nothing there and keeps it finite in float16.
    inner_slope = _SQRT_2_OVER_PI * (1.0 + (3.0 * _GELU_CUBIC) * square)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_slope


def _swish_derivative(x):
    """``f'(x) = sigma(x) (1 + x (1 - sigma(x)))``."""
    x = ops.convert_to_tensor(x)
    s = ops.sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _softmax_derivative(x, axis=-1):
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
    s = ops.softmax(ops.convert_to_tensor(x), axis=-1)
    k = ops.shape(s)[-1]
    eye = ops.eye(k, dtype=s.dtype)
    return s[..., :, None] * eye - s[..., :, None] * s[..., None, :]


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------

_INF = math.inf


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
    """One activation's function, derivative and facts.

    Attributes:
        name: canonical name.
        function: the activation (a Keras-serializable callable). For ``prelu``, the leaky
            ReLU it starts as (slope 0.01); :attr:`layer` builds the learnable layer.
        derivative: the analytic derivative, elementwise (for softmax: the Jacobian's
            diagonal; see :func:`softmax_jacobian`).
        output_range: ``(low, high)`` as floats (may be infinite); whether each end is reached
            is in :attr:`range_text`.
        zero_centered: the mean output for a standard-normal input is 0 (|mean| < 0.05).
        saturating: the derivative goes to 0 at **both** ends, so large inputs of either sign
            stop the gradient (sigmoid, tanh, softmax, step); :attr:`saturation` says more.
        max_slope: ``max_x f'(x)`` (sigmoid: 0.25); the per-layer bound on gradient growth.
        can_die: a unit can get stuck where the gradient is exactly 0 for every input
            (ReLU's "dead" units; the step, whose gradient is 0 everywhere).
        recommended_initializer: a name from ``keras_init_lab.initializers.names()``.
        gain: ``calculate_gain(gain_nonlinearity, gain_param)``.
        family: "relu", "sigmoid", "tanh", "linear", "softmax" or "other".
        aliases: other accepted names.
        formula, derivative_formula: the formulas as text.
        range_text: the output range with open/closed ends, e.g. ``"[0, inf)"``.
        saturation: "both sides", "negative side" or "none".
        kind: "function" (usable as ``activation=``) or "layer" (PReLU).
        params: fixed parameters, e.g. ``{"negative_slope": 0.01}``.
        gain_nonlinearity, gain_param: what was passed to ``calculate_gain``.
        keras_equivalent: the Keras call with the same mathematics, if any.
        reference: where the activation comes from.
        notes: anything a student should know (disagreements with the seeds, conventions).
    """

    name: str
    function: Callable
    derivative: Callable
    output_range: tuple
    zero_centered: bool
    saturating: bool
    max_slope: float
    can_die: bool
    recommended_initializer: str
    gain: float
    family: str
    aliases: tuple = ()
    formula: str = ""
    derivative_formula: str = ""
    range_text: str = ""
    saturation: str = "none"
    kind: str = "function"
    params: dict = dataclasses.field(default_factory=dict)
    gain_nonlinearity: str = "linear"
    gain_param: float | None = None
    keras_equivalent: str | None = None
    reference: str = ""
    notes: str = ""

    @property
    def layer(self) -> Callable[[], keras.layers.Layer]:
        """A no-argument factory for this activation as a Keras layer (see :func:`as_layer`)."""
        return functools.partial(as_layer, self.name)

    def as_row(self) -> dict:
        """Return the facts as a plain dict (no callables): one row of :func:`describe`."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "family": self.family,
            "kind": self.kind,
            "formula": self.formula,
            "derivative_formula": self.derivative_formula,
            "output_range": self.output_range,
            "range_text": self.range_text,
            "zero_centered": self.zero_centered,
            "saturating": self.saturating,
            "saturation": self.saturation,
            "max_slope": self.max_slope,
            "can_die": self.can_die,
            "recommended_initializer": self.recommended_initializer,
            "gain": self.gain,
            "gain_nonlinearity": self.gain_nonlinearity,
            "params": dict(self.params),
            "keras_equivalent": self.keras_equivalent,
            "reference": self.reference,
            "notes": self.notes,
        }


# Scalar (pure Python) versions of the smooth functions, used once to locate their minima and
# maximum slopes by golden-section search. The tests check these numbers against sampled grids.
def _phi(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _scalar_gelu(x: float) -> float:
    return 0.5 * x * math.erfc(-x * _INV_SQRT_2)


def _scalar_gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)))


def _scalar_gelu_tanh_slope(x: float) -> float:
    t = math.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
        1.0 + 3.0 * _GELU_CUBIC * x * x
    )


def _scalar_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _scalar_swish(x: float) -> float:
    return x * _scalar_sigmoid(x)


def _scalar_swish_slope(x: float) -> float:
    s = _scalar_sigmoid(x)
    return s * (1.0 + x * (1.0 - s))


def _golden_section_minimum(function: Callable[[float], float], low: float, high: float):
    """Return ``(x, f(x))`` at the minimum of a unimodal ``function`` on ``[low, high]``.

    100 golden-section steps shrink the bracket by 0.618**100 ~ 1e-21: float64-exact.
    """
    ratio = (math.sqrt(5.0) - 1.0) / 2.0  # 1/golden ratio
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(100):
        if function(c) < function(d):
            b, d = d, c
            c = b - ratio * (b - a)
        else:
            a, c = c, d
            d = a + ratio * (b - a)
    x = 0.5 * (a + b)
    return x, function(x)


@functools.lru_cache(maxsize=None)
def _smooth_extrema() -> dict:
    """Minima and maximum slopes of GELU, tanh-GELU and swish, located numerically."""
    # Brackets: each minimum lies in [-3, 0] and each maximum slope in [0, 5] (plots in
    # Hendrycks & Gimpel 2016, fig. 1, and Ramachandran et al. 2017, fig. 4).
    gelu_min = _golden_section_minimum(_scalar_gelu, -3.0, 0.0)[1]
    gelu_tanh_min = _golden_section_minimum(_scalar_gelu_tanh, -3.0, 0.0)[1]
    swish_min = _golden_section_minimum(_scalar_swish, -3.0, 0.0)[1]
    # GELU's maximum slope in closed form: gelu''(x) = phi(x) (2 - x^2) = 0 at x = sqrt(2).
    root2 = math.sqrt(2.0)
    gelu_max_slope = 0.5 * math.erfc(-root2 * _INV_SQRT_2) + root2 * _phi(root2)
    gelu_tanh_max_slope = -_golden_section_minimum(
        lambda x: -_scalar_gelu_tanh_slope(x), 0.0, 5.0
    )[1]
    # Swish: f''(x) = 0 where x tanh(x/2) = 2 (x ~ 2.3994).
    swish_max_slope = -_golden_section_minimum(lambda x: -_scalar_swish_slope(x), 0.0, 5.0)[1]
    return {
        "gelu_min": gelu_min,
        "gelu_tanh_min": gelu_tanh_min,
        "swish_min": swish_min,
        "gelu_max_slope": gelu_max_slope,
        "gelu_tanh_max_slope": gelu_tanh_max_slope,
        "swish_max_slope": swish_max_slope,
    }


def _gain(nonlinearity: str, param: float | None = None) -> float:
    from keras_init_lab.fans import calculate_gain

    return float(calculate_gain(nonlinearity, param))


def _leaky_relu_spec(
    negative_slope: float, function: Callable, name: str = "leaky_relu", **overrides
) -> ActivationSpec:
    derivative = (
        _leaky_relu_derivative
        if negative_slope == DEFAULT_NEGATIVE_SLOPE
        else functools.partial(_leaky_relu_derivative, negative_slope=negative_slope)
    )
    fields = dict(
        name=name,
        function=function,
        derivative=derivative,
        output_range=(-_INF, _INF) if negative_slope > 0 else (0.0, _INF),
        range_text="(-inf, inf)" if negative_slope > 0 else "[0, inf)",
        zero_centered=False,
        saturating=False,
        saturation="none" if negative_slope > 0 else "negative side",
        max_slope=max(1.0, negative_slope),
        can_die=negative_slope == 0,
        recommended_initializer="leaky_he_normal",
        gain=_gain("leaky_relu", negative_slope),
        gain_nonlinearity="leaky_relu",
        gain_param=negative_slope,
        family="relu",
        params={"negative_slope": negative_slope},
        formula=f"x if x > 0 else {negative_slope:g} x",
        derivative_formula=f"1 if x > 0 else {negative_slope:g}",
        keras_equivalent=f"keras.activations.leaky_relu(x, negative_slope={negative_slope:g})",
        reference="Maas, Hannun & Ng, ICML 2013; seeds 003, 004",
        notes=(
            "Keras's leaky_relu defaults to slope 0.2 and its LeakyReLU layer to 0.3; the "
            "course uses 0.01. Negative outputs are tiny, so the mean stays positive "
            "(seed 004: not zero-centred)."
        ),
    )
    fields.update(overrides)
    return ActivationSpec(**fields)


def _build_specs() -> dict:
    """Return ``{canonical name: ActivationSpec}`` in the order of the course."""
    extrema = _smooth_extrema()
    specs = [
        ActivationSpec(
            name="linear",
            aliases=("identity",),
            function=linear,
            derivative=_linear_derivative,
            formula="x",
            derivative_formula="1",
            output_range=(-_INF, _INF),
            range_text="(-inf, inf)",
            zero_centered=True,
            saturating=False,
            max_slope=1.0,
            can_die=False,
            recommended_initializer="glorot_uniform",
            gain=_gain("linear"),
            gain_nonlinearity="linear",
            family="linear",
            keras_equivalent="keras.activations.linear",
            reference="seed 000",
            notes="A stack of linear layers is one linear map (seed 000).",
        ),
        ActivationSpec(
            name="step",
            aliases=("heaviside", "binary_step"),
            function=step,
            derivative=_step_derivative,
            formula="1 if x > 0, 0 if x < 0, 1/2 at 0",
            derivative_formula="0 (almost everywhere)",
            output_range=(0.0, 1.0),
            range_text="[0, 1]",
            zero_centered=False,
            saturating=True,
            saturation="both sides",
            max_slope=0.0,
            can_die=True,
            recommended_initializer="glorot_uniform",
            gain=_gain("linear"),
            gain_nonlinearity="linear",
            family="other",
            reference="Rosenblatt 1958; seed 003",
            notes=(
                "The perceptron's activation. Its gradient is 0 almost everywhere, so gradient "
                "descent cannot train through it (every unit is 'dead'). No variance-preserving "
                "gain exists (the backward signal is 0); the gain shown is the linear one."
            ),
        ),
        ActivationSpec(
            name="sigmoid",
            aliases=("logistic",),
            function=sigmoid,
            derivative=_sigmoid_derivative,
            formula="1 / (1 + exp(-x))",
            derivative_formula="sigmoid(x) (1 - sigmoid(x))",
            output_range=(0.0, 1.0),
            range_text="(0, 1)",
            zero_centered=False,
            saturating=True,
            saturation="both sides",
            # 0.25 = sigma(0)(1 - sigma(0)) = 1/2 * 1/2 (seed 004: sigma'(z) in (0, 0.25]).
            max_slope=0.25,
            can_die=False,
            recommended_initializer="glorot_uniform",
            gain=_gain("sigmoid"),
            gain_nonlinearity="sigmoid",
            family="sigmoid",
            keras_equivalent="keras.activations.sigmoid",
            reference="seed 004; Glorot & Bengio, AISTATS 2010",
            notes=(
                "Output layer for binary / multi-label classification. In hidden layers each "
                "layer multiplies the gradient by at most 0.25: 0.25**20 ~ 9.1e-13 (seed 004)."
            ),
        ),
        ActivationSpec(
            name="tanh",
            function=tanh,
            derivative=_tanh_derivative,
            formula="(e^x - e^-x) / (e^x + e^-x)",
            derivative_formula="1 - tanh(x)^2",
            output_range=(-1.0, 1.0),
            range_text="(-1, 1)",
            zero_centered=True,
            saturating=True,
            saturation="both sides",
            max_slope=1.0,
            can_die=False,
            recommended_initializer="glorot_uniform",
            gain=_gain("tanh"),
            gain_nonlinearity="tanh",
            family="tanh",
            keras_equivalent="keras.activations.tanh",
            reference="LeCun et al., Efficient BackProp, 1998; seed 004",
            notes="Zero-centred, better than sigmoid, but saturates too (seed 004).",
        ),
        ActivationSpec(
            name="relu",
            function=relu,
            derivative=_relu_derivative,
            formula="max(0, x)",
            derivative_formula="1 if x > 0 else 0",
            output_range=(0.0, _INF),
            range_text="[0, inf)",
            zero_centered=False,
            saturating=False,
            saturation="negative side",
            max_slope=1.0,
            can_die=True,
            recommended_initializer="he_normal",
            gain=_gain("relu"),
            gain_nonlinearity="relu",
            family="relu",
            keras_equivalent="keras.activations.relu",
            reference="Nair & Hinton, ICML 2010; He et al., ICCV 2015",
            notes=(
                "Flat (zero gradient) only for x < 0 (seed 004: saturation 'maso'); a unit "
                "whose input stays negative is dead."
            ),
        ),
        _leaky_relu_spec(DEFAULT_NEGATIVE_SLOPE, leaky_relu),
        _leaky_relu_spec(
            DEFAULT_NEGATIVE_SLOPE,
            leaky_relu,
            name="prelu",
            aliases=("parametric_relu",),
            kind="layer",
            formula="x if x >= 0 else a x, a learned (starts at 0.01 with prelu())",
            derivative_formula="1 if x > 0 else a; d/da = min(x, 0)",
            keras_equivalent="keras.layers.PReLU(alpha_initializer=Constant(0.01))",
            reference="He et al., ICCV 2015, https://arxiv.org/abs/1502.01852; seed 004",
            notes=(
                "A layer, not a function: use keras_init_lab.activations.prelu(). Facts are at "
                "initialization (slope 0.01). Keras's PReLU starts its slope at 0 (a ReLU). "
                "A learned slope adds parameters (seed 004: risk of overfitting)."
            ),
        ),
        ActivationSpec(
            name="elu",
            function=elu,
            derivative=_elu_derivative,
            formula="x if x > 0 else exp(x) - 1",
            derivative_formula="1 if x > 0 else exp(x)",
            output_range=(-1.0, _INF),
            range_text="(-1, inf)",
            zero_centered=False,
            saturating=False,
            saturation="negative side",
            max_slope=1.0,
            can_die=False,
            recommended_initializer="he_normal",
            gain=_gain("elu"),
            gain_nonlinearity="elu",
            family="relu",
            params={"alpha": 1.0},
            keras_equivalent="keras.activations.elu",
            reference="Clevert et al., ICLR 2016, https://arxiv.org/abs/1511.07289",
            notes=(
                "Mean output for N(0,1) input is 0.16: closer to 0 than ReLU's 0.40, not 0. "
                "Saturates smoothly to -1 for x << 0 but its gradient exp(x) is never exactly 0."
            ),
        ),
        ActivationSpec(
            name="selu",
            function=selu,
            derivative=_selu_derivative,
            formula="1.0507 (x if x > 0 else 1.6733 (exp(x) - 1))",
            derivative_formula="1.0507 if x > 0 else 1.0507 * 1.6733 exp(x)",
            output_range=(-SELU_SCALE * SELU_ALPHA, _INF),
            range_text="(-1.7581, inf)",
            zero_centered=True,
            saturating=False,
            saturation="negative side",
            # lambda * alpha: the slope just left of 0, larger than lambda on the right.
            max_slope=SELU_SCALE * SELU_ALPHA,
            can_die=False,
            recommended_initializer="lecun_normal",
            gain=_gain("selu"),
            gain_nonlinearity="selu",
            family="relu",
            params={"alpha": SELU_ALPHA, "scale": SELU_SCALE},
            keras_equivalent="keras.activations.selu",
            reference="Klambauer et al., NeurIPS 2017, https://arxiv.org/abs/1706.02515",
            notes=(
                "Self-normalizing with lecun_normal weights: N(0,1) in, mean 0 and variance 1 "
                "out. The gain 3/4 is PyTorch's choice, not part of the paper."
            ),
        ),
        ActivationSpec(
            name="gelu",
            aliases=("gelu_exact",),
            function=gelu,
            derivative=_gelu_derivative,
            formula="x Phi(x) = x/2 erfc(-x/sqrt(2))",
            derivative_formula="Phi(x) + x phi(x)",
            output_range=(extrema["gelu_min"], _INF),
            range_text=f"[{extrema['gelu_min']:.4f}, inf)",
            zero_centered=False,
            saturating=False,
            saturation="negative side",
            max_slope=extrema["gelu_max_slope"],
            can_die=False,
            recommended_initializer="he_normal",
            gain=_gain("gelu"),
            gain_nonlinearity="gelu",
            family="other",
            keras_equivalent="keras.activations.gelu(x, approximate=False)",
            reference="Hendrycks & Gimpel 2016, https://arxiv.org/abs/1606.08415; seed 004",
            notes=(
                "Seed 004's table gives GELU the range (-inf, inf) and calls it zero-centred; "
                "its minimum is -0.17 (at x = -0.75) and its mean output for N(0,1) input is "
                "1/(2 sqrt(pi)) = 0.28, so neither holds here. Smooth, derivative continuous."
            ),
        ),
        ActivationSpec(
            name="gelu_tanh",
            aliases=("gelu_approximate", "approximate_gelu"),
            function=gelu_tanh,
            derivative=_gelu_tanh_derivative,
            formula="x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
            derivative_formula="(1+t)/2 + x/2 (1-t^2) sqrt(2/pi) (1 + 0.134145 x^2)",
            output_range=(extrema["gelu_tanh_min"], _INF),
            range_text=f"[{extrema['gelu_tanh_min']:.4f}, inf)",
            zero_centered=False,
            saturating=False,
            saturation="negative side",
            max_slope=extrema["gelu_tanh_max_slope"],
            can_die=False,
            recommended_initializer="he_normal",
            gain=_gain("gelu"),
            gain_nonlinearity="gelu",
            family="other",
            keras_equivalent="keras.activations.gelu(x, approximate=True)",
            reference="Hendrycks & Gimpel 2016, section 2; seed 004",
            notes=(
                "Within 5e-4 of the exact GELU everywhere; the gain is the exact GELU's. "
                "Float16-safe here, unlike keras.ops.gelu(approximate=True)."
            ),
        ),
        ActivationSpec(
            name="swish",
            aliases=("silu",),
            function=swish,
            derivative=_swish_derivative,
            formula="x sigmoid(x)",
            derivative_formula="sigmoid(x) (1 + x (1 - sigmoid(x)))",
            output_range=(extrema["swish_min"], _INF),
            range_text=f"[{extrema['swish_min']:.4f}, inf)",
            zero_centered=False,
            saturating=False,
            saturation="negative side",
            max_slope=extrema["swish_max_slope"],
            can_die=False,
            recommended_initializer="he_normal",
            gain=_gain("swish"),
            gain_nonlinearity="swish",
            family="other",
            keras_equivalent="keras.activations.silu",
            reference=(
                "Ramachandran et al. 2017, https://arxiv.org/abs/1710.05941; Elfwing et al. "
                "2017, https://arxiv.org/abs/1702.03118"
            ),
            notes="Smooth and non-monotonic: dips to -0.28 at x = -1.28.",
        ),
        ActivationSpec(
            name="softmax",
            function=softmax,
            derivative=_softmax_derivative,
            formula="exp(x_i) / sum_j exp(x_j)",
            derivative_formula="ds_i/dx_j = s_i (delta_ij - s_j); diagonal s_i (1 - s_i)",
            output_range=(0.0, 1.0),
            range_text="(0, 1)",
            zero_centered=False,
            saturating=True,
            saturation="both sides",
            # Largest diagonal entry s(1 - s) at s = 1/2; off-diagonal entries are <= 1/4 too.
            max_slope=0.25,
            can_die=False,
            recommended_initializer="glorot_uniform",
            gain=_gain("linear"),
            gain_nonlinearity="linear",
            family="softmax",
            keras_equivalent="keras.activations.softmax",
            reference="Bridle 1990; seed 003",
            notes=(
                "Output layer for multi-class classification only. Seed 004 marks saturation "
                "'not applicable' (it is an output); its Jacobian does vanish when one logit "
                "dominates. The derivative shown is the Jacobian's diagonal."
            ),
        ),
    ]
    return {s.name: s for s in specs}


@functools.lru_cache(maxsize=None)
def _specs() -> dict:
    # Built on first use, not at import: the gains of elu/gelu/swish need quadrature.
    return _build_specs()


# The registry of names is static (no quadrature), so get() and names() stay cheap.
_FUNCTIONS: dict = {
    "linear": linear,
    "step": step,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "gelu_tanh": gelu_tanh,
    "swish": swish,
    "softmax": softmax,
}
_LAYERS = ("prelu",)
_ALIASES: dict = {
    "identity": "linear",
    "heaviside": "step",
    "binary_step": "step",
    "logistic": "sigmoid",
    "gelu_exact": "gelu",
    "gelu_approximate": "gelu_tanh",
    "approximate_gelu": "gelu_tanh",
    "silu": "swish",
    "parametric_relu": "prelu",
}
_ORDER = (
    "linear", "step", "sigmoid", "tanh", "relu", "leaky_relu", "prelu",
    "elu", "selu", "gelu", "gelu_tanh", "swish", "softmax",
)


def names(include_layers: bool = False) -> list[str]:
    """Return the canonical names of the activation functions, in the order of the course.

    Example:
        >>> names()[:3]
        ['linear', 'step', 'sigmoid']

    Args:
        include_layers: also list ``"prelu"``, which is a layer (:func:`prelu`), not a
            function usable as ``activation=``.

    Returns:
        A list of names.
    """
    return [n for n in _ORDER if include_layers or n not in _LAYERS]


def aliases() -> dict[str, str]:
    """Return ``{alias: canonical name}`` (e.g. ``silu -> swish``, ``heaviside -> step``)."""
    return dict(_ALIASES)


def _canonical(name: str) -> str | None:
    key = name.strip().lower()
    if key.startswith(_PACKAGE + ">"):
        key = key[len(_PACKAGE) + 1 :]
    key = _ALIASES.get(key, key)
    return key if key in _FUNCTIONS or key in _LAYERS else None


def _keras_table() -> dict:
    module = importlib.import_module("keras.src.activations")
    table = getattr(module, "ALL_OBJECTS_DICT", None)
    return table if isinstance(table, dict) else {}


def get(identifier):
    """Resolve an activation from a name, an alias or a callable.

    The package's names come first (``"leaky_relu"`` is this package's slope-0.01 version),
    then Keras's own names (``"mish"``, ``"hard_sigmoid"``...). Callables are returned
    unchanged; ``None`` gives :func:`linear` (as Keras).

    Example:
        >>> get("silu") is swish
        True
        >>> get("leaky_relu") is leaky_relu
        True

    Args:
        identifier: a name or alias (case-insensitive), a registered name such as
            ``"keras_init_lab>gelu_tanh"``, a callable, or ``None``.

    Returns:
        The activation callable.

    Raises:
        ValueError: for an unknown name (with the closest valid names), or ``"prelu"``, which
            is a layer: use :func:`prelu` or :func:`as_layer`.
        TypeError: for anything that is neither a string nor a callable.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        name = _canonical(identifier)
        if name in _LAYERS:
            raise ValueError(
                f"Activation {identifier!r} is a layer with a learnable slope, not a function "
                "usable as activation=...: add keras_init_lab.activations.prelu() (a "
                "keras.layers.PReLU starting at slope 0.01) after a layer without activation, "
                f"or use keras_init_lab.activations.as_layer({identifier!r})."
            )
        if name is not None:
            return _FUNCTIONS[name]
        keras_function = _keras_table().get(identifier)
        if keras_function is not None:
            return keras_function
        raise unknown_name_error(
            "activation", identifier, [*_FUNCTIONS, *_LAYERS, *_ALIASES, *_keras_table()]
        )
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret activation identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass a name such as 'relu' or 'gelu_tanh', or a "
        "callable such as keras_init_lab.activations.relu."
    )


def as_layer(identifier, **kwargs) -> keras.layers.Layer:
    """Return the activation as a Keras layer: ``Activation(fn)``, or ``PReLU`` for ``"prelu"``.

    Example:
        >>> type(as_layer("prelu")).__name__, type(as_layer("tanh")).__name__
        ('PReLU', 'Activation')

    Args:
        identifier: anything :func:`get` accepts, or ``"prelu"``.
        **kwargs: passed to the layer (e.g. ``name=``; for prelu also ``alpha_initializer``).

    Returns:
        A Keras layer.
    """
    if isinstance(identifier, str) and _canonical(identifier) in _LAYERS:
        return prelu(**kwargs)
    return keras.layers.Activation(get(identifier), **kwargs)


def _keras_builtin_specs() -> dict:
    """``{id(keras function): spec name or LeakyReLU slope}`` for Keras's own activations."""
    import keras.activations as kact

    table = {
        kact.linear: "linear",
        kact.sigmoid: "sigmoid",
        kact.tanh: "tanh",
        kact.relu: "relu",
        kact.elu: "elu",
        kact.selu: "selu",
        kact.gelu: "gelu",  # Keras's activations.gelu defaults to approximate=False
        kact.silu: "swish",
        kact.softmax: "softmax",
        kact.leaky_relu: 0.2,  # keras.activations.leaky_relu(x, negative_slope=0.2)
    }
    return {id(fn): value for fn, value in table.items()}


def spec(identifier) -> ActivationSpec | None:
    """Return the :class:`ActivationSpec` (function, derivative, facts) of an activation.

    Accepts the package's names and aliases, its functions, a :class:`LeakyReLUActivation`,
    Keras's built-in activation functions (``keras.activations.relu``...; Keras's
    ``leaky_relu`` is described with its slope 0.2) and Keras activation layers
    (``Activation``, ``ReLU`` with default arguments, ``LeakyReLU``, ``ELU`` with alpha 1,
    ``PReLU``).

    Example:
        >>> spec("sigmoid").max_slope
        0.25
        >>> spec(keras.activations.tanh).name
        'tanh'

    Args:
        identifier: a name, alias, callable or Keras activation layer.

    Returns:
        The spec, or ``None`` for a callable or layer this package does not know.

    Raises:
        ValueError: for an unknown *name* (with the closest valid names).
    """
    specs = _specs()
    if isinstance(identifier, str):
        name = _canonical(identifier)
        if name is None:
            raise unknown_name_error("activation", identifier, [*_FUNCTIONS, *_LAYERS, *_ALIASES])
        return specs[name]
    if isinstance(identifier, LeakyReLUActivation):
        if identifier.negative_slope == DEFAULT_NEGATIVE_SLOPE:
            return dataclasses.replace(specs["leaky_relu"], function=identifier)
        return _leaky_relu_spec(identifier.negative_slope, identifier)
    for s in specs.values():
        if s.kind == "function" and identifier is s.function:
            return s
    builtin = _keras_builtin_specs().get(id(identifier))
    if isinstance(builtin, str):
        return dataclasses.replace(specs[builtin], function=identifier)
    if isinstance(builtin, float):
        return _leaky_relu_spec(builtin, identifier)
    return _layer_spec(identifier)


def _layer_spec(layer) -> ActivationSpec | None:
    if not isinstance(layer, keras.layers.Layer):
        return None
    if isinstance(layer, keras.layers.Activation):
        return spec(layer.activation)
    if isinstance(layer, keras.layers.PReLU):
        return _specs()["prelu"]
    if isinstance(layer, keras.layers.LeakyReLU):
        return _leaky_relu_spec(float(layer.negative_slope), layer)
    if isinstance(layer, keras.layers.ELU) and float(layer.alpha) == 1.0:
        return dataclasses.replace(_specs()["elu"], function=layer)
    if isinstance(layer, keras.layers.ReLU):
        plain = (
            layer.max_value is None
            and float(layer.negative_slope) == 0.0
            and float(layer.threshold) == 0.0
        )
        return dataclasses.replace(_specs()["relu"], function=layer) if plain else None
    if isinstance(layer, keras.layers.Softmax):
        return dataclasses.replace(_specs()["softmax"], function=layer)
    return None


def describe() -> list[dict]:
    """Return the facts table: one plain dict per activation (PReLU included), course order.

    Example:
        >>> [row["name"] for row in describe()][:4]
        ['linear', 'step', 'sigmoid', 'tanh']

    Returns:
        A list of dicts with keys ``name, aliases, family, kind, formula, derivative_formula,
        output_range, range_text, zero_centered, saturating, saturation, max_slope, can_die,
        recommended_initializer, gain, gain_nonlinearity, params, keras_equivalent,
        reference, notes``.
    """
    specs = _specs()
    return [specs[name].as_row() for name in _ORDER]


_TABLE_COLUMNS = (
    ("name", "name"),
    ("range", "range_text"),
    ("zero-centred", "zero_centered"),
    ("saturating", "saturation"),
    ("max slope", "max_slope"),
    ("dead units", "can_die"),
    ("initializer", "recommended_initializer"),
    ("gain", "gain"),
)


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    """Format :func:`describe` rows as an aligned plain-text table (for ``keras-init-lab list``).

    Example:
        >>> print(format_table(describe()[2:3]))   # doctest: +NORMALIZE_WHITESPACE
        name     range   zero-centred  saturating  max slope  dead units  initializer     gain
        sigmoid  (0, 1)  no            both sides  0.25       no          glorot_uniform  1

    Args:
        rows: dicts with at least the keys of the columns (as returned by :func:`describe`).

    Returns:
        The table as one string, a header line then one line per row.

    Raises:
        ValueError: if a row lacks a column's key.
    """
    cells = [[header for header, _ in _TABLE_COLUMNS]]
    for row in rows:
        missing = [key for _, key in _TABLE_COLUMNS if key not in row]
        if missing:
            raise ValueError(
                f"format_table needs rows from describe(); row {row.get('name', row)!r} lacks "
                f"the keys {missing}."
            )
        cells.append([_cell(row[key]) for _, key in _TABLE_COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(_TABLE_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        for line in cells
    )


# --------------------------------------------------------------------------------------------
# Plain-string names in Keras layers
# --------------------------------------------------------------------------------------------


def register_keras_names() -> list[str]:
    """Make the package's names that Keras lacks usable as strings in Keras layers.

    ``keras.activations.get(str)`` looks only in ``keras.src.activations.ALL_OBJECTS_DICT``
    (Keras 3.0-3.16 at least). This adds to that dict the package's names and aliases that
    Keras does not define (``step``, ``heaviside``, ``binary_step``, ``logistic``,
    ``identity``, ``gelu_tanh``, ``gelu_exact``, ...), and nothing else: a name Keras defines
    keeps Keras's meaning. Each addition is read back through ``keras.activations.get`` and
    removed again if Keras does not return it (e.g. a future Keras that resolves strings
    differently), so this never leaves Keras half-patched. Called once when the module is
    imported; calling it again is harmless.

    Example:
        >>> "gelu_tanh" in register_keras_names()
        True

    Returns:
        The names that now work as ``activation="name"`` (empty if Keras's table is gone).
    """
    table = _keras_table()
    if not table:
        return []
    registered = []
    for name in [*_FUNCTIONS, *_ALIASES]:
        canonical = _ALIASES.get(name, name)
        if canonical not in _FUNCTIONS:  # prelu is a layer
            continue
        function = _FUNCTIONS[canonical]
        if name in table and table[name] is not function:
            continue  # Keras's own name: keep Keras's meaning
        added = name not in table
        table[name] = function
        try:
            works = keras.activations.get(name) is function
        except (ValueError, TypeError):
            works = False
        if works:
            registered.append(name)
        elif added:
            del table[name]
    return registered


#: Names of this package usable as plain strings in Keras layers after import.
KERAS_STRING_NAMES: list[str] = register_keras_names()
