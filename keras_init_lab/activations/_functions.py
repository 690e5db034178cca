"""The activation functions: plain Keras-serializable callables, one per activation.

Each is registered as ``keras_init_lab>name`` (the name saved in ``.keras`` files) and reports
``keras_init_lab.activations`` as its module, its public home. Their constants live in
``_constants.py``, their derivatives in ``_derivatives.py`` (imported here, never the other way
round), their NumPy references in ``_numpy.py`` and their facts in ``_facts.py``.

Example:
    >>> round(float(gelu(1.0)), 4), float(sigmoid(0.0))
    (0.8413, 0.5)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import keras
from keras import ops

from keras_init_lab import _keras_compat
from keras_init_lab._arrays import check_tensor_input
from keras_init_lab._validation import check_int, check_number
from keras_init_lab.activations._constants import (
    GELU_CUBIC,
    GELU_TANH_SQUARE_CAP,
    INV_SQRT_2,
    PACKAGE,
    PUBLIC_MODULE,
    SQRT_2_OVER_PI,
    erfc,
)
from keras_init_lab.activations._derivatives import leaky_relu_derivative

# Default slope of leaky_relu: the course's 0.01 (lecture 004, other network specifications:
# "alpha suele ser 0.01"; lecture 003, fundamentals of deep neural networks), also PyTorch's;
# one constant for the gain table, the initializers and the activations.
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE

__all__ = [
    "LeakyReLUActivation",
    "elu",
    "gelu",
    "gelu_tanh",
    "leaky_relu",
    "linear",
    "prelu",
    "relu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "step",
    "swish",
    "tanh",
]


# --------------------------------------------------------------------------------------------
# The activation functions
# --------------------------------------------------------------------------------------------


def _register(function: Callable) -> Callable:
    """Register ``function`` as ``keras_init_lab>name`` and give it its public module."""
    function.__module__ = PUBLIC_MODULE
    return keras.saving.register_keras_serializable(package=PACKAGE)(function)


def _attach_logits(output, logits):
    # Keras's own sigmoid and softmax remember their input so that a cross-entropy loss with
    # from_logits=False can use the logits (numerically stable); do the same, so swapping
    # Keras's function for ours changes nothing in training.
    _keras_compat.set_logits(output, logits)
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
        Lecture 000, weight initialization and activation functions (overview): without
        activations the network collapses to one linear map.
    """
    check_tensor_input("x", x)
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
        Rosenblatt, "The perceptron", Psychological Review 65(6), 1958; lecture 003,
        fundamentals of deep neural networks.
    """
    check_tensor_input("x", x)
    x = ops.convert_to_tensor(x)
    return (ops.sign(x) + 1.0) * 0.5


@_register
def sigmoid(x):
    """Logistic sigmoid, range (0, 1).

    Formula: ``sigma(x) = 1 / (1 + exp(-x))``; ``sigma'(x) = sigma(x) (1 - sigma(x))``, whose
    values fill ``(0, 0.25]``: the maximum 1/4 is attained at ``x = 0`` (lecture 004 writes the
    open interval ``(0, 0.25)``).

    Saturates at both ends (derivative ~ 0), hence the vanishing gradients of deep sigmoid
    nets: 20 layers multiply at most ``0.25 ** 20 ~ 9.1e-13`` (lecture 004). Stable at extreme
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
        Lecture 004, other network specifications ("Sigmoid"); Rumelhart, Hinton & Williams,
        Nature 323, 1986.
    """
    check_tensor_input("x", x)
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
        LeCun, Bottou, Orr & Mueller, "Efficient BackProp", 1998; lecture 004 ("Tanh").
    """
    check_tensor_input("x", x)
    return ops.tanh(x)


