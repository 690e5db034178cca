"""Fans and gains: the two numbers every variance-scaled initializer is built from.

Pure math: ``compute_fans`` reads a Keras kernel shape, ``fan_for_mode`` picks the fan a
variance is divided by, ``calculate_gain`` looks a nonlinearity up in one table that the
initializers, the CLI's ``list`` and the docs all read (``GAINS``), and
``gaussian_expectation`` is the package's one Gaussian expectation.

The gains that PyTorch's table lacks (elu, gelu, swish) integrate the activations' NumPy
versions, which live with the facts table in ``keras_init_lab.activations._numpy``; they are
imported when such a gain is first asked for, since the activations import this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from keras_init_lab._names import unknown_name_error
from keras_init_lab._validation import check_choice, check_ints, check_number

__all__ = [
    "DEFAULT_NEGATIVE_SLOPE",
    "GAINS",
    "MODES",
    "Gain",
    "calculate_gain",
    "compute_fans",
    "fan_for_mode",
    "gain_table",
    "gaussian_expectation",
]

#: The fans a variance can be divided by: PyTorch's ``kaiming_*_(mode=...)`` has the first two;
#: ``fan_avg = (fan_in + fan_out) / 2`` is Glorot & Bengio's (2010) compromise, Keras's name.
MODES = ("fan_in", "fan_out", "fan_avg")


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a Keras weight shape.

    Formula: for a Dense kernel ``(in, out)``, ``fan_in = in`` and ``fan_out = out``. For a
    convolution kernel ``(*spatial, in, out)`` (Keras's layout; PyTorch puts channels first),
    every output unit sees ``receptive_field = prod(spatial)`` positions of ``in`` channels:
    ``fan_in = in * receptive_field`` and ``fan_out = out * receptive_field``. A 1-D shape
    ``(n,)`` (a bias, a scale vector) has ``fan_in = fan_out = n``.

    Example:
        >>> compute_fans((784, 128))
        (784, 128)
        >>> compute_fans((3, 3, 64, 128))   # Conv2D 3x3, 64 -> 128 channels
        (576, 1152)

    Args:
        shape: the weight's shape, a sequence of positive integers.

    Returns:
        ``(fan_in, fan_out)`` as Python ints.

    Raises:
        TypeError: if ``shape`` is not a sequence, or a dimension is not an integer.
        ValueError: for a scalar shape ``()``, or a dimension below 1.

    Reference:
        Glorot & Bengio (2010), He et al. (2015); PyTorch's
        ``torch.nn.init._calculate_fan_in_and_fan_out`` (same rule, channels-first layout).
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise TypeError(
            f"compute_fans expects a shape such as (fan_in, fan_out) or (kh, kw, in, out); "
            f"received shape={shape!r}."
        )
    if len(tuple(shape)) == 0:
        raise ValueError(
            f"compute_fans needs at least one dimension; received shape={shape!r} (a scalar). "
            "Weights have shapes like (in, out) or (kh, kw, in, out)."
        )
    try:
        dims = tuple(check_ints("dimension", shape, minimum=1))
    except (TypeError, ValueError) as error:
        # Same exception type as the check (a float dimension is a TypeError, 0 a ValueError);
        # the message adds the whole shape.
        raise type(error)(
            f"{error} Every dimension of a weight shape must be an integer >= 1; received "
            f"shape={shape!r}."
        ) from None
    if len(dims) == 1:
        return dims[0], dims[0]
    receptive_field = math.prod(dims[:-2])
    return dims[-2] * receptive_field, dims[-1] * receptive_field


def fan_for_mode(shape_or_fans: Sequence[int], mode: str) -> int | float:
    """Return the fan ``n`` that a variance-scaled initializer divides its scale by.

    Formula: ``fan_in``, ``fan_out`` or ``fan_avg = (fan_in + fan_out) / 2`` of
    :func:`compute_fans` (a pair ``(fan_in, fan_out)`` is read as the Dense shape
    ``(in, out)``, whose fans it is).

    Example:
        >>> fan_for_mode((300, 100), "fan_avg")
        200.0
        >>> fan_for_mode((3, 3, 64, 128), "fan_in")   # Conv2D 3x3, 64 -> 128 channels
        576

    Args:
        shape_or_fans: a Keras weight shape, or ``(fan_in, fan_out)``.
        mode: one of :data:`MODES`.

    Returns:
        An int for ``fan_in``/``fan_out``, a float for ``fan_avg``.

    Raises:
        TypeError: ``mode`` is not a string, or the shape is not a sequence of integers.
        ValueError: ``mode`` is not one of :data:`MODES` (the message lists the closest), or a
            dimension is below 1.

    Reference:
        Glorot & Bengio, AISTATS 2010 (fan_avg); He et al., ICCV 2015 (fan_in, fan_out).
    """
    mode = check_choice("mode", mode, MODES)
    fan_in, fan_out = compute_fans(shape_or_fans)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    return (fan_in + fan_out) / 2.0


#: Default negative slope of leaky ReLU, used when ``calculate_gain('leaky_relu')`` gets no
#: ``param``: 0.01 as in PyTorch's ``calculate_gain`` and the course (lecture 004, other
#: network specifications: "alpha suele ser 0.01").
DEFAULT_NEGATIVE_SLOPE = 0.01


#: Quadrature grid of :func:`gaussian_expectation`, in units of the standard deviation: the
#: normal density beyond +-12 is below 1e-31 (truncation negligible); 240,001 points (step 1e-4)
#: keep the trapezoid rule's error below 1e-8 even for functions with a kink (ReLU at 0).
_QUADRATURE_HALF_WIDTH = 12.0
_QUADRATURE_POINTS = 240_001


def gaussian_expectation(
    function: Callable[[np.ndarray], np.ndarray], std: float = 1.0, mean: float = 0.0
) -> float:
    """Return ``E[f(x)]`` for ``x ~ N(mean, std^2)``, by the trapezoid rule.

    The one Gaussian expectation of the package: gains (``E[f(z)^2]``), the predicted variance
    of ``check_model`` and the mean-field propagation of ``propagate`` all call it.

    Formula:
        ``E[f(x)] = integral f(mean + std*z) * exp(-z^2/2) / sqrt(2 pi) dz`` over
        ``z in [-12, 12]``.

    Example:
        >>> round(gaussian_expectation(lambda x: np.maximum(x, 0.0) ** 2), 6)
        0.5
        >>> round(gaussian_expectation(lambda x: x**2, std=3.0), 6)
        9.0

    Args:
        function: vectorised ``f`` (takes and returns a float64 NumPy array).
        std: standard deviation of ``x`` (0 gives ``f(mean)``).
        mean: mean of ``x``.

    Returns:
        The expectation as a Python float.

    Raises:
        TypeError: ``function`` is not callable; ``std`` or ``mean`` is not a real number.
        ValueError: ``std`` or ``mean`` is not finite, or ``std < 0``.
    """
    if not callable(function):
        raise TypeError(
            "function must be a callable on a NumPy array (e.g. np.tanh); "
            f"received function={function!r}."
        )
    std = check_number("std", std, minimum=0.0)
    mean = check_number("mean", mean)
    if std == 0:
        return float(np.asarray(function(np.array([float(mean)])), dtype=np.float64)[0])
    z = np.linspace(-_QUADRATURE_HALF_WIDTH, _QUADRATURE_HALF_WIDTH, _QUADRATURE_POINTS)
    density = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    integrand = np.asarray(function(mean + std * z), dtype=np.float64) * density
    step = z[1] - z[0]
    return float(step * (np.sum(integrand) - 0.5 * (integrand[0] + integrand[-1])))


def _second_moment_gain(function: Callable[[np.ndarray], np.ndarray]) -> float:
    """Return ``1 / sqrt(E[f(z)^2])`` for ``z ~ N(0, 1)``.

    This is He et al.'s (2015) argument written for any activation: with zero-mean weights of
    variance ``gain^2 / fan_in``, the next pre-activation has variance
    ``fan_in * Var(w) * E[f(z)^2] = gain^2 * E[f(z)^2]``, so ``gain = 1/sqrt(E[f(z)^2])``
    keeps unit variance. It gives exactly PyTorch's ``sqrt(2)`` for ReLU and
    ``sqrt(2 / (1 + a^2))`` for leaky ReLU, which the tests check.
    """
    return 1.0 / math.sqrt(gaussian_expectation(lambda z: function(z) ** 2))


def _leaky_relu_gain(param: float | None) -> float:
    slope = DEFAULT_NEGATIVE_SLOPE if param is None else param
    slope = check_number(
        "param",
        slope,
        hint="calculate_gain('leaky_relu', param) takes the negative slope, "
        "e.g. calculate_gain('leaky_relu', 0.01).",
    )
    return math.sqrt(2.0 / (1.0 + slope**2))


@dataclass(frozen=True)
class Gain:
    """One row of the gain table: how to compute it and where it comes from."""

    nonlinearity: str
    formula: str
    compute: Callable[[float | None], float]
    source: str

    @property
    def from_pytorch(self) -> bool:
        """Whether PyTorch's ``calculate_gain`` has this row (it raises for the others)."""
        return self.source == _PYTORCH


