"""The data the explorable page embeds: the package's Gaussian expectations as small tables.

The page (``keras-init-lab explore``) recomputes the mean-field profiles for whatever the
sliders say (depth, width, weight variance or initializer, activation, bias variance) from two
tables per activation, computed here by the package's one Gaussian expectation
(:func:`keras_init_lab.fans.gaussian_expectation`) on the package's own activation functions:

* ``m2(q) = E[a(z)^2]`` and ``d2(q) = E[a'(z)^2]`` for ``z ~ N(0, q)``, at ``q = 10^e`` for
  ``e`` from :data:`Q_LOG10_MIN` to :data:`Q_LOG10_MAX` in steps of ``1 / Q_PER_DECADE``; the
  page interpolates ``log m2`` and ``log d2`` in ``log q`` with a Catmull-Rom cubic (exact for
  ReLU, whose moments are proportional to ``q``; within 1% of ``predict_variances`` after 30
  layers for the others, checked by the tests) and extends them past the ends along the last
  segment (power-law tails: ``q``, ``1`` or ``q^-1/2``);
* ``a(z)`` on ``z`` from -:data:`Z_HALF_WIDTH` to +:data:`Z_HALF_WIDTH` in steps of
  :data:`Z_STEP` and the derivative ``a'`` at both ends, for the page's seeded Monte-Carlo
  network: linear interpolation, continued along the end slopes; the network's backward pass
  uses the interpolant's own slope (exact for ReLU's two pieces).

The recursion the page runs is :func:`keras_init_lab.experiments.propagation.predict_variances`
with a bias term (Schoenholz et al. 2017): ``v_1 = c + s_b``, ``v_k = c m2(v_{k-1}) + s_b``,
``g_L = 1``, ``g_{k-1} = c d2(v_{k-1}) g_k``, with ``c = width * sigma_w^2`` (input dimension =
width) and ``s_b`` the bias variance; with ``s_b = 0`` it is ``predict_variances(activation,
[sigma_w^2] * depth, width, width, output_gradient_variance=1)`` (the tests check both pages'
numbers against it). Verdicts: ``propagate``'s words and thresholds (``STABLE_FACTOR``,
``EXTREME_FACTOR``) on the end-to-end change, colours of the report
(``plots.experiments.VERDICT_COLOURS``).

Example:
    >>> data = explore_data()                                   # doctest: +SKIP
    >>> sorted(data["activations"])[:3]                         # doctest: +SKIP
    ['elu', 'gelu', 'leaky_relu']

Reference:
    K. He et al. (ICCV 2015), eq. 13, https://arxiv.org/abs/1502.01852 ;
    S. Schoenholz et al., "Deep Information Propagation" (ICLR 2017), the recursion with a bias
    variance, https://arxiv.org/abs/1611.01232 ; lecture 002, initialization.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from keras_init_lab._names import unknown_name_error
from keras_init_lab.fans import gaussian_expectation

__all__ = [
    "ACTIVATIONS",
    "BIAS_VARIANCES",
    "DEPTH_RANGE",
    "INITIALIZERS",
    "MONTE_CARLO",
    "Q_LOG10_MAX",
    "Q_LOG10_MIN",
    "Q_PER_DECADE",
    "WIDTHS",
    "Z_HALF_WIDTH",
    "Z_STEP",
    "explore_data",
    "moment_tables",
]

#: Activations the page offers: the package's functions usable in a hidden layer, without
#: ``step`` (derivative 0 everywhere: no gradient to show), ``softmax`` (not elementwise) and
#: ``gelu_tanh`` (within 1e-3 of ``gelu``).
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "linear", "elu", "selu", "gelu", "swish")
#: Named initializers the page offers (the course's He, Xavier and LeCun, and the small
#: N(0, 0.001^2) of lecture 002's "too small" case); their variance comes from the
#: package's own ``variance(shape)`` at each width.
INITIALIZERS = ("he_normal", "glorot_uniform", "lecun_normal", "small_normal")
#: Widths of the width slider (fan-in = fan-out = width; 100 is lecture 002's). The page's
#: Monte-Carlo network costs ``2 * trials * depth * samples * width^2`` multiply-adds, about
#: 1e9 at 256 units and the deepest setting: the largest width that stays interactive.
WIDTHS = (16, 32, 64, 100, 128, 256)
#: Bias variances of the bias slider (biases ~ N(0, s_b); 0 is Keras's zeros).
BIAS_VARIANCES = (0.0, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0)
#: Depth slider: at least 2 layers (the per-layer gain needs two), at most 60 (lecture 002's
#: 50 and a margin), default 30.
DEPTH_RANGE = (2, 60, 30)
#: The weight-variance slider: log10 sigma_w^2 from -4 to 0 in steps of 0.05 (lecture 002's
#: grid 0.001 ... 1 inside it).
SIGMA2_LOG10 = (-4.0, 0.0, 0.05)
#: Seeded Monte-Carlo sample of the page: independent weight draws averaged, inputs per draw,
#: seed of its generator (mulberry32).
MONTE_CARLO = {"trials": 2, "samples": 64, "seed": 20260302}

#: The moment tables' grid: q = 10^e, e in [-12, 6], 4 points per decade (73 points). Above
#: 10^6 (std 1000) the quadrature of ``gaussian_expectation`` (step 1e-4 in z) no longer
#: resolves the spike of a saturating derivative (width ~1/std), so the page continues the
#: tables along their power-law tails instead; below 10^-12 every activation here is linear
#: or constant to float64 precision.
Q_LOG10_MIN, Q_LOG10_MAX, Q_PER_DECADE = -12, 6, 4
#: The activation tables' grid for the Monte Carlo: z in [-12, 12] in steps of 1/8 (193
#: points; 0 is a grid point, so ReLU's kink is exact). Beyond +-12 the activations here are
#: linear or constant within 6e-6 (sigmoid'(12)).
Z_HALF_WIDTH, Z_STEP = 12.0, 0.125
#: Significant digits of the embedded numbers: the tables' relative rounding is 5e-9, far
#: below the quadrature's own error.
DIGITS = 8


def _numpy(function):
    """A float64 NumPy version of one of the package's activations (or derivatives)."""
    import tensorflow as tf

    def evaluate(z):
        return np.asarray(function(tf.constant(np.asarray(z, dtype=np.float64))), dtype=np.float64)

    return evaluate