@_register
def relu(x):
    """Rectified linear unit, range [0, inf).

    Formula: ``relu(x) = max(0, x)``; ``relu'(x) = 1 if x > 0 else 0``.

    Does not saturate for large positive inputs, but a unit whose input stays negative gets no
    gradient at all ("dead" unit, lecture 004).

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
    check_tensor_input("x", x)
    return ops.relu(x)


@_register
def leaky_relu(x):
    """Leaky ReLU with negative slope 0.01 (the course's value), range (-inf, inf).

    Formula: ``f(x) = max(0.01 x, x)`` (``x if x > 0 else 0.01 x``);
    ``f'(x) = 1 if x > 0 else 0.01``. Lecture 003 writes ``max(0, a x, x)``, which is plain
    ReLU: for ``x < 0`` both ``a x`` and ``x`` are negative, so the 0 wins.

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
        ICML 2013; lectures 003 and 004.
    """
    check_tensor_input("x", x)
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
    check_tensor_input("x", x)
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
    check_tensor_input("x", x)
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
        https://arxiv.org/abs/1606.08415; lecture 004, other network specifications.
    """
    check_tensor_input("x", x)
    x = ops.convert_to_tensor(x)
    return (0.5 * x) * erfc(x * -INV_SQRT_2)


@_register
def gelu_tanh(x):
    """GELU by its tanh approximation (lecture 004; GPT-2, BERT), range [-0.17, inf).

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
        Hendrycks & Gimpel 2016, https://arxiv.org/abs/1606.08415, section 2; lecture 004
        ("Aproximación eficiente").
    """
    check_tensor_input("x", x)
    x = ops.convert_to_tensor(x)
    square = ops.minimum(ops.square(x), GELU_TANH_SQUARE_CAP)
    # sqrt(2/pi) (x + 0.044715 x^3) with the constants folded: one multiply less per element.
    inner = x * (SQRT_2_OVER_PI + (SQRT_2_OVER_PI * GELU_CUBIC) * square)
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
    check_tensor_input("x", x)
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
        >>> [round(float(v), 3) for v in softmax([5.0, 6.0, 11.0, 7.0])]   # lecture 003's logits
        [0.002, 0.007, 0.973, 0.018]

    Args:
        x: a float tensor of logits.
        axis: the axis that sums to 1 (default: last), an int in ``[-rank, rank)``.

    Returns:
        The probabilities, same shape as ``x``.

    Raises:
        TypeError: ``x`` is a string, bytes or ``None``; ``axis`` is not an integer.
        ValueError: ``axis`` is outside ``[-rank, rank)``.

    Reference:
        Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs",
        1990; lecture 003, fundamentals of deep neural networks.
    """
    check_tensor_input("x", x)
    axis = check_int("axis", axis, minimum=None)
    x = ops.convert_to_tensor(x)
    rank = len(x.shape)
    if rank and not -rank <= axis < rank:  # Python ints at trace time: no per-step cost
        raise ValueError(
            f"axis must be in [-{rank}, {rank}) for an input with {rank} axes "
            f"(shape {tuple(x.shape)}); received axis={axis!r}."
        )
    return _attach_logits(ops.softmax(x, axis=axis), x)


@_register
class LeakyReLUActivation:
    """Leaky ReLU with any fixed negative slope, as a serializable callable.

    Formula: ``f(x) = x if x > 0 else a x``; ``f'(x) = 1 if x > 0 else a``.

    Example:
        >>> import keras
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
        """Check the slope (TypeError for a non-number, ValueError outside [0, 1])."""
        negative_slope = check_number(
            "negative_slope",
            negative_slope,
            minimum=0.0,
            maximum=1.0,
            hint="LeakyReLUActivation takes a slope in [0, 1] (0 is ReLU, 0.01 the course's).",
        )
        self.negative_slope = float(negative_slope)
        self.__name__ = "leaky_relu"

    def __call__(self, x):
        return _leaky_relu(x, self.negative_slope)

    def derivative(self, x):
        """Return ``1`` where ``x > 0`` and ``negative_slope`` elsewhere."""
        return leaky_relu_derivative(x, self.negative_slope)

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    @classmethod
    def from_config(cls, config: dict) -> LeakyReLUActivation:
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
        https://arxiv.org/abs/1502.01852; lecture 004 ("Parametric Leaky ReLU").
    """
    if isinstance(alpha_initializer, numbers.Real):
        # A number (bool refused with a TypeError): the initial slope, which must be finite.
        slope = check_number("alpha_initializer", alpha_initializer, hint="Example: prelu(0.01).")
        alpha_initializer = keras.initializers.Constant(slope)
    elif isinstance(alpha_initializer, str):
        try:
            keras.initializers.get(alpha_initializer)
        except ValueError:
            raise ValueError(
                "alpha_initializer must be a number (the initial slope, e.g. 0.01) or the name "
                "of a Keras initializer such as 'zeros'; received "
                f"alpha_initializer={alpha_initializer!r}."
            ) from None
    elif not (
        isinstance(alpha_initializer, (dict, keras.initializers.Initializer))
        or callable(alpha_initializer)
    ):
        raise TypeError(
            "alpha_initializer must be a number (the initial slope, e.g. 0.01), an initializer "
            f"name, a keras.initializers.Initializer or a callable; received "
            f"alpha_initializer={alpha_initializer!r}."
        )
    return keras.layers.PReLU(alpha_initializer=alpha_initializer, **kwargs)
