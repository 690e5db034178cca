"""Weight initializers: one general variance-scaled initializer and thin named ones.

All the arithmetic lives in ``VarianceScaling`` (and ``_SeededInitializer._sample``); every
named initializer only fixes its arguments, as Keras and JAX do. Each has one canonical
snake_case name, usable as a Keras string once ``keras_init_lab`` is imported::

    import keras, keras_init_lab
    keras.layers.Dense(64, activation="relu", kernel_initializer="he_avg_normal")

Names that Keras already defines (``he_normal``, ``glorot_uniform``, ``orthogonal``,
``zeros``...) keep Keras's meaning inside Keras: Keras's ``he_normal`` is a *truncated*
normal. ``keras_init_lab.initializers.get("he_normal")`` returns this package's
``HeNormal``, an untruncated ``N(0, 2/fan_in)`` as the course and PyTorch write it. Pass the
object (``kernel_initializer=keras_init_lab.initializers.HeNormal()``) to use ours in a layer.

Seeds: with ``seed=None`` every call draws fresh values from a seed taken from Python's
``random`` module, so ``keras.utils.set_random_seed`` makes a whole run reproducible; with an
integer seed every call returns the same values (Keras's convention).
"""

from __future__ import annotations

import math
import random

import keras
from keras import ops

from keras_init_lab._names import unknown_name_error
from keras_init_lab._validation import check_choice, check_int, check_number
from keras_init_lab.fans import (
    DEFAULT_NEGATIVE_SLOPE,
    MODES,
    calculate_gain,
    compute_fans,
    fan_for_mode,
)

__all__ = [
    "DISTRIBUTIONS",
    "KERAS_STRING_NAMES",
    "LECTURE_002_DEPTH",
    "LECTURE_002_WIDTH",
    "MODES",
    "RELU_SECOND_MOMENT_RATIO",
    "SMALL_SCALE",
    "TRUNCATED_NORMAL_STD",
    "Constant",
    "GlorotHeuristicUniform",
    "GlorotNormal",
    "GlorotUniform",
    "HeAvgNormal",
    "HeAvgUniform",
    "HeNormal",
    "HeUniform",
    "LeakyHeNormal",
    "LeakyHeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "SmallNormal",
    "SmallUniform",
    "VarianceScaling",
    "Zeros",
    "aliases",
    "canonical_name",
    "describe",
    "get",
    "layer_variance_factor",
    "names",
    "register_keras_names",
]

#: How the lectures are cited in this module's docstrings and notes.
_L1 = "lecture 001, parameter initialization"
_L2 = "lecture 002, initialization"

#: The distributions VarianceScaling draws from.
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

#: Standard deviation of a standard normal truncated to (-2, 2), the interval
#: ``keras.random.truncated_normal`` keeps: sqrt(1 - 2*2*phi(2) / (Phi(2) - Phi(-2))) with
#: phi, Phi the standard normal density and CDF. Dividing the target std by it keeps the
#: variance of the truncated draw equal to the target (Keras hard-codes 0.87962566103423978).
TRUNCATED_NORMAL_STD = math.sqrt(
    1.0 - 4.0 * math.exp(-2.0) / math.sqrt(2.0 * math.pi) / math.erf(2.0 / math.sqrt(2.0))
)

#: Largest seed accepted: the int32 range, what TensorFlow's stateless random ops take.
_MAX_SEED = 2**31 - 1

_REGISTRY: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


def _register(name: str, aliases: tuple[str, ...] = ()):
    """Class decorator: give the class its canonical name and make it Keras-serializable."""

    def decorate(cls):
        cls = keras.saving.register_keras_serializable(package="keras_init_lab")(cls)
        cls.name = name
        cls.aliases = aliases
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        return cls

    return decorate


