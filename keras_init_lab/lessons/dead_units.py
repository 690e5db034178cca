"""Dead ReLU units: what makes them, and why the initializer's scale does not.

A ReLU unit is dead on a probe batch when its slope is 0 for every sample, so no sample sends
it a gradient. For ReLU that is exactly the unit that ``ActivationStats`` counts as dead (its
activation is never > 0 on the probe, see :mod:`keras_init_lab.callbacks.activation_stats`);
:attr:`DeadUnits.never_positive_fraction` is that count, and a test pins it to
:func:`~keras_init_lab.callbacks.activation_stats.activation_statistics` on the same weights.

**The scale does not decide which units die.** ReLU is positively homogeneous,
``relu(c z) = c relu(z)`` for ``c > 0``. With zero biases, multiplying every kernel of layer
``k`` by ``c_k`` multiplies layer ``l``'s pre-activations by ``c_1 ... c_l`` and never changes
a sign. He (``Var(W) = 2 / fan_in``) and Glorot (``Var(W) = 2 / (fan_in + fan_out)``) applied
to the *same* standard-normal draws differ only by such a factor (``1 / sqrt(2)`` per square
layer), so they have exactly the same dead units, unit by unit. What Glorot does to a ReLU
stack is shrink the signal: the activations' second moment halves at every square layer,
``0.5^19 ~ 1.9e-6`` over 20 layers (lecture 002's summary table puts "risk of dead units"
against Xavier + ReLU; the mechanism is this variance loss, see the course companion's errata).

**What does change the dead units.**

* Depth: the probe samples' representations become more and more alike with depth (the ReLU
  kernel pulls their correlation towards 1), so a unit's pre-activation takes the same sign on
  all of them more often; the dead fraction grows with depth (Lu et al. 2019: a deep enough
  ReLU net with symmetric weights collapses with probability 1).
* Nonzero biases: they do not scale with the kernels, so the sign pattern, and the dead units,
  then depend on the scale: with a bias of -0.1, Glorot's shrinking signal lets the bias win
  and most deep units die.
* A leaky slope ``alpha > 0``: the slope is ``alpha`` on the negative side, never 0, so no
  unit is dead (the units whose activation is never positive are still there, as many as
  with ReLU; they pass ``alpha`` times the gradient).
* BatchNorm before the activation (training mode, ``gamma = 1``, ``beta = 0``): each unit's
  pre-activation has batch mean 0, so unless it is constant over the batch some sample is
  positive; no unit is dead.
* During training, a learning-rate blow-up that pushes biases or weights far negative kills
  units for good (not simulated here: this lesson looks at initialization).

Every pre-activation is computed in float64; :attr:`DeadUnits.margin` records how far the
signs are from rounding (see :func:`compare_scales`).

Reference:
    K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015
    (https://arxiv.org/abs/1502.01852). X. Glorot, Y. Bengio, AISTATS 2010
    (https://proceedings.mlr.press/v9/glorot10a.html). L. Lu, Y. Shin, Y. Su, G. E. Karniadakis,
    "Dying ReLU and Initialization: Theory and Numerical Examples", 2019
    (https://arxiv.org/abs/1903.06733). Lecture 002, initialization (summary table); lecture
    004, other network specifications (ReLU's dead units, leaky ReLU, BatchNorm).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from keras_init_lab import activations, initializers
from keras_init_lab._validation import check_int, check_number
from keras_init_lab.callbacks.activation_stats import DEFAULT_MAX_PROBE_SAMPLES
from keras_init_lab.fans import DEFAULT_NEGATIVE_SLOPE
from keras_init_lab.lessons.normalization import batchnorm_reference, keras_batchnorm_defaults

__all__ = [
    "DEPTHS",
    "DRAWS",
    "MAX_DEPTH",
    "SCALES",
    "VARIANT_BIASES",
    "WIDTH",
    "DeadUnits",
    "DeadUnitsLesson",
    "ScaleComparison",
    "compare_scales",
    "dead_unit_lesson",
]

#: The two initializers compared, as the package's initializer classes (their ``variance``
#: gives the kernel variance for a shape).
SCALES = {"he": initializers.HeNormal, "glorot": initializers.GlorotNormal}
#: Width of every layer (inputs included, so every layer is square and He / Glorot differ by
#: the same factor ``1 / sqrt(2)`` per layer): 32 units, a narrow MLP as in ``compare``'s deep
#: preset, where dead units are common enough to count.
WIDTH = 32
#: Independent weight draws averaged over: 50 draws of 32 units give 1600 units per layer, so
#: a dead fraction of 20% is estimated to about +-1% (binomial standard error).
DRAWS = 50
#: Depths at which the dead fraction is reported (4: a shallow MLP; 20: the course's deep net
#: in ``compare``; 50: lecture 002's experiment).
DEPTHS = (4, 20, 50)
#: Nonzero biases of the "what changes it" variants: a small positive and a small negative
#: constant, of the order of the 0.01-0.1 sometimes used for ReLU biases (CS231n, "Neural
#: Networks Part 2", bias initialization).
VARIANT_BIASES = (0.1, -0.1)
#: Deepest network accepted. Glorot's activations shrink by sqrt(2) per square layer, so at
#: depth 200 they are about 2^-100 ~ 8e-31 of the input, far above float64's smallest normal
#: number (2.2e-308): no positive value can underflow to 0 and pass for a dead unit.
MAX_DEPTH = 200


@dataclass(frozen=True)
class DeadUnits:
    """Dead units of one network setting, layer by layer, over the draws.

    Attributes:
        scale: ``"he"`` or ``"glorot"``.
        weight_std: standard deviation of every kernel entry (square layers of ``width``).
        bias: the constant bias of every unit.
        negative_slope: 0 for ReLU, ``alpha`` for leaky ReLU.
        batchnorm: BatchNorm (training mode, ``gamma = 1``, ``beta = 0``) before each activation.
        dead_masks: ``(depth, draws, width)`` bool, True where the unit's slope is 0 on every
            probe sample.
        never_positive_masks: ``(depth, draws, width)`` bool, True where the unit's activation
            is never > 0 on the probe (``ActivationStats``' dead units; the same as
            ``dead_masks`` for ReLU).
        second_moment: ``(depth,)`` mean of the activations squared ``E[h^2]`` per layer (over
            draws and probe samples), the quantity lecture 002's recursion follows.
        margin: ``(depth,)`` smallest ``|z| / sum_j |W_ij h_j|`` per layer over the
            pre-activations whose inputs are not all exactly 0 (how far each sign is from the
            rounding of the dot product; NaN when every input is exactly 0).
    """

    scale: str
    weight_std: float
    bias: float
    negative_slope: float
    batchnorm: bool
    dead_masks: np.ndarray
    never_positive_masks: np.ndarray
    second_moment: np.ndarray
    margin: np.ndarray

    @property
    def dead_fraction(self) -> np.ndarray:
        """``(depth,)`` share of dead units per layer, over draws and units."""
        return self.dead_masks.mean(axis=(1, 2))

    @property
    def never_positive_fraction(self) -> np.ndarray:
        """``(depth,)`` share of units never > 0 per layer (``ActivationStats``' dead_fraction)."""
        return self.never_positive_masks.mean(axis=(1, 2))

    @property
    def overall(self) -> float:
        """Share of dead units over every layer, draw and unit."""
        return float(self.dead_masks.mean())

    def first_layers(self, n: int) -> DeadUnits:
        """The same network cut after ``n`` layers (layer ``l`` depends only on layers <= l)."""
        n = check_int("n", n, minimum=1, maximum=len(self.second_moment))
        return dataclasses.replace(
            self,
            dead_masks=self.dead_masks[:n],
            never_positive_masks=self.never_positive_masks[:n],
            second_moment=self.second_moment[:n],
            margin=self.margin[:n],
        )


@dataclass(frozen=True)
class ScaleComparison:
    """The same draws at He and at Glorot scale.

    Attributes:
        he, glorot: the two :class:`DeadUnits`.
        scaling_error: ``(depth,)`` largest ``|h_glorot - c^l h_he|`` per layer divided by
            the layer's largest ``|c^l h_he|``, ``c = glorot.weight_std / he.weight_std``:
            rounding-sized when the network is positively homogeneous (zero biases, ReLU or
            leaky ReLU), of order 1 when a bias or BatchNorm breaks the homogeneity.
    """

    he: DeadUnits
    glorot: DeadUnits
    scaling_error: np.ndarray

    @property
    def identical(self) -> bool:
        """Whether every layer's dead units are the same units in every draw."""
        return bool(np.array_equal(self.he.dead_masks, self.glorot.dead_masks))

    @property
    def identical_never_positive(self) -> bool:
        """Whether the never-positive units (``ActivationStats``' count) are the same units."""
        return bool(np.array_equal(self.he.never_positive_masks, self.glorot.never_positive_masks))

    @property
    def scale_ratio(self) -> float:
        """``c``: Glorot's weight standard deviation over He's (``1 / sqrt(2)`` when square)."""
        return self.glorot.weight_std / self.he.weight_std

    def first_layers(self, n: int) -> ScaleComparison:
        """Both networks cut after ``n`` layers."""
        return ScaleComparison(
            self.he.first_layers(n), self.glorot.first_layers(n), self.scaling_error[:n]
        )


@dataclass(frozen=True)
class DeadUnitsLesson:
    """Everything :func:`dead_unit_lesson` measures.

    Attributes:
        depth, width, draws, probe_size, seed: the setting.
        deep: zero biases, ReLU, ``max(depth, *depths)`` layers, He vs Glorot on the same draws.
        depths: the depths of :meth:`by_depth`.
        variants: ``depth`` layers on the same draws with one change each: ``"bias +0.1"``,
            ``"bias -0.1"``, ``"leaky 0.01"``, ``"batchnorm"`` (names follow the values).
    """

    depth: int
    width: int
    draws: int
    probe_size: int
    seed: int
    deep: ScaleComparison
    depths: tuple[int, ...]
    variants: dict[str, ScaleComparison]

    @property
    def zero_bias(self) -> ScaleComparison:
        """ReLU with zero biases at ``depth`` layers (the first layers of :attr:`deep`)."""
        return self.deep.first_layers(self.depth)

    def by_depth(self) -> dict[int, tuple[float, float]]:
        """``{L: (He's dead share, Glorot's dead share)}`` of an ``L``-layer ReLU net."""
        return {
            n: (self.deep.he.first_layers(n).overall, self.deep.glorot.first_layers(n).overall)
            for n in self.depths
        }

    @property
    def predicted_glorot_ratio(self) -> float:
        """Lecture 002's recursion for Glorot + ReLU, square layers: ``E[h^2]`` halves per
        layer, ``0.5^(depth - 1)`` from the first layer to the last."""
        return 0.5 ** (self.depth - 1)

    def second_moment_ratio(self, scale: str) -> float:
        """Measured ``E[h^2]`` at layer ``depth`` over layer 1, for ``"he"`` or ``"glorot"``."""
        units = getattr(self.zero_bias, scale)
        return float(units.second_moment[-1] / units.second_moment[0])


def _draws(depth: int, width: int, draws: int, probe_size: int, seed: int):
    """Probe ``x ~ N(0, 1)`` ``(probe, width)`` and standard-normal kernels
    ``(draws, depth, width, width)`` from one seeded generator (float64).

    Drawn layer after layer, so the first ``L`` layers of a deeper draw are the draws of an
    ``L``-layer net with the same seed.
    """
    rng = np.random.default_rng(seed)
    probe = rng.standard_normal((probe_size, width))
    layers = [rng.standard_normal((draws, width, width)) for _ in range(depth)]
    return probe, np.stack(layers, axis=1)


def _activation(negative_slope: float):
    """The package's ReLU, or its leaky ReLU with that slope, and the function's derivative."""
    if negative_slope == 0.0:
        function = activations.relu
    else:
        function = activations.LeakyReLUActivation(negative_slope)
    return function, activations.spec(function).derivative


def _run(probe, kernels, stds, bias, negative_slope, batchnorm, epsilon):
    """Forward both scales in lockstep; returns ``(per-scale arrays, scaling_error)``."""
    function, derivative = _activation(negative_slope)
    draws, depth, width, _ = kernels.shape
    inputs = {name: np.broadcast_to(probe, (draws, *probe.shape)) for name in stds}
    out = {name: {"dead": [], "never": [], "moment": [], "margin": []} for name in stds}
    scaling_error = []
    factor, ratio = 1.0, stds["glorot"] / stds["he"]
    for layer in range(depth):
        factor *= ratio
        for name, std in stds.items():
            weights = kernels[:, layer] * std
            h = inputs[name]
            z = np.einsum("dpi,dio->dpo", h, weights, optimize=True) + bias
            bound = np.einsum("dpi,dio->dpo", np.abs(h), np.abs(weights), optimize=True)
            bound += abs(bias)
            # Where every term is exactly 0, z is exactly 0 at any scale: no rounding to judge.
            relative = np.divide(np.abs(z), bound, out=np.full_like(z, np.inf), where=bound > 0)
            smallest = float(np.min(relative))
            out[name]["margin"].append(smallest if np.isfinite(smallest) else np.nan)
            if batchnorm:
                # One BatchNorm unit per (draw, unit): the batch axis is the probe.
                flat = z.transpose(1, 0, 2).reshape(len(probe), draws * width)
                ones = np.ones(draws * width)
                flat, _, _ = batchnorm_reference(
                    flat, ones, 0 * ones, 0 * ones, ones, True, epsilon=epsilon
                )
                z = flat.reshape(len(probe), draws, width).transpose(1, 0, 2)
            a = np.asarray(function(z), dtype=np.float64)
            slope = np.asarray(derivative(z), dtype=np.float64)
            out[name]["dead"].append(np.all(slope == 0.0, axis=1))
            out[name]["never"].append(np.all(a <= 0.0, axis=1))
            out[name]["moment"].append(float(np.mean(a**2)))
            inputs[name] = a
        reference = factor * inputs["he"]
        largest = float(np.max(np.abs(reference)))
        difference = float(np.max(np.abs(inputs["glorot"] - reference)))
        scaling_error.append(difference / largest if largest > 0 else np.nan)
    return out, np.array(scaling_error)


def compare_scales(
    depth: int = DEPTHS[1],
    width: int = WIDTH,
    draws: int = DRAWS,
    probe_size: int = DEFAULT_MAX_PROBE_SAMPLES,
    seed: int = 0,
    bias: float = 0.0,
    negative_slope: float = 0.0,
    batchnorm: bool = False,
) -> ScaleComparison:
    """Dead units of the same standard-normal draws scaled to He and to Glorot.

    Formula: every layer is square (``width -> width``, inputs included), kernels
    ``W_k = sigma * U_k`` with the same ``U_k ~ N(0, 1)`` for both scales,
    ``sigma_He^2 = 2 / width`` and ``sigma_Glorot^2 = 2 / (2 width)`` (read from
    :class:`~keras_init_lab.initializers.HeNormal` and
    :class:`~keras_init_lab.initializers.GlorotNormal`), ``z_k = h_{k-1} W_k + b``,
    ``h_k = a(z_k)`` (optionally BatchNorm on ``z_k`` first), probe ``h_0 = x ~ N(0, 1)``.
    A unit is dead when ``a'(z) = 0`` on every probe sample. With ``b = 0`` and no BatchNorm,
    ``h_k^Glorot = 2^(-k/2) h_k^He`` exactly (positive homogeneity), so the dead units agree.

    Rounding cannot fake that agreement or break it: a sign computed in float64 can differ
    from the exact one only when ``|z|`` is within the dot product's rounding,
    ``<= width * 2^-53 * sum_j |W_ij h_j|`` (Higham, "Accuracy and Stability of Numerical
    Algorithms", 2002, eq. 3.5), i.e. when :attr:`DeadUnits.margin` is below about 4e-15 for
    width 32; a positive ``z`` is never rounded to 0 (no underflow above
    :data:`MAX_DEPTH`); and an input that is exactly 0 everywhere gives exactly 0 at any scale.

    Example:
        >>> r = compare_scales(depth=8, draws=10)
        >>> r.identical, round(r.scale_ratio, 4)
        (True, 0.7071)

    Args:
        depth: hidden layers, 1 to :data:`MAX_DEPTH`.
        width: units per layer (and input features), >= 1.
        draws: independent networks, >= 1.
        probe_size: samples of the probe batch, >= 2 (256, ``ActivationStats``' default).
        seed: seed of the probe and the draws.
        bias: the same constant bias for every unit.
        negative_slope: 0 for ReLU, else leaky ReLU's slope in (0, 1).
        batchnorm: BatchNorm in training mode before every activation (Keras's epsilon).

    Returns:
        A :class:`ScaleComparison`.

    Raises:
        TypeError: a non-integer size or seed, a non-number bias or slope, a non-bool
            ``batchnorm``.
        ValueError: a size or slope out of range.
    """
    depth = check_int("depth", depth, minimum=1, maximum=MAX_DEPTH)
    width = check_int("width", width, minimum=1)
    draws = check_int("draws", draws, minimum=1)
    probe_size = check_int("probe_size", probe_size, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    bias = check_number("bias", bias)
    negative_slope = check_number("negative_slope", negative_slope, minimum=0.0, maximum=1.0)
    if negative_slope == 1.0:
        raise ValueError(
            "negative_slope must be below 1 (1 is the identity, no nonlinearity); received "
            f"negative_slope={negative_slope!r}. Use 0 for ReLU or 0.01, the course's leaky ReLU."
        )
    if not isinstance(batchnorm, (bool, np.bool_)):
        raise TypeError(f"batchnorm must be True or False; received batchnorm={batchnorm!r}.")
    probe, kernels = _draws(depth, width, draws, probe_size, seed)
    return _compare(probe, kernels, bias, negative_slope, bool(batchnorm))


def _compare(probe, kernels, bias, negative_slope, batchnorm) -> ScaleComparison:
    width = kernels.shape[-1]
    stds = {name: float(np.sqrt(cls().variance((width, width)))) for name, cls in SCALES.items()}
    epsilon = keras_batchnorm_defaults()["epsilon"]
    out, scaling_error = _run(probe, kernels, stds, bias, negative_slope, batchnorm, epsilon)
    units = {
        name: DeadUnits(
            scale=name,
            weight_std=stds[name],
            bias=bias,
            negative_slope=negative_slope,
            batchnorm=batchnorm,
            dead_masks=np.stack(out[name]["dead"]),
            never_positive_masks=np.stack(out[name]["never"]),
            second_moment=np.array(out[name]["moment"]),
            margin=np.array(out[name]["margin"]),
        )
        for name in stds
    }
    return ScaleComparison(units["he"], units["glorot"], scaling_error)


def _variant_name(bias: float) -> str:
    return f"bias {bias:+g}"


def dead_unit_lesson(
    depth: int = DEPTHS[1],
    width: int = WIDTH,
    draws: int = DRAWS,
    probe_size: int = DEFAULT_MAX_PROBE_SAMPLES,
    seed: int = 0,
    depths: tuple[int, ...] = DEPTHS,
    biases: tuple[float, ...] = VARIANT_BIASES,
    negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
) -> DeadUnitsLesson:
    """He vs Glorot on the same draws, the dead fraction through depth, and what changes it.

    Formula: see :func:`compare_scales`. One set of draws (``seed``) serves every part: the
    zero-bias ReLU net at ``max(depth, *depths)`` layers (its first ``L`` layers are the
    ``L``-layer net), then at ``depth`` layers each variant: every bias of ``biases``, leaky
    ReLU with ``negative_slope``, BatchNorm before ReLU.

    Example:
        >>> lesson = dead_unit_lesson(depth=6, draws=5, depths=(2, 6))
        >>> lesson.zero_bias.identical, lesson.variants["batchnorm"].he.overall
        (True, 0.0)

    Args:
        depth: layers of the main comparison and of the variants (1 to :data:`MAX_DEPTH`).
        width, draws, probe_size, seed: as in :func:`compare_scales`.
        depths: depths of :meth:`DeadUnitsLesson.by_depth` (each 1 to :data:`MAX_DEPTH`).
        biases: nonzero constant biases to try.
        negative_slope: leaky ReLU's slope, in (0, 1) (default 0.01, the course's).

    Returns:
        A :class:`DeadUnitsLesson`.

    Raises:
        TypeError, ValueError: as :func:`compare_scales`, for every argument; ``depths`` or
            ``biases`` that are not sequences of numbers, a zero bias, a zero slope.
    """
    depth = check_int("depth", depth, minimum=1, maximum=MAX_DEPTH)
    width = check_int("width", width, minimum=1)
    draws = check_int("draws", draws, minimum=1)
    probe_size = check_int("probe_size", probe_size, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    depths = tuple(_sequence("depths", depths, numbers.Integral))
    depths = tuple(check_int("depths", d, minimum=1, maximum=MAX_DEPTH) for d in depths)
    biases = tuple(check_number("biases", b) for b in _sequence("biases", biases, numbers.Real))
    if any(b == 0.0 for b in biases):
        raise ValueError(
            f"biases lists the nonzero biases to try (zero biases are always measured); "
            f"received biases={biases!r}."
        )
    negative_slope = check_number("negative_slope", negative_slope, minimum=0.0, maximum=1.0)
    if not 0.0 < negative_slope < 1.0:
        raise ValueError(
            "negative_slope is the leaky variant's slope, strictly between 0 (ReLU) and 1 (the "
            f"identity); received negative_slope={negative_slope!r}. The course uses 0.01."
        )
    deepest = max(depth, *depths)
    probe, kernels = _draws(deepest, width, draws, probe_size, seed)
    deep = _compare(probe, kernels, 0.0, 0.0, False)
    shallow = kernels[:, :depth]
    variants = {_variant_name(b): _compare(probe, shallow, b, 0.0, False) for b in biases}
    variants[f"leaky {negative_slope:g}"] = _compare(probe, shallow, 0.0, negative_slope, False)
    variants["batchnorm"] = _compare(probe, shallow, 0.0, 0.0, True)
    return DeadUnitsLesson(depth, width, draws, probe_size, seed, deep, depths, variants)


def _sequence(name: str, values, kind) -> list:
    """A non-empty list of ``kind`` (bools refused), else TypeError / ValueError."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers; received {name}={values!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must list at least one value; received {name}=[].")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TypeError(f"{name} must hold numbers; received {name}={values!r}.")
    return values