def _round(values, digits: int = DIGITS) -> list:
    return [float(f"{value:.{digits}g}") for value in np.asarray(values, dtype=np.float64)]


@functools.cache
def moment_tables(activation: str) -> dict:
    """The moment tables ``m2``, ``d2`` and the activation table ``a`` of one activation.

    Formula: ``m2[i] = E[a(z)^2]``, ``d2[i] = E[a'(z)^2]``, ``z ~ N(0, 10^(Q_LOG10_MIN +
    i / Q_PER_DECADE))``, by :func:`keras_init_lab.fans.gaussian_expectation`; ``a[j] =
    a(-Z_HALF_WIDTH + j Z_STEP)``; ``slope_left``, ``slope_right`` = ``a'(-+Z_HALF_WIDTH)``
    (the package's analytic derivative).

    Example:
        >>> tables = moment_tables("relu")                       # doctest: +SKIP
        >>> tables["m2"][48]     # q = 1: E[relu(z)^2] = 1/2
        0.5

    Args:
        activation: one of :data:`ACTIVATIONS`.

    Returns:
        ``{"m2", "d2", "a", "slope_left", "slope_right"}``, floats with :data:`DIGITS`
        significant digits (``a``: 7, enough for a sampled network).
    """
    from keras_init_lab import activations

    spec = activations.spec(activation)
    value, slope = _numpy(spec.function), _numpy(spec.derivative)
    exponents = Q_LOG10_MIN + np.arange((Q_LOG10_MAX - Q_LOG10_MIN) * Q_PER_DECADE + 1) / (
        Q_PER_DECADE
    )
    m2, d2 = [], []
    for exponent in exponents:
        std = math.sqrt(10.0**exponent)
        m2.append(gaussian_expectation(lambda z: value(z) ** 2, std=std))
        d2.append(gaussian_expectation(lambda z: slope(z) ** 2, std=std))
    z = np.linspace(-Z_HALF_WIDTH, Z_HALF_WIDTH, int(round(2 * Z_HALF_WIDTH / Z_STEP)) + 1)
    return {
        "m2": _round(m2),
        "d2": _round(d2),
        "a": _round(value(z), 7),
        "slope_left": _round(slope(z[:1]))[0],
        "slope_right": _round(slope(z[-1:]))[0],
    }


def _initializer_variances() -> dict:
    from keras_init_lab import initializers

    table = {}
    for name in INITIALIZERS:
        initializer = initializers.get(name)
        table[name] = {str(width): initializer.variance((width, width)) for width in WIDTHS}
    return table


def explore_data(activations=None) -> dict:
    """Everything the explorable page embeds, as plain JSON-able data.

    Example:
        >>> data = explore_data()                                   # doctest: +SKIP
        >>> data["initializers"]["he_normal"]["100"]                # 2 / fan_in
        0.02

    Args:
        activations: names among :data:`ACTIVATIONS` (default: all of them).

    Returns:
        ``{"q_grid", "z_grid", "activations": {name: tables}, "initializers": {name: {width:
        sigma_w^2}}, "presets", "verdicts", "widths", "bias_variances", "depth", "sigma2_log10",
        "monte_carlo"}`` (see the module docstring).
    """
    from keras_init_lab.experiments.pairings import COURSE_PAIRINGS
    from keras_init_lab.tensorboard_plugin.plugin import verdict_facts

    names = ACTIVATIONS if activations is None else tuple(activations)
    for name in names:
        if name not in ACTIVATIONS:
            raise unknown_name_error("activation", name, ACTIVATIONS)
    return {
        "q_grid": {"log10_min": Q_LOG10_MIN, "log10_max": Q_LOG10_MAX, "per_decade": Q_PER_DECADE},
        "z_grid": {"half_width": Z_HALF_WIDTH, "step": Z_STEP},
        "activations": {name: moment_tables(name) for name in names},
        "initializers": _initializer_variances(),
        "presets": [
            {"initializer": init, "activation": act, "grade": grade, "says": says}
            for init, act, grade, says, _ in COURSE_PAIRINGS
        ],
        "verdicts": verdict_facts(),
        "widths": list(WIDTHS),
        "bias_variances": list(BIAS_VARIANCES),
        "depth": dict(zip(("min", "max", "default"), DEPTH_RANGE)),
        "sigma2_log10": dict(zip(("min", "max", "step"), SIGMA2_LOG10)),
        "monte_carlo": dict(MONTE_CARLO),
    }