class _SeededInitializer(keras.initializers.Initializer):
    """Shared seed handling, dtype validation and the one sampling routine.

    Args:
        seed: ``None`` (fresh values at every call) or a non-negative int (the same values at
            every call).
    """

    formula = ""
    reference = ""

    def __init__(self, seed: int | None = None):
        self.seed = check_int("seed", seed, minimum=0, maximum=_MAX_SEED, allow_none=True)

    def _call_seed(self) -> int:
        return self.seed if self.seed is not None else random.randint(0, _MAX_SEED)

    @staticmethod
    def _float_dtype(dtype) -> str:
        dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
        if "float" not in dtype:
            raise ValueError(
                f"Initializers draw real numbers; received dtype={dtype!r}. Use a floating "
                "dtype such as 'float32', 'float16', 'bfloat16' or 'float64'."
            )
        return dtype

    def _sample(self, shape, dtype, distribution: str, variance: float):
        """Draw ``shape`` values of mean 0 and the given ``variance`` from ``distribution``.

        ``normal``: N(0, variance). ``truncated_normal``: N(0, (std/0.8796)^2) cut at two of
        its standard deviations, so the variance is ``variance`` again. ``uniform``:
        U[-limit, limit] with limit = sqrt(3 * variance), since Var(U[-a, a]) = a^2 / 3.
        """
        dtype = self._float_dtype(dtype)
        seed = self._call_seed()
        stddev = math.sqrt(variance)
        if distribution == "normal":
            return keras.random.normal(shape, mean=0.0, stddev=stddev, dtype=dtype, seed=seed)
        if distribution == "truncated_normal":
            return keras.random.truncated_normal(
                shape, mean=0.0, stddev=stddev / TRUNCATED_NORMAL_STD, dtype=dtype, seed=seed
            )
        limit = math.sqrt(3.0 * variance)
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=seed)

    def variance(self, shape) -> float:  # pragma: no cover - every subclass defines it
        """Return the variance of the weights this initializer draws for ``shape``."""
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_register("variance_scaling")
class VarianceScaling(_SeededInitializer):
    """Zero-mean weights whose variance is ``scale / fan``: the one general initializer.

    Formula: ``Var(W) = scale / n`` with ``n = fan_in``, ``fan_out`` or
    ``(fan_in + fan_out) / 2`` (``mode``), ``scale = gain^2``. ``fan_in`` preserves the
    variance of the activations in the forward pass, ``fan_out`` that of the gradients in the
    backward pass, ``fan_avg`` compromises between them (Glorot & Bengio 2010). Drawn from an
    untruncated normal (as the course and PyTorch write it), a normal truncated at two standard
    deviations and rescaled so the variance is unchanged, or U[-sqrt(3 scale/n), +sqrt(...)].

    Example:
        >>> init = VarianceScaling(scale=2.0, mode="fan_in", distribution="normal", seed=0)
        >>> init.variance((100, 50))
        0.02
        >>> w = init((100, 50))

    Args:
        scale: the variance multiplier (``gain^2``), positive. Default 1.0.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"normal"``, ``"truncated_normal"`` or ``"uniform"``.
        seed: ``None`` or a non-negative int.
        gain: alternative to ``scale`` (``scale = gain^2``); give one or the other.

    Returns:
        Calling the initializer with ``(shape, dtype=None)`` returns a tensor of that shape.

    Reference:
        Glorot & Bengio, AISTATS 2010, http://proceedings.mlr.press/v9/glorot10a.html;
        He et al., ICCV 2015, https://arxiv.org/abs/1502.01852.
    """

    formula = "N(0, scale/fan)"
    reference = "https://arxiv.org/abs/1502.01852"

    def __init__(
        self,
        scale: float | None = None,
        mode: str = "fan_in",
        distribution: str = "normal",
        seed: int | None = None,
        gain: float | None = None,
    ):
        super().__init__(seed=seed)
        if scale is not None and gain is not None:
            raise ValueError(
                f"Give either scale or gain (scale = gain**2), not both; received "
                f"scale={scale!r}, gain={gain!r}."
            )
        if gain is not None:
            gain = check_number(
                "gain", gain, positive=True, hint="Example: gain=calculate_gain('relu')."
            )
            effective = gain**2
        else:
            effective = check_number(
                "scale",
                1.0 if scale is None else scale,
                positive=True,
                hint="Example: scale=2.0 for He (ReLU).",
            )
        self.scale_arg, self.gain = scale, gain
        self.scale = effective
        self.mode = check_choice("mode", mode, MODES)
        self.distribution = check_choice("distribution", distribution, DISTRIBUTIONS)

    def fan(self, shape) -> float:
        """Return the fan ``n`` that divides ``scale`` for this ``mode`` and ``shape``."""
        return fan_for_mode(shape, self.mode)

    def variance(self, shape) -> float:
        return self.scale / self.fan(shape)

    def __call__(self, shape, dtype=None):
        return self._sample(shape, dtype, self.distribution, self.variance(shape))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "scale": self.scale_arg,
            "mode": self.mode,
            "distribution": self.distribution,
            "gain": self.gain,
        }


