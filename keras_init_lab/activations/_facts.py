"""The facts table: one row per activation, from which every name and lookup is derived.

:data:`FACTS` lists each activation once, as an :class:`ActivationSpec` (function, derivative,
range, saturation, maximum slope, dead units, recommended initializer, formulas, notes). The
canonical names, the aliases, which entries are layers, the Keras functions and layers that
have the same mathematics, and the package's ``__all__`` are all computed from it; nothing else
restates a name (as Keras's ``activations/__init__.py`` builds its name dictionary from one set
of functions).

The same table is the package's one *classification* of units: each row's :attr:`family`
(a key of :data:`FAMILIES`: whether dead units or saturation are measured for it), whether its
units can die, its NumPy function for Gaussian expectations (:attr:`numpy_function`) and the
Keras functions and layer classes with its mathematics. The activation-statistics callbacks,
``check_model`` and the gain table of :mod:`keras_init_lab.fans` read them from here;
:data:`KERAS_ONLY` adds the family of the Keras and TensorFlow activations that have no row
(``relu6``, ``mish``, ``hard_sigmoid``...), so they are recognised too.

Numbers that need an integral over ``z ~ N(0, 1)`` (mean output, second-moment gain) are
properties computed on first use with :func:`keras_init_lab.fans.gaussian_expectation` from the
activation itself, so a fact and its function cannot drift apart.

Example:
    >>> by_name()["sigmoid"].max_slope
    0.25
    >>> round(by_name()["gelu"].mean_output, 4)    # 1/(2 sqrt(pi)): GELU is not zero-centred
    0.2821
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from keras_init_lab import fans
from keras_init_lab.activations import _derivatives as d
from keras_init_lab.activations import _functions as f
from keras_init_lab.activations import _numpy as n
from keras_init_lab.activations._constants import (
    GELU_CUBIC,
    INV_SQRT_2,
    INV_SQRT_2PI,
    SELU_ALPHA,
    SELU_SCALE,
    SQRT_2_OVER_PI,
)
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE

__all__ = [
    "FACTS",
    "FAMILIES",
    "KERAS_ONLY",
    "ZERO_CENTRED_TOLERANCE",
    "ActivationSpec",
    "Family",
    "KerasOnlyActivation",
    "UnitKind",
    "alias_map",
    "by_name",
    "function_names",
    "keras_function_kinds",
    "layer_names",
    "leaky_relu_spec",
]

_INF = math.inf

#: An activation counts as zero-centred when ``|E[f(z)]| < 0.05`` for ``z ~ N(0, 1)``: tanh
#: (0), selu (0 by construction) and linear pass; elu (0.160), leaky ReLU (0.395), GELU
#: (0.282) and ReLU (0.399) do not. 0.05 is 5% of the input's standard deviation.
ZERO_CENTRED_TOLERANCE = 0.05


@dataclasses.dataclass(frozen=True)
class Family:
    """A family of activations: which unit statistics mean something for its members.

    Attributes:
        name: the family's name, the value of :attr:`ActivationSpec.family`.
        dead_units: a unit that outputs nothing positive on a whole batch is counted as dead
            (the rectifiers, whose negative side is 0, a small line or a constant).
        saturation_bounds: ``(low, high)``, the bounds an elementwise squasher saturates
            towards (its saturated units are measured), or ``None``.
        members: what belongs to the family.

    Example:
        >>> FAMILIES["tanh"].saturation_bounds, FAMILIES["relu"].dead_units
        ((-1.0, 1.0), True)
    """

    name: str
    dead_units: bool
    saturation_bounds: tuple[float, float] | None
    members: str


#: The families, in the order the statistics list them. Reference for the two measured
#: properties: Glorot & Bengio, AISTATS 2010 (saturating sigmoid/tanh units, bounds (0, 1) and
#: (-1, 1)); Glorot, Bordes & Bengio, AISTATS 2011, and lecture 004 (dead ReLU units).
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "relu",
            True,
            None,
            "rectifiers: a line through 0 for x > 0; the negative side zero, a line or "
            "saturating to a constant (relu, leaky_relu, prelu, elu, selu)",
        ),
        Family("sigmoid", False, (0.0, 1.0), "bounded (0, 1) squashers"),
        Family("tanh", False, (-1.0, 1.0), "bounded odd (-1, 1) squashers"),
        Family("linear", False, None, "the identity"),
        Family("softmax", False, None, "maps of a vector onto probabilities"),
        Family("other", False, None, "smooth self-gated units (gelu, swish) and the rest"),
    )
}


@dataclasses.dataclass(frozen=True)
class UnitKind:
    """What an activation is as far as recognising its units goes: name, family, dying.

    The light classification behind the activation-statistics callbacks and ``check_model``
    (a facts row gives one, and so do :data:`KERAS_ONLY` and Keras activation layers whose
    parameters no row describes).

    Attributes:
        name: canonical name (``relu``, ``leaky_relu``, ``swish``...).
        family: a key of :data:`FAMILIES`.
        can_die: whether a unit can get a zero gradient for every input.

    Example:
        >>> by_name()["relu"].unit_kind
        UnitKind(name='relu', family='relu', can_die=True)
    """

    name: str
    family: str
    can_die: bool


@functools.cache
def _moments(name: str, negative_slope: float | None) -> tuple[float, float | None]:
    """``(E[f(z)], E[f(z)^2])`` for ``z ~ N(0, 1)``, from the activation's own function.

    Softmax is taken on the logits ``(z, 0)`` (its first probability, ``sigmoid(z)``) for the
    mean; its second moment is ``None`` (a vector map has no per-unit gain).
    """
    if negative_slope is not None:
        function = f.LeakyReLUActivation(negative_slope)
    else:
        function = by_name()[name].function

    def values(z):
        x = ops.convert_to_tensor(z, dtype="float64")
        if name == "softmax":
            pair = ops.stack([x, ops.zeros_like(x)], axis=-1)
            return np.asarray(function(pair))[:, 0]
        return np.asarray(function(x))

    mean = fans.gaussian_expectation(values)
    if name == "softmax":
        return mean, None
    return mean, fans.gaussian_expectation(lambda z: values(z) ** 2)


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
    """One activation's function, derivative and facts: one row of the facts table.

    Attributes:
        name: canonical name (for functions, also ``function.__name__``, the saved name).
        function: the activation (a Keras-serializable callable). For ``prelu``, the leaky
            ReLU it starts as (slope 0.01); :attr:`layer` builds the learnable layer.
        derivative: the analytic derivative, elementwise (for softmax: the Jacobian's
            diagonal; see :func:`softmax_jacobian`).
        output_range: ``(low, high)`` as floats (may be infinite); whether each end is reached
            is in :attr:`range_text`.
        saturating: the derivative goes to 0 at **both** ends, so large inputs of either sign
            stop the gradient (sigmoid, tanh, softmax, step); :attr:`saturation` says more.
        max_slope: ``max_x f'(x)`` (sigmoid: 0.25); the per-layer bound on gradient growth.
        can_die: a unit can get stuck where the gradient is exactly 0 for every input
            (ReLU's "dead" units; the step, whose gradient is 0 everywhere).
        recommended_initializer: a name from ``keras_init_lab.initializers.names()``.
        family: a key of :data:`FAMILIES`: "relu", "sigmoid", "tanh", "linear", "softmax"
            or "other".
        aliases: other accepted names.
        formula, derivative_formula: the formulas as text.
        range_text: the output range with open/closed ends, e.g. ``"[0, inf)"``.
        saturation: "both sides", "negative side" or "none".
        kind: "function" (usable as ``activation=``) or "layer" (PReLU).
        params: fixed parameters, e.g. ``{"negative_slope": 0.01}``.
        gain_nonlinearity, gain_param: what is passed to ``calculate_gain`` for :attr:`gain`.
        keras_equivalent: the Keras call with the same mathematics, if any.
        keras_functions: names in ``keras.activations`` (and ``keras.ops``, ``tf.nn``) with the
            same mathematics (only those the installed Keras has are looked up).
        keras_layers: names of ``keras.layers`` classes that apply this activation (``ReLU``,
            ``LeakyReLU``, ...); which parameters match the row is :func:`spec`'s business.
        numpy_function: float64 NumPy version (``_numpy``), for Gaussian expectations.
        layer_factory: for kind "layer", the function that builds it (:func:`prelu`).
        reference: where the activation comes from.
        notes: anything a student should know (where the course and the numbers differ).

    Computed facts (properties): :attr:`mean_output`, :attr:`zero_centered`, :attr:`gain`,
    :attr:`pytorch_gain`, :attr:`second_moment_gain`, :meth:`initializer`,
    :attr:`implied_gain`.
    """

    name: str
    function: Callable
    derivative: Callable
    output_range: tuple
    saturating: bool
    max_slope: float
    can_die: bool
    recommended_initializer: str
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
    keras_functions: tuple = ()
    keras_layers: tuple = ()
    numpy_function: Callable | None = None
    layer_factory: Callable | None = None
    reference: str = ""
    notes: str = ""

    # ------------------------------------------------------------------ computed facts

    @property
    def _slope_key(self) -> float | None:
        slope = self.params.get("negative_slope")
        return None if slope is None or slope == DEFAULT_NEGATIVE_SLOPE else float(slope)

    @property
    def mean_output(self) -> float:
        """``E[f(z)]`` for ``z ~ N(0, 1)`` (softmax: of ``softmax(z, 0)[0]``)."""
        return _moments(self._moment_name, self._slope_key)[0]

    @property
    def _moment_name(self) -> str:
        return "leaky_relu" if self.name == "prelu" else self.name

    @property
    def zero_centered(self) -> bool:
        """``|E[f(z)]| < ZERO_CENTRED_TOLERANCE`` (0.05) for ``z ~ N(0, 1)``."""
        return abs(self.mean_output) < ZERO_CENTRED_TOLERANCE

    @property
    def gain(self) -> float:
        """``keras_init_lab.fans.calculate_gain(gain_nonlinearity, gain_param)``."""
        return float(fans.calculate_gain(self.gain_nonlinearity, self.gain_param))

    @property
    def pytorch_gain(self) -> float | None:
        """PyTorch's ``calculate_gain`` for this activation, ``None`` where PyTorch raises.

        PyTorch knows linear/conv, sigmoid, tanh, relu, leaky_relu and selu; step, softmax,
        elu, gelu and swish raise there (this package extends its table for them: :attr:`gain`).
        """
        # step and softmax borrow the linear gain here; PyTorch has no row for them either.
        borrowed = self.gain_nonlinearity != self._moment_name
        if borrowed or not fans.GAINS[self.gain_nonlinearity].from_pytorch:
            return None
        return self.gain

    @property
    def second_moment_gain(self) -> float | None:
        """``1 / sqrt(E[f(z)^2])`` for ``z ~ N(0, 1)``, ``None`` for softmax.

        The gain that keeps the forward second moment of a layer of this activation (He et
        al.'s argument for any ``f``): sqrt(2) for ReLU, 1.2452 for elu, 1.5335 for gelu,
        1.6765 for swish, 1.0 for selu (self-normalizing), 1.59 for tanh (PyTorch: 5/3).
        """
        second = _moments(self._moment_name, self._slope_key)[1]
        return None if second is None else 1.0 / math.sqrt(second)

    def initializer(self):
        """The recommended initializer as an instance (leaky He gets this row's slope)."""
        from keras_init_lab import initializers

        config = {}
        if self.recommended_initializer.startswith("leaky_he") and "negative_slope" in self.params:
            config["negative_slope"] = float(self.params["negative_slope"])
        return initializers.get({"class_name": self.recommended_initializer, "config": config})

    @property
    def implied_gain(self) -> float:
        """The gain the recommended initializer uses: ``sqrt(Var(W) * fan)`` (its ``scale``).

        glorot_*: 1 (fan_avg), lecun_*: 1 (fan_in), he_*: sqrt(2) (fan_in), leaky_he_*:
        sqrt(2 / (1 + a^2)) (fan_in).
        """
        return math.sqrt(self.initializer().scale)

    @property
    def implied_fan(self) -> str:
        """The fan the recommended initializer divides by: fan_in, fan_out or fan_avg."""
        return self.initializer().mode

    @property
    def layer(self) -> Callable[[], keras.layers.Layer]:
        """A no-argument factory for this activation as a Keras layer (see ``as_layer``).

        The row of this name in :data:`FACTS` decides: its :attr:`layer_factory` for a layer
        (PReLU), else ``keras.layers.Activation`` of its function.
        """
        row = by_name()[self.name]
        if row.layer_factory is not None:
            return row.layer_factory
        return functools.partial(keras.layers.Activation, row.function)

    @property
    def unit_kind(self) -> UnitKind:
        """The row's :class:`UnitKind`: name, family and whether its units can die."""
        return UnitKind(self.name, self.family, self.can_die)

    def as_row(self) -> dict:
        """Return the facts as a plain dict (no callables): one row of ``describe()``."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "family": self.family,
            "kind": self.kind,
            "formula": self.formula,
            "derivative_formula": self.derivative_formula,
            "output_range": self.output_range,
            "range_text": self.range_text,
            "mean_output": self.mean_output,
            "zero_centered": self.zero_centered,
            "saturating": self.saturating,
            "saturation": self.saturation,
            "max_slope": self.max_slope,
            "can_die": self.can_die,
            "recommended_initializer": self.recommended_initializer,
            "implied_gain": self.implied_gain,
            "implied_fan": self.implied_fan,
            "gain": self.gain,
            "gain_nonlinearity": self.gain_nonlinearity,
            "pytorch_gain": self.pytorch_gain,
            "second_moment_gain": self.second_moment_gain,
            "params": dict(self.params),
            "keras_equivalent": self.keras_equivalent,
            "reference": self.reference,
            "notes": self.notes,
        }


# Scalar helpers for the golden-section search that locates the minima and maximum slopes of
# the smooth functions once (the functions themselves are the NumPy references of ``_numpy``).
# The tests check these numbers against sampled grids.
def _phi(x: float) -> float:
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _scalar(function: Callable) -> Callable[[float], float]:
    return lambda x: float(function(x))


def _scalar_gelu_tanh_slope(x: float) -> float:
    t = math.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (
        1.0 + 3.0 * GELU_CUBIC * x * x
    )


def _scalar_swish_slope(x: float) -> float:
    s = float(n.sigmoid(x))
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


@functools.cache
def _smooth_extrema() -> dict:
    """Minima and maximum slopes of GELU, tanh-GELU and swish, located numerically."""
    # Brackets: each minimum lies in [-3, 0] and each maximum slope in [0, 5] (plots in
    # Hendrycks & Gimpel 2016, fig. 1, and Ramachandran et al. 2017, fig. 4).
    gelu_min = _golden_section_minimum(_scalar(n.gelu), -3.0, 0.0)[1]
    gelu_tanh_min = _golden_section_minimum(_scalar(n.gelu_tanh), -3.0, 0.0)[1]
    swish_min = _golden_section_minimum(_scalar(n.swish), -3.0, 0.0)[1]
    # GELU's maximum slope in closed form: gelu''(x) = phi(x) (2 - x^2) = 0 at x = sqrt(2).
    root2 = math.sqrt(2.0)
    gelu_max_slope = 0.5 * math.erfc(-root2 * INV_SQRT_2) + root2 * _phi(root2)
    gelu_tanh_max_slope = -_golden_section_minimum(lambda x: -_scalar_gelu_tanh_slope(x), 0.0, 5.0)[
        1
    ]
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


_EXTREMA = _smooth_extrema()

#: 1/(2 sqrt(pi)): E[GELU(z)] for z ~ N(0, 1) in closed form (E[z Phi(z)] = E[phi(z)]).
GELU_MEAN = 1.0 / (2.0 * math.sqrt(math.pi))


def leaky_relu_spec(
    negative_slope: float, function: Callable, name: str = "leaky_relu", **overrides
) -> ActivationSpec:
    """The facts row of a leaky ReLU with any slope (Keras's 0.2, its layer's 0.3, ...)."""
    derivative = (
        d.leaky_relu_derivative
        if negative_slope == DEFAULT_NEGATIVE_SLOPE
        else functools.partial(d.leaky_relu_derivative, negative_slope=negative_slope)
    )
    fields = dict(
        name=name,
        function=function,
        derivative=derivative,
        output_range=(-_INF, _INF) if negative_slope > 0 else (0.0, _INF),
        range_text="(-inf, inf)" if negative_slope > 0 else "[0, inf)",
        saturating=False,
        saturation="none" if negative_slope > 0 else "negative side",
        max_slope=max(1.0, negative_slope),
        can_die=negative_slope == 0,
        recommended_initializer="leaky_he_normal",
        gain_nonlinearity="leaky_relu",
        gain_param=negative_slope,
        family="relu",
        params={"negative_slope": negative_slope},
        numpy_function=functools.partial(n.leaky_relu, negative_slope=negative_slope),
        keras_layers=("LeakyReLU",),
        # max(a x, x) is the leaky ReLU only for a <= 1 (Keras's layer accepts any slope).
        formula=(
            f"max({negative_slope:g} x, x)"
            if negative_slope <= 1
            else f"x if x > 0 else {negative_slope:g} x"
        ),
        derivative_formula=f"1 if x > 0 else {negative_slope:g}",
        keras_equivalent=f"keras.activations.leaky_relu(x, negative_slope={negative_slope:g})",
        reference="Maas, Hannun & Ng, ICML 2013; lectures 003 and 004",
        notes=(
            "Keras's leaky_relu defaults to slope 0.2 and its LeakyReLU layer to 0.3; the "
            "course uses 0.01. Negative outputs are tiny, so the mean stays positive "
            "(not zero-centred, as lecture 004 says). Lecture 003 writes max(0, a x, x), "
            "which is ReLU (for x < 0 the 0 wins); the leaky ReLU is max(a x, x)."
        ),
    )
    fields.update(overrides)
    return ActivationSpec(**fields)


#: The facts table, in the order of the course. Every name and lookup is derived from it.
FACTS: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        name="linear",
        aliases=("identity",),
        function=f.linear,
        derivative=d.linear_derivative,
        numpy_function=n.linear,
        formula="x",
        derivative_formula="1",
        output_range=(-_INF, _INF),
        range_text="(-inf, inf)",
        saturating=False,
        max_slope=1.0,
        can_die=False,
        recommended_initializer="glorot_uniform",
        gain_nonlinearity="linear",
        family="linear",
        keras_equivalent="keras.activations.linear",
        keras_functions=("linear",),
        reference="lecture 000, weight initialization and activation functions",
        notes="A stack of linear layers is one linear map (lecture 000).",
    ),
    ActivationSpec(
        name="step",
        aliases=("heaviside", "binary_step"),
        function=f.step,
        derivative=d.step_derivative,
        numpy_function=n.step,
        formula="1 if x > 0, 0 if x < 0, 1/2 at 0",
        derivative_formula="0 (almost everywhere)",
        output_range=(0.0, 1.0),
        range_text="[0, 1]",
        saturating=True,
        saturation="both sides",
        max_slope=0.0,
        can_die=True,
        recommended_initializer="glorot_uniform",
        gain_nonlinearity="linear",
        family="other",
        reference="Rosenblatt 1958; lecture 003, fundamentals of deep neural networks",
        notes=(
            "The perceptron's activation. Its gradient is 0 almost everywhere, so gradient "
            "descent cannot train through it (every unit is 'dead'). No variance-preserving "
            "gain exists (the backward signal is 0); the gain shown is the linear one."
        ),
    ),
    ActivationSpec(
        name="sigmoid",
        aliases=("logistic",),
        function=f.sigmoid,
        derivative=d.sigmoid_derivative,
        numpy_function=n.sigmoid,
        formula="1 / (1 + exp(-x))",
        derivative_formula="sigmoid(x) (1 - sigmoid(x))",
        output_range=(0.0, 1.0),
        range_text="(0, 1)",
        saturating=True,
        saturation="both sides",
        # 0.25 = sigma(0)(1 - sigma(0)) = 1/2 * 1/2, attained at 0: the slopes fill (0, 0.25].
        max_slope=0.25,
        can_die=False,
        recommended_initializer="glorot_uniform",
        gain_nonlinearity="sigmoid",
        family="sigmoid",
        keras_equivalent="keras.activations.sigmoid",
        keras_functions=("sigmoid",),
        reference="lecture 004, other network specifications; Glorot & Bengio, AISTATS 2010",
        notes=(
            "Output layer for binary / multi-label classification. In hidden layers each "
            "layer multiplies the gradient by at most 0.25: 0.25**20 ~ 9.1e-13 (lecture 004). "
            "The slope interval is (0, 0.25], with "
            "0.25 attained at x = 0; lecture 004 writes the open interval (0, 0.25)."
        ),
    ),
    ActivationSpec(
        name="tanh",
        function=f.tanh,
        derivative=d.tanh_derivative,
        numpy_function=n.tanh,
        formula="(e^x - e^-x) / (e^x + e^-x)",
        derivative_formula="1 - tanh(x)^2",
        output_range=(-1.0, 1.0),
        range_text="(-1, 1)",
        saturating=True,
        saturation="both sides",
        max_slope=1.0,
        can_die=False,
        recommended_initializer="glorot_uniform",
        gain_nonlinearity="tanh",
        family="tanh",
        keras_equivalent="keras.activations.tanh",
        keras_functions=("tanh",),
        reference="LeCun et al., Efficient BackProp, 1998; lecture 004",
        notes=(
            "Zero-centred, better than sigmoid, but saturates too (lecture 004). "
            "glorot_uniform implies gain 1 (fan_avg); PyTorch's calculate_gain gives 5/3."
        ),
    ),
    ActivationSpec(
        name="relu",
        function=f.relu,
        derivative=d.relu_derivative,
        numpy_function=n.relu,
        keras_layers=("ReLU",),
        formula="max(0, x)",
        derivative_formula="1 if x > 0 else 0",
        output_range=(0.0, _INF),
        range_text="[0, inf)",
        saturating=False,
        saturation="negative side",
        max_slope=1.0,
        can_die=True,
        recommended_initializer="he_normal",
        gain_nonlinearity="relu",
        family="relu",
        keras_equivalent="keras.activations.relu",
        keras_functions=("relu",),
        reference="Nair & Hinton, ICML 2010; He et al., ICCV 2015",
        notes=(
            "Flat (zero gradient) only for x < 0 (lecture 004: saturation 'maso'); a unit "
            "whose input stays negative is dead."
        ),
    ),
    leaky_relu_spec(DEFAULT_NEGATIVE_SLOPE, f.leaky_relu, keras_functions=("leaky_relu",)),
    leaky_relu_spec(
        DEFAULT_NEGATIVE_SLOPE,
        f.leaky_relu,
        name="prelu",
        aliases=("parametric_relu",),
        kind="layer",
        layer_factory=f.prelu,
        keras_layers=("PReLU",),
        formula="x if x >= 0 else a x, a learned (starts at 0.01 with prelu())",
        derivative_formula="1 if x > 0 else a; d/da = min(x, 0)",
        keras_equivalent="keras.layers.PReLU(alpha_initializer=Constant(0.01))",
        reference="He et al., ICCV 2015, https://arxiv.org/abs/1502.01852; lecture 004",
        notes=(
            "A layer, not a function: use keras_init_lab.activations.prelu(). Facts are at "
            "initialization (slope 0.01). Keras's PReLU starts its slope at 0 (a ReLU). "
            "A learned slope adds parameters (lecture 004: risk of overfitting)."
        ),
    ),
    ActivationSpec(
        name="elu",
        function=f.elu,
        derivative=d.elu_derivative,
        numpy_function=n.elu,
        keras_layers=("ELU",),
        formula="x if x > 0 else exp(x) - 1",
        derivative_formula="1 if x > 0 else exp(x)",
        output_range=(-1.0, _INF),
        range_text="(-1, inf)",
        saturating=False,
        saturation="negative side",
        max_slope=1.0,
        can_die=False,
        recommended_initializer="he_normal",
        gain_nonlinearity="elu",
        family="relu",
        params={"alpha": 1.0},
        keras_equivalent="keras.activations.elu",
        keras_functions=("elu",),
        reference="Clevert et al., ICLR 2016, https://arxiv.org/abs/1511.07289",
        notes=(
            "Mean output for N(0,1) input is 0.16: closer to 0 than ReLU's 0.40, not 0. "
            "Saturates smoothly to -1 for x << 0 but its gradient exp(x) is never exactly 0."
        ),
    ),
    ActivationSpec(
        name="selu",
        function=f.selu,
        derivative=d.selu_derivative,
        numpy_function=n.selu,
        formula="1.0507 (x if x > 0 else 1.6733 (exp(x) - 1))",
        derivative_formula="1.0507 if x > 0 else 1.0507 * 1.6733 exp(x)",
        output_range=(-SELU_SCALE * SELU_ALPHA, _INF),
        range_text="(-1.7581, inf)",
        saturating=False,
        saturation="negative side",
        # lambda * alpha: the slope just left of 0, larger than lambda on the right.
        max_slope=SELU_SCALE * SELU_ALPHA,
        can_die=False,
        recommended_initializer="lecun_normal",
        gain_nonlinearity="selu",
        family="relu",
        params={"alpha": SELU_ALPHA, "scale": SELU_SCALE},
        keras_equivalent="keras.activations.selu",
        keras_functions=("selu",),
        reference="Klambauer et al., NeurIPS 2017, https://arxiv.org/abs/1706.02515",
        notes=(
            "Self-normalizing with lecun_normal weights (gain 1, as in the paper): N(0,1) in, "
            "mean 0 and variance 1 out. PyTorch's calculate_gain('selu') = 3/4 is PyTorch's "
            "own choice, not part of the paper."
        ),
    ),
    ActivationSpec(
        name="gelu",
        aliases=("gelu_exact",),
        function=f.gelu,
        derivative=d.gelu_derivative,
        numpy_function=n.gelu,
        formula="x Phi(x) = x/2 erfc(-x/sqrt(2))",
        derivative_formula="Phi(x) + x phi(x)",
        output_range=(_EXTREMA["gelu_min"], _INF),
        range_text=f"[{_EXTREMA['gelu_min']:.4f}, inf)",
        saturating=False,
        saturation="negative side",
        max_slope=_EXTREMA["gelu_max_slope"],
        can_die=False,
        recommended_initializer="he_normal",
        gain_nonlinearity="gelu",
        family="other",
        keras_equivalent="keras.activations.gelu(x, approximate=False)",
        # keras.activations.gelu defaults to approximate=False: the exact GELU.
        keras_functions=("gelu",),
        reference="Hendrycks & Gimpel 2016, https://arxiv.org/abs/1606.08415; lecture 004",
        notes=(
            "Lecture 004's table gives GELU the range (-inf, inf) and calls it zero-centred; "
            f"its minimum is {_EXTREMA['gelu_min']:.4f} (near x = -0.75) and "
            f"E[GELU(z)] = 1/(2 sqrt(pi)) = {GELU_MEAN:.4f} for z ~ N(0, 1), so neither holds. "
            "Smooth, derivative continuous."
        ),
    ),
    ActivationSpec(
        name="gelu_tanh",
        aliases=("gelu_approximate", "approximate_gelu"),
        function=f.gelu_tanh,
        derivative=d.gelu_tanh_derivative,
        numpy_function=n.gelu_tanh,
        formula="x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        derivative_formula="(1+t)/2 + x/2 (1-t^2) sqrt(2/pi) (1 + 0.134145 x^2)",
        output_range=(_EXTREMA["gelu_tanh_min"], _INF),
        range_text=f"[{_EXTREMA['gelu_tanh_min']:.4f}, inf)",
        saturating=False,
        saturation="negative side",
        max_slope=_EXTREMA["gelu_tanh_max_slope"],
        can_die=False,
        recommended_initializer="he_normal",
        gain_nonlinearity="gelu",
        family="other",
        keras_equivalent="keras.activations.gelu(x, approximate=True)",
        reference="Hendrycks & Gimpel 2016, section 2; lecture 004",
        notes=(
            "Within 5e-4 of the exact GELU everywhere; the gain is the exact GELU's. "
            "Float16-safe here, unlike keras.ops.gelu(approximate=True)."
        ),
    ),
    ActivationSpec(
        name="swish",
        aliases=("silu",),
        function=f.swish,
        derivative=d.swish_derivative,
        numpy_function=n.swish,
        formula="x sigmoid(x)",
        derivative_formula="sigmoid(x) (1 + x (1 - sigmoid(x)))",
        output_range=(_EXTREMA["swish_min"], _INF),
        range_text=f"[{_EXTREMA['swish_min']:.4f}, inf)",
        saturating=False,
        saturation="negative side",
        max_slope=_EXTREMA["swish_max_slope"],
        can_die=False,
        recommended_initializer="he_normal",
        gain_nonlinearity="swish",
        family="other",
        keras_equivalent="keras.activations.silu",
        keras_functions=("silu", "swish"),
        reference=(
            "Ramachandran et al. 2017, https://arxiv.org/abs/1710.05941; Elfwing et al. "
            "2017, https://arxiv.org/abs/1702.03118"
        ),
        notes="Smooth and non-monotonic: dips to -0.28 at x = -1.28.",
    ),
    ActivationSpec(
        name="softmax",
        function=f.softmax,
        derivative=d.softmax_derivative,
        numpy_function=n.softmax,
        keras_layers=("Softmax",),
        formula="exp(x_i) / sum_j exp(x_j)",
        derivative_formula="ds_i/dx_j = s_i (delta_ij - s_j); diagonal s_i (1 - s_i)",
        output_range=(0.0, 1.0),
        range_text="(0, 1)",
        saturating=True,
        saturation="both sides",
        # Largest diagonal entry s(1 - s) at s = 1/2; off-diagonal entries are <= 1/4 too.
        max_slope=0.25,
        can_die=False,
        recommended_initializer="glorot_uniform",
        gain_nonlinearity="linear",
        family="softmax",
        keras_equivalent="keras.activations.softmax",
        keras_functions=("softmax",),
        reference="Bridle 1990; lecture 003, fundamentals of deep neural networks",
        notes=(
            "Output layer for multi-class classification only. Lecture 004 marks saturation "
            "'not applicable' (it is an output); its Jacobian does vanish when one logit "
            "dominates. The derivative shown is the Jacobian's diagonal."
        ),
    ),
)


@dataclasses.dataclass(frozen=True)
class KerasOnlyActivation:
    """A Keras or TensorFlow activation without a facts row: its family, for recognition only.

    Attributes:
        name: the name shown for its units.
        family: a key of :data:`FAMILIES`.
        can_die: whether a unit can get a zero gradient for every input.
        functions: the names it has in ``keras.activations``, ``keras.ops``, ``tf.nn`` or
            ``tf.math`` (only those the installed versions have are looked up).
    """

    name: str
    family: str
    can_die: bool
    functions: tuple[str, ...]


#: The Keras and TensorFlow activations the facts table has no row for, with their family, so
#: the statistics recognise them by object. Families as in :data:`FAMILIES`: rectifiers whose
#: negative side is zero or saturating to a constant (relu6: Krizhevsky 2010; celu: Barron
#: 2017) are "relu", relu6 dying like ReLU; smooth self-gated ones (hard_silu: Howard et al.
#: 2019; mish: Misra 2019), softplus and exponential are "other"; bounded odd squashers
#: (hard_tanh, softsign) are "tanh"; bounded (0, 1) ones (hard_sigmoid) "sigmoid".
KERAS_ONLY: tuple[KerasOnlyActivation, ...] = (
    KerasOnlyActivation("relu6", "relu", True, ("relu6",)),
    KerasOnlyActivation("celu", "relu", False, ("celu",)),
    KerasOnlyActivation("hard_silu", "other", False, ("hard_silu", "hard_swish")),
    KerasOnlyActivation("mish", "other", False, ("mish",)),
    KerasOnlyActivation("hard_tanh", "tanh", False, ("hard_tanh",)),
    KerasOnlyActivation("softsign", "tanh", False, ("softsign",)),
    KerasOnlyActivation("hard_sigmoid", "sigmoid", False, ("hard_sigmoid",)),
    KerasOnlyActivation("log_softmax", "softmax", False, ("log_softmax",)),
    KerasOnlyActivation("softplus", "other", False, ("softplus",)),
    KerasOnlyActivation("exponential", "other", False, ("exponential",)),
)


# ------------------------------------------------------------------------- derived lookups


@functools.cache
def by_name() -> dict[str, ActivationSpec]:
    """``{canonical name: row}`` of :data:`FACTS`, in the course's order."""
    return {row.name: row for row in FACTS}


def function_names() -> list[str]:
    """Names of the rows usable as ``activation=`` (kind "function"), course order."""
    return [row.name for row in FACTS if row.kind == "function"]


def layer_names() -> list[str]:
    """Names of the rows that are layers (PReLU), course order."""
    return [row.name for row in FACTS if row.kind == "layer"]


def alias_map() -> dict[str, str]:
    """``{alias: canonical name}`` from the rows' ``aliases``."""
    return {alias: row.name for row in FACTS for alias in row.aliases}


def keras_function_kinds() -> list[tuple[UnitKind, tuple[str, ...]]]:
    """``(kind, names)`` of every activation Keras or TensorFlow has under ``names``.

    The facts rows with ``keras_functions`` first (course order), then :data:`KERAS_ONLY`.

    Example:
        >>> kind, names = keras_function_kinds()[0]
        >>> kind, names
        (UnitKind(name='linear', family='linear', can_die=False), ('linear',))
    """
    rows = [(row.unit_kind, row.keras_functions) for row in FACTS if row.keras_functions]
    extra = [(UnitKind(a.name, a.family, a.can_die), a.functions) for a in KERAS_ONLY]
    return rows + extra


def _check_table() -> None:
    """The table's invariants: unique names, known families, functions saved by row name."""
    seen = set()
    for row in (*FACTS, *KERAS_ONLY):
        for name in (row.name, *getattr(row, "aliases", ())):
            if name in seen:
                raise RuntimeError(f"activation name {name!r} appears twice in FACTS")
            seen.add(name)
        if row.family not in FAMILIES:
            raise RuntimeError(
                f"activation {row.name!r} has family {row.family!r}; families: {list(FAMILIES)}"
            )
    for row in FACTS:
        if row.kind == "function" and row.function.__name__ != row.name:
            raise RuntimeError(
                f"FACTS row {row.name!r} holds {row.function.__name__!r}: the name saved in "
                ".keras files (keras_init_lab>name) must be the row's name."
            )
    layers = [name for row in FACTS for name in row.keras_layers]
    if len(layers) != len(set(layers)):
        raise RuntimeError(f"a Keras layer class belongs to two FACTS rows: {layers}")


_check_table()