def _constant(value: float) -> Callable[[float | None], float]:
    return lambda param: value


_PYTORCH = "PyTorch torch.nn.init.calculate_gain"
_SECOND_MOMENT = "1/sqrt(E[f(z)^2]), z ~ N(0,1) (He et al. 2015's argument for any f)"


@functools.cache
def _activation_gain(function_name: str) -> float:
    """The second-moment gain of the NumPy activation ``function_name`` of the facts table.

    Imported here, not at the top: the activations package imports this module, so importing
    it first would find this module half-initialized. ``_numpy`` itself imports only
    ``activations._constants``, so no module imports back (no circle of files).
    """
    import keras_init_lab.activations._numpy as numpy_activations

    return _second_moment_gain(getattr(numpy_activations, function_name))


def _second_moment_row(name: str, function_name: str, value: str) -> Gain:
    formula = f"1/sqrt(E[{name}(z)^2]) = {value}"
    return Gain(name, formula, lambda param: _activation_gain(function_name), _SECOND_MOMENT)


#: The gain table. Rows marked PyTorch reproduce ``torch.nn.init.calculate_gain``; elu, gelu
#: and swish/silu are extensions computed with the second-moment rule of
#: ``_second_moment_gain`` (PyTorch raises for them).
GAINS: dict[str, Gain] = {
    **{
        name: Gain(name, "1", _constant(1.0), _PYTORCH)
        for name in (
            "linear",
            "identity",
            "conv1d",
            "conv2d",
            "conv3d",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "sigmoid",
        )
    },
    "tanh": Gain("tanh", "5/3", _constant(5.0 / 3.0), _PYTORCH),
    "relu": Gain("relu", "sqrt(2)", _constant(math.sqrt(2.0)), _PYTORCH),
    "leaky_relu": Gain(
        "leaky_relu", "sqrt(2/(1+a^2)), a=0.01 by default", _leaky_relu_gain, _PYTORCH
    ),
    "selu": Gain("selu", "3/4", _constant(0.75), _PYTORCH),
    # The values in the formulas are what the tests check the integrals against.
    "elu": _second_moment_row("elu", "elu", "1.2452"),
    "gelu": _second_moment_row("gelu", "gelu", "1.5335"),
    "swish": _second_moment_row("swish", "swish", "1.6765"),
    "silu": _second_moment_row("silu", "swish", "1.6765"),
}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for a nonlinearity.

    Formula: an initializer with gain ``g`` draws weights of variance ``g^2 / fan``. The gain
    undoes how much the activation shrinks the second moment of its input, so the signal keeps
    its variance from layer to layer:

    ================= ==================================================
    nonlinearity      gain
    ================= ==================================================
    linear, conv*     1
    sigmoid           1
    tanh              5/3
    relu              sqrt(2)
    leaky_relu        sqrt(2 / (1 + a^2)), a = ``param`` (default 0.01)
    selu              3/4
    elu               1.2452  (1/sqrt(E[elu(z)^2]), z ~ N(0, 1))
    gelu              1.5335  (1/sqrt(E[gelu(z)^2]))
    swish, silu       1.6765  (1/sqrt(E[swish(z)^2]))
    ================= ==================================================

    The first rows are PyTorch's table; elu, gelu and swish are derived by the same argument
    He et al. used for ReLU (``E[relu(z)^2] = 1/2`` gives ``sqrt(2)``), evaluated by numerical
    quadrature.

    Example:
        >>> round(calculate_gain("relu"), 4)
        1.4142
        >>> round(calculate_gain("leaky_relu", 0.2), 4)
        1.3868

    Args:
        nonlinearity: a name from the table (case-insensitive).
        param: the negative slope for ``leaky_relu``; ignored by the other rows.

    Returns:
        The gain, a positive float.

    Raises:
        TypeError: for a name that is not a string, or a non-numeric leaky-ReLU slope.
        ValueError: for an unknown name (the message lists the closest known ones) or a
            non-finite leaky-ReLU slope.

    Reference:
        He et al., "Delving Deep into Rectifiers", ICCV 2015, https://arxiv.org/abs/1502.01852;
        PyTorch ``torch.nn.init.calculate_gain``.
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(
            f"calculate_gain needs a nonlinearity name such as 'relu'; received "
            f"nonlinearity={nonlinearity!r}."
        )
    key = nonlinearity.lower()
    if key not in GAINS:
        raise unknown_name_error("nonlinearity", nonlinearity, GAINS)
    return float(GAINS[key].compute(param))


def gain_table() -> list[dict]:
    """Return the gain table as rows ``{nonlinearity, value, formula, source}``.

    The CLI's ``list`` command and the README print these rows; nothing else keeps a copy.
    """
    return [
        {
            "nonlinearity": row.nonlinearity,
            "value": row.compute(None),
            "formula": row.formula,
            "source": row.source,
        }
        for row in GAINS.values()
    ]