class _Fixed(VarianceScaling):
    """A named variance-scaled initializer: subclasses only fix the arguments."""

    _scale = 1.0
    _mode = "fan_in"
    _distribution = "normal"

    def __init__(self, seed: int | None = None):
        super().__init__(
            scale=self._scale, mode=self._mode, distribution=self._distribution, seed=seed
        )

    def get_config(self) -> dict:
        return {"seed": self.seed}


@_register("glorot_normal", aliases=("xavier_normal",))
class GlorotNormal(_Fixed):
    """Glorot/Xavier normal: ``N(0, 2 / (fan_in + fan_out))``, for tanh and sigmoid layers.

    Balances the forward (fan_in) and backward (fan_out) variance conditions by averaging them.
    Untruncated, as in the course (lecture 002, initialization) and PyTorch's
    ``xavier_normal_``; Keras's own ``glorot_normal`` string is truncated.

    Example:
        >>> GlorotNormal(seed=1).variance((300, 100))
        0.005

    Reference: Glorot & Bengio, AISTATS 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    formula = "N(0, 2/(fan_in+fan_out))"
    _mode = "fan_avg"


@_register("glorot_uniform", aliases=("xavier_uniform",))
class GlorotUniform(_Fixed):
    """Glorot/Xavier uniform: ``U[-a, a]``, ``a = sqrt(6 / (fan_in + fan_out))``.

    Var(U[-a, a]) = a^2/3 = 2/(fan_in + fan_out), the derivation of
    lecture 002, initialization. Keras's default kernel initializer.

    Example:
        >>> GlorotUniform(seed=1).variance((300, 100))
        0.005

    Reference: Glorot & Bengio, AISTATS 2010, http://proceedings.mlr.press/v9/glorot10a.html
    """

    formula = "U[-sqrt(6/(fan_in+fan_out)), +sqrt(6/(fan_in+fan_out))]"
    _mode = "fan_avg"
    _distribution = "uniform"


class _HeBase(VarianceScaling):
    """He initializers take a ``mode``, like PyTorch's ``kaiming_*_``."""

    _distribution = "normal"
    _mode_default = "fan_in"

    def __init__(self, mode: str = "fan_in", seed: int | None = None):
        super().__init__(scale=2.0, mode=mode, distribution=self._distribution, seed=seed)

    def get_config(self) -> dict:
        return {"mode": self.mode, "seed": self.seed}


@_register("he_normal", aliases=("kaiming_normal",))
class HeNormal(_HeBase):
    """He/Kaiming normal: ``N(0, 2 / fan_in)``, for ReLU layers.

    ReLU zeroes half of a symmetric input, so ``E[relu(f)^2] = Var(f) / 2``; doubling the
    weight variance compensates: ``sigma_f'^2 = D_h sigma^2 sigma_f^2 / 2`` is stable for
    ``sigma^2 = 2 / D_h`` (lecture 002, initialization: 2/100 = 0.02).

    Example:
        >>> HeNormal(seed=1).variance((100, 100))
        0.02

    Args:
        mode: ``"fan_in"`` (forward pass, default), ``"fan_out"`` (backward pass) or
            ``"fan_avg"``.
        seed: ``None`` or a non-negative int.

    Reference: He et al., ICCV 2015, https://arxiv.org/abs/1502.01852
    """

    formula = "N(0, 2/fan_in)"


@_register("he_uniform", aliases=("kaiming_uniform",))
class HeUniform(_HeBase):
    """He/Kaiming uniform: ``U[-sqrt(6 / fan_in), +sqrt(6 / fan_in)]`` (variance 2/fan_in).

    Example:
        >>> HeUniform(seed=1).variance((50, 10))
        0.04

    Reference: He et al., ICCV 2015, https://arxiv.org/abs/1502.01852
    """

    formula = "U[-sqrt(6/fan_in), +sqrt(6/fan_in)]"
    _distribution = "uniform"


@_register("lecun_normal")
class LecunNormal(_Fixed):
    """LeCun normal: ``N(0, 1 / fan_in)``, for SELU and linear layers.

    Example:
        >>> LecunNormal(seed=1).variance((50, 10))
        0.02

    Reference: LeCun et al., "Efficient BackProp", 1998; Klambauer et al., SELU, 2017,
        https://arxiv.org/abs/1706.02515
    """

    formula = "N(0, 1/fan_in)"


@_register("lecun_uniform")
class LecunUniform(_Fixed):
    """LeCun uniform: ``U[-sqrt(3 / fan_in), +sqrt(3 / fan_in)]`` (variance 1/fan_in).

    Example:
        >>> LecunUniform(seed=1).variance((50, 10))
        0.02

    Reference: LeCun et al., "Efficient BackProp", 1998.
    """

    formula = "U[-sqrt(3/fan_in), +sqrt(3/fan_in)]"
    _distribution = "uniform"


@_register("he_avg_normal")
class HeAvgNormal(_Fixed):
    """He with the fan average: ``N(0, 4 / (fan_in + fan_out))``.

    The course's compromise for non-square layers (lecture 002, initialization): replace
    ``D_h`` in ``2 / D_h`` by ``(D_h + D_h') / 2``. Equal to He for square layers.

    Example:
        >>> HeAvgNormal(seed=1).variance((300, 100))
        0.01

    Reference: He et al., ICCV 2015, https://arxiv.org/abs/1502.01852 (fan_avg variant).
    """

    formula = "N(0, 4/(fan_in+fan_out))"
    _scale = 2.0
    _mode = "fan_avg"


@_register("he_avg_uniform")
class HeAvgUniform(HeAvgNormal):
    """He with the fan average, uniform: ``U[-sqrt(12/(fan_in+fan_out)), +...]``.

    Example:
        >>> HeAvgUniform(seed=1).variance((300, 100))
        0.01

    Reference: He et al., ICCV 2015 (fan_avg variant, lecture 002, initialization).
    """

    formula = "U[-sqrt(12/(fan_in+fan_out)), +sqrt(12/(fan_in+fan_out))]"
    _distribution = "uniform"


class _LeakyHeBase(VarianceScaling):
    _distribution = "normal"

    def __init__(
        self,
        negative_slope: float = DEFAULT_NEGATIVE_SLOPE,
        mode: str = "fan_in",
        seed: int | None = None,
    ):
        slope = check_number(
            "negative_slope",
            negative_slope,
            minimum=0.0,
            hint="Leaky ReLU's slope for x < 0 lies in [0, 1); the course uses 0.01.",
        )
        if slope >= 1.0:
            raise ValueError(
                f"negative_slope must be < 1 (slope 1 is linear: no rectifier gain); received "
                f"negative_slope={negative_slope!r}. The course uses 0.01."
            )
        self.negative_slope = slope
        gain = calculate_gain("leaky_relu", self.negative_slope)
        super().__init__(scale=gain**2, mode=mode, distribution=self._distribution, seed=seed)

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope, "mode": self.mode, "seed": self.seed}


@_register("leaky_he_normal", aliases=("kaiming_leaky_normal",))
class LeakyHeNormal(_LeakyHeBase):
    """He normal with the leaky-ReLU gain: ``N(0, 2 / ((1 + a^2) fan_in))``.

    A leaky ReLU with slope ``a`` keeps ``E[f(z)^2] = (1 + a^2) / 2`` of its input's variance,
    so the gain is ``sqrt(2 / (1 + a^2))`` (PyTorch's ``kaiming_normal_(a=...)``).

    Example:
        >>> round(LeakyHeNormal(negative_slope=0.01).variance((100, 100)), 6)
        0.019998

    Args:
        negative_slope: ``a``, the slope for negative inputs, in [0, 1). Default 0.01.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        seed: ``None`` or a non-negative int.

    Reference: He et al., ICCV 2015, https://arxiv.org/abs/1502.01852 (eq. 15).
    """

    formula = "N(0, 2/((1+a^2) fan_in)), a=0.01"


@_register("leaky_he_uniform", aliases=("kaiming_leaky_uniform",))
class LeakyHeUniform(_LeakyHeBase):
    """He uniform with the leaky-ReLU gain: ``U[-sqrt(6/((1+a^2) fan_in)), +...]``.

    Example:
        >>> round(LeakyHeUniform().variance((100, 100)), 6)
        0.019998

    Reference: He et al., ICCV 2015, https://arxiv.org/abs/1502.01852
    """

    formula = "U[-sqrt(6/((1+a^2) fan_in)), +...], a=0.01"
    _distribution = "uniform"


@_register("glorot_heuristic_uniform", aliases=("uniform_inv_sqrt_fan_in",))
class GlorotHeuristicUniform(_Fixed):
    """The "commonly used heuristic" before Glorot: ``U[-1/sqrt(n), 1/sqrt(n)]``, n = fan_in.

    Variance ``1 / (3 fan_in)``: a third of what a linear layer needs, so activations shrink
    layer after layer; Glorot & Bengio's eq. 1, quoted in lecture 002, initialization.

    Example:
        >>> round(GlorotHeuristicUniform().variance((100, 10)), 6)
        0.003333

    Reference: Glorot & Bengio, AISTATS 2010, eq. (1),
        http://proceedings.mlr.press/v9/glorot10a.html
    """

    formula = "U[-1/sqrt(fan_in), +1/sqrt(fan_in)]"
    #: U[-a, a] has variance a^2/3; a = 1/sqrt(fan_in) gives 1/(3 fan_in).
    _scale = 1.0 / 3.0
    _distribution = "uniform"


#: Standard deviation of ``small_normal`` and half-width of ``small_uniform``: the "small
#: weights" example of lecture 001, parameter initialization, for its "normal zone"
#: (mu=0, sigma=0.001; a=-0.001, b=0.001).
SMALL_SCALE = 0.001

#: Lecture 002's propagation experiment (its figure 7.7): 50 layers of 100 ReLU units, biases 0,
#: weights N(0, sigma^2), input N(0, 1). The numbers below use it to show what lecture 001's
#: sigma = 0.001 does there.
LECTURE_002_WIDTH = 100
LECTURE_002_DEPTH = 50
#: E[relu(z)^2] / Var(z) = E[relu'(z)^2] = 1/2 for zero-mean Gaussian z (He et al. 2015).
RELU_SECOND_MOMENT_RATIO = 0.5


def layer_variance_factor(weight_variance: float, width: int = LECTURE_002_WIDTH) -> float:
    """Per-layer factor of the signal variance in lecture 002's ReLU net.

    Formula: ``sigma_f'^2 / sigma_f^2 = D_h * sigma^2 * E[relu(z)^2] / Var(z)
    = D_h sigma^2 / 2``, forward; the backward factor is the same (``E[relu'(z)^2] = 1/2``).

    Example:
        >>> layer_variance_factor(0.02)            # He: 100 * 0.02 / 2
        1.0
        >>> layer_variance_factor(SMALL_SCALE**2)  # lecture 001's sigma = 0.001
        5e-05

    Args:
        weight_variance: ``sigma^2`` of the weights.
        width: ``D_h``, units per layer.

    Returns:
        The factor by which one layer multiplies the variance.
    """
    weight_variance = check_number("weight_variance", weight_variance, minimum=0.0)
    width = check_int("width", width)
    return width * weight_variance * RELU_SECOND_MOMENT_RATIO


@_register("small_normal")
class SmallNormal(_SeededInitializer):
    """Small fixed-scale normal weights: ``N(0, stddev^2)``, default stddev 0.001.

    Does not look at the fans: fine for one layer, but in a deep net the signal shrinks by
    ``fan_in * stddev^2 * E[f(z)^2] / Var(z)`` per layer and vanishes.

    The two lectures disagree here. Lecture 001 (parameter initialization) recommends
    sigma = 0.001 as the "normal zone"; in the experiment of lecture 002 (initialization),
    50 layers of 100 ReLU units, each layer multiplies the variance by
    ``100 * 0.001^2 / 2 = 5e-05`` forward and backward
    (:func:`layer_variance_factor`), so after 50 layers the signal's variance is
    ``(5e-05)^50 = 8.9e-216`` of the input's: below float32's smallest positive number
    (1.4e-45) from layer 11 on. He's sigma^2 = 2/100 = 0.02 gives factor 1.

    Example:
        >>> SmallNormal().variance((10, 10))
        1e-06

    Args:
        stddev: positive standard deviation. Default 0.001 (lecture 001, parameter initialization).
        seed: ``None`` or a non-negative int.

    Reference: lecture 001, parameter initialization ("Pesos chicos"); lecture 002,
        initialization (the 50-layer experiment).
    """

    formula = "N(0, 0.001^2)"
    note = (
        f"{_L1}: sigma = 0.001 is the 'normal zone'; in {_L2}'s 50-layer width-100 ReLU "
        f"net each layer multiplies the variance by {layer_variance_factor(SMALL_SCALE**2):.1e}, "
        f"{layer_variance_factor(SMALL_SCALE**2) ** LECTURE_002_DEPTH:.1e} after 50 layers: "
        "it vanishes"
    )

    def __init__(self, stddev: float = SMALL_SCALE, seed: int | None = None):
        super().__init__(seed=seed)
        self.stddev = check_number("stddev", stddev, positive=True, hint="Example: stddev=0.001.")

    def variance(self, shape) -> float:
        compute_fans(shape)  # validates the shape the same way as every other initializer
        return self.stddev**2

    def __call__(self, shape, dtype=None):
        return self._sample(shape, dtype, "normal", self.variance(shape))

    def get_config(self) -> dict:
        return {"stddev": self.stddev, "seed": self.seed}


@_register("small_uniform")
class SmallUniform(_SeededInitializer):
    """Small fixed-scale uniform weights: ``U[-limit, limit]``, default limit 0.001.

    Example:
        >>> round(SmallUniform().variance((10, 10)), 12)
        3.33333e-07

    Args:
        limit: positive half-width. Default 0.001 (lecture 001, parameter initialization).
        seed: ``None`` or a non-negative int.

    Reference: lecture 001, parameter initialization ("Distribución uniforme, a=-0.001,
    b=0.001"). Variance ``0.001^2 / 3``: it vanishes even faster than :class:`SmallNormal` in
    the 50-layer experiment of lecture 002, initialization (per-layer factor
    ``100 * 3.3e-07 / 2 = 1.7e-05``).
    """

    formula = "U[-0.001, +0.001]"
    note = (
        f"{_L1}; per-layer variance factor {layer_variance_factor(SMALL_SCALE**2 / 3):.1e} "
        f"in {_L2}'s 50-layer width-100 ReLU net: it vanishes"
    )

    def __init__(self, limit: float = SMALL_SCALE, seed: int | None = None):
        super().__init__(seed=seed)
        self.limit = check_number("limit", limit, positive=True, hint="Example: limit=0.001.")

    def variance(self, shape) -> float:
        compute_fans(shape)
        return self.limit**2 / 3.0

    def __call__(self, shape, dtype=None):
        return self._sample(shape, dtype, "uniform", self.variance(shape))

    def get_config(self) -> dict:
        return {"limit": self.limit, "seed": self.seed}


@_register("orthogonal")
class Orthogonal(_SeededInitializer):
    """Orthogonal weights times ``gain``: the kernel, flattened to 2-D, has orthonormal columns
    (or rows, whichever are fewer).

    Formula: ``W = gain * Q`` with ``Q`` from the QR decomposition of a standard normal matrix,
    signs fixed by ``diag(R)`` so Q is uniformly distributed (Haar). For an ``r x c`` kernel
    (``r = prod(shape[:-1])``) each entry has variance ``gain^2 / max(r, c)``. Orthogonal
    matrices preserve norms exactly, so a deep linear net neither shrinks nor grows its signal.

    Example:
        >>> w = Orthogonal(seed=0)((64, 64))   # w.T @ w == I up to rounding

    Args:
        gain: positive multiplier. Default 1.0 (use ``calculate_gain(...)`` for a nonlinearity).
        seed: ``None`` or a non-negative int.

    Reference: Saxe et al., ICLR 2014, https://arxiv.org/abs/1312.6120
    """

    formula = "gain * Q, Q orthonormal (QR of a Gaussian matrix)"

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed=seed)
        self.gain = check_number("gain", gain, positive=True, hint="Example: gain=1.0.")

    @staticmethod
    def _matrix_shape(shape) -> tuple[int, int]:
        compute_fans(shape)
        if len(tuple(shape)) < 2:
            raise ValueError(
                f"Orthogonal needs a kernel of rank >= 2 (e.g. (in, out)); received "
                f"shape={tuple(shape)!r}."
            )
        shape = tuple(int(d) for d in shape)
        return math.prod(shape[:-1]), shape[-1]

    def variance(self, shape) -> float:
        rows, cols = self._matrix_shape(shape)
        return self.gain**2 / max(rows, cols)

    def __call__(self, shape, dtype=None):
        dtype = self._float_dtype(dtype)
        rows, cols = self._matrix_shape(shape)
        big, small = max(rows, cols), min(rows, cols)
        # QR in float32 (float16/bfloat16 QR is not implemented on every device), cast after.
        gaussian = keras.random.normal((big, small), dtype="float32", seed=self._call_seed())
        q, r = ops.qr(gaussian)
        q = q * ops.sign(ops.diagonal(r))[None, :]
        if rows < cols:
            q = ops.transpose(q)
        return ops.cast(self.gain * ops.reshape(q, tuple(shape)), dtype)

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


@_register("zeros")
class Zeros(keras.initializers.Initializer):
    """All weights 0: every unit computes the same thing and gets the same gradient.

    Fine for biases; for weights, the net predicts a constant and its hidden units never
    become different (lecture 001, parameter initialization: "Predice todo 0 / no aprende").

    Example:
        >>> Zeros().variance((3, 3))
        0.0
    """

    formula = "0"
    reference = ""

    def __call__(self, shape, dtype=None):
        return ops.zeros(shape, dtype=_SeededInitializer._float_dtype(dtype))

    def variance(self, shape) -> float:
        compute_fans(shape)
        return 0.0

    def get_config(self) -> dict:
        return {}


@_register("constant")
class Constant(keras.initializers.Initializer):
    """All weights equal to ``value``: the symmetry lesson with a non-zero constant.

    Every hidden unit of a layer computes the same output and receives the same gradient, so
    they stay identical forever (lecture 001, parameter initialization: "Otro valor fijo (5, por
    ejemplo): todas las neuronas predicen lo mismo. Simetría").

    Example:
        >>> Constant(5.0).variance((3, 3))
        0.0

    Args:
        value: a finite number.
    """

    formula = "value"
    reference = ""

    def __init__(self, value: float = 0.0):
        self.value = check_number(
            "value", value, hint="For a fixed matrix use keras.initializers.Constant(array)."
        )

    def __call__(self, shape, dtype=None):
        return ops.full(shape, self.value, dtype=_SeededInitializer._float_dtype(dtype))

    def variance(self, shape) -> float:
        compute_fans(shape)
        return 0.0

    def get_config(self) -> dict:
        return {"value": self.value}


def names() -> list[str]:
    """Return the canonical names of the package's initializers, sorted."""
    return sorted(_REGISTRY)


def aliases() -> dict[str, str]:
    """Return ``{alias: canonical name}`` (e.g. ``xavier_uniform -> glorot_uniform``)."""
    return dict(_ALIASES)


def canonical_name(name: str) -> str:
    """Return the canonical name for a name or alias; ``ValueError`` if unknown.

    Example:
        >>> canonical_name("kaiming_normal")
        'he_normal'

    Args:
        name: an initializer's name or alias.

    Returns:
        The canonical name.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: an unknown name (with the closest valid names).
    """
    if not isinstance(name, str):
        raise TypeError(
            f"name must be an initializer name such as 'he_normal'; received name={name!r}."
        )
    if name in _REGISTRY:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    raise unknown_name_error("initializer", name, [*_REGISTRY, *_ALIASES])


def describe() -> list[dict]:
    """Return one row per initializer: ``{name, aliases, formula, class, note}`` (for ``list``).

    ``note`` says where the course and the numbers differ (e.g. ``small_normal``), else "".
    """
    return [
        {
            "name": name,
            "aliases": list(cls.aliases),
            "formula": cls.formula,
            "class": cls.__name__,
            "note": getattr(cls, "note", ""),
        }
        for name, cls in sorted(_REGISTRY.items())
    ]


def get(identifier):
    """Resolve an initializer from a name, an alias, a config dict, a class or an instance.

    The package's names and aliases come first (``"he_normal"`` is this package's untruncated
    ``HeNormal``); any other name goes to ``keras.initializers.get`` (``"random_normal"``,
    ``"identity"``...). Callables are returned unchanged, classes are instantiated.

    Example:
        >>> get("xavier_uniform")
        GlorotUniform(seed=None)
        >>> get({"class_name": "he_avg_normal", "config": {"seed": 3}})
        HeAvgNormal(seed=3)

    Args:
        identifier: ``None``, a string, a dict ``{"class_name", "config"}``, a class or a
            callable.

    Returns:
        An initializer (or ``None`` for ``None``).

    Raises:
        ValueError: for an unknown name, listing the closest valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in _REGISTRY or identifier in _ALIASES:
            return _REGISTRY[canonical_name(identifier)]()
        try:
            return keras.initializers.get(identifier)
        except (ValueError, TypeError):
            raise unknown_name_error("initializer", identifier, [*_REGISTRY, *_ALIASES]) from None
    if isinstance(identifier, dict):
        class_name = identifier.get("class_name")
        if class_name in _REGISTRY or class_name in _ALIASES:
            cls = _REGISTRY[canonical_name(class_name)]
            return cls.from_config(dict(identifier.get("config") or {}))
        return keras.initializers.get(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret initializer identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass a name such as 'he_normal', a config dict, a class "
        "or an initializer instance."
    )


def _is_keras_name(name: str) -> bool:
    try:
        keras.initializers.get(name)
    except (ValueError, TypeError):
        return False  # Keras's "could not interpret / locate" errors: an unknown name.
    except Exception:  # noqa: BLE001 - Keras knows the class but needs arguments
        return True  # ('constant' raises KeyError('value') without a config)
    return True


def register_keras_names() -> list[str]:
    """Make the package's names and aliases usable as Keras strings; return those registered.

    A name Keras already resolves (``he_normal``, ``glorot_uniform``, ``orthogonal``...) is
    left alone so Keras's behaviour never changes behind the user's back. Called once when
    ``keras_init_lab`` is imported; calling it again is harmless.
    """
    custom = keras.saving.get_custom_objects()
    registered = []
    for name in [*_REGISTRY, *_ALIASES]:
        cls = _REGISTRY[canonical_name(name)]
        if custom.get(name) is cls:
            registered.append(name)
        elif not _is_keras_name(name):
            custom[name] = cls
            registered.append(name)
    return registered


KERAS_STRING_NAMES = register_keras_names()
