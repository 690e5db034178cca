"""Forward and backward variance through a deep plain network (lecture 002, initialization).

The 50-layer experiment of lecture 002 (after Prince, UDL fig. 7.7): ``depth`` fully
connected layers of ``width`` units, input ``x ~ N(0, 1)^width``, biases 0, weights
``N(0, sigma^2)``, least-squares loss to the target 0. For each setting it measures, layer by
layer,

* forward: the variance of the pre-activations ``f_k = a(f_{k-1}) W_k`` (``f_0 = x W_0``);
* backward (least squares): the variance of ``dL/df_k`` with ``L = sum (f_last - 0)^2``;
* backward (independent): the variance of ``dL/df_k`` when the output gradient is an
  independent ``N(0, 1)`` draw ``r`` (``L = sum f_last * r``). This is the quantity the
  mean-field prediction describes and the one the backward verdict reads: with the target 0
  the output gradient ``2 f_last`` is correlated with the forward weights, so
  ``dL/df_k = 2 J^T J f_k`` grows ~100x over 50 layers of 100 units even at He's scale
  (polynomially, depth / width effects; Hanin 2018, https://arxiv.org/abs/1801.03744) and
  cannot tell He + ReLU from He + tanh. In training the error signal is not the output
  itself, so the independent gradient is the fair measure of the backward gain;

averaged over ``n_trials`` independent weight draws (each with ``n_samples`` inputs), and puts
the mean-field prediction beside it:

* forward ``v_k = D s E[a(z)^2]``, ``z ~ N(0, v_{k-1})``. For ReLU,
  ``E[ReLU(z)^2] = v / 2`` and this is lecture 002's ``sigma_f'^2 = D_h sigma^2 sigma_f^2 / 2``;
  for other activations the expectation is ``fans.gaussian_expectation`` of the package's
  activation evaluated in float64.
* backward ``g_{k-1} = D s E[a'(z)^2] g_k`` (He et al. 2015, eq. 13; it assumes the backward
  weights independent of the forward signal, as Schoenholz et al. 2017 do), starting from
  ``Var(2 f_last) = 4 v_last`` (least squares) or ``Var(r) = 1`` (independent).
  For ReLU ``E[a'^2] = 1/2``.

Verdicts, per direction, on the end-to-end change of the variance (``end / start``; backward
runs from the last layer to the first): within ``STABLE_FACTOR`` (10x) either way is
"stable"; a change of 10x to ``EXTREME_FACTOR`` (1000x) is "decaying" or "growing" (a drift
that compounds with depth); beyond 1000x it is "vanishing" or "exploding". Float32 overflow
(inf) and underflow (exactly 0) are reported as such. The per-layer gain is the geometric
mean ``(end / start) ** (1 / (depth - 1))``.

The network runs in float32 like a real one: values beyond float32's range (3.4e38) become
``inf`` and tiny ones become exactly 0. Both are reported (``*_overflow_layer``,
``*_underflow_layer``) instead of crashing, and the JSON stores those variances as ``null``.

Example:
    >>> result = propagate(depth=30, n_trials=2)
    >>> [row["verdict"] for row in result.settings]
    ['vanishing', 'vanishing', 'stable', 'exploding', 'exploding']

Reference:
    S. J. D. Prince, "Understanding Deep Learning" (2023), section 7.5 and fig. 7.7,
    https://udlbook.github.io/udlbook/ ;
    K. He et al., "Delving Deep into Rectifiers" (ICCV 2015), https://arxiv.org/abs/1502.01852 ;
    S. Schoenholz et al., "Deep Information Propagation" (ICLR 2017),
    https://arxiv.org/abs/1611.01232
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from keras_init_lab._validation import check_int, check_number
from keras_init_lab.experiments._json import json_safe
from keras_init_lab.experiments._text import wrap as _wrap
from keras_init_lab.fans import gaussian_expectation

__all__ = [
    "DEFAULT_DEPTH",
    "DEFAULT_SAMPLES",
    "DEFAULT_SIGMA2",
    "DEFAULT_TRIALS",
    "DEFAULT_WIDTH",
    "EXTREME_FACTOR",
    "STABLE_FACTOR",
    "VERDICTS",
    "VERDICT_MEANINGS",
    "PropagationResult",
    "predict_variances",
    "propagate",
]

#: Lecture 002's weight variances; 0.02 = 2 / D_h is He's choice for D_h = 100.
DEFAULT_SIGMA2 = (0.001, 0.01, 0.02, 0.1, 1.0)
#: Lecture 002's network: 50 layers of 100 units.
DEFAULT_DEPTH = 50
DEFAULT_WIDTH = 100
#: Inputs per weight draw and independent weight draws averaged per setting: 8 x 256 keeps
#: the measured curves smooth (per-layer ratios within ~1% of the mean).
DEFAULT_SAMPLES = 256
DEFAULT_TRIALS = 8
#: End to end, a variance that changes by less than 10x either way is "stable": one decade on
#: the log plot, ~5% per layer over lecture 002's 50 layers. He + ReLU stays within 1.1x both
#: ways; Kaiming + tanh's backward gain of ~1.087 per layer (mean field: D s E[tanh'(z)^2]
#: with z at its settled variance ~0.62) gives ~59x and falls outside, as lecture 002's
#: summary ("Kaiming + tanh: can make gradients explode") says it should.
STABLE_FACTOR = 10.0
#: Beyond 1000x (three decades, ~32x in the signal's standard deviation; ~15% per layer over
#: 50 layers) the change is "vanishing" / "exploding". Between 10x and 1000x it is a drift,
#: "decaying" / "growing": Xavier + tanh's forward variance falls ~130x over 50 layers of
#: 100 units (tanh compresses, so the variance decays like a power of the depth), visible
#: but still trainable at that depth, while Xavier + ReLU halves per layer (1e-15).
EXTREME_FACTOR = 1000.0
#: Largest finite float32, for the overflow message.
FLOAT32_MAX = float(np.finfo(np.float32).max)

VERDICTS = ("vanishing", "decaying", "stable", "growing", "exploding")
#: What each verdict means, printed under the table and stored in ``propagation.json``.
VERDICT_MEANINGS = {
    "stable": f"the variance ends within {STABLE_FACTOR:g}x of where it started",
    "decaying": f"it falls by {STABLE_FACTOR:g}x to {EXTREME_FACTOR:g}x end to end: a slow "
    "drift that compounds with depth",
    "growing": f"it grows by {STABLE_FACTOR:g}x to {EXTREME_FACTOR:g}x end to end: a slow "
    "drift that compounds with depth",
    "vanishing": f"it falls by more than {EXTREME_FACTOR:g}x, or underflows to exactly 0",
    "exploding": f"it grows by more than {EXTREME_FACTOR:g}x, or overflows float32 to inf",
}
#: How far each verdict is from "stable", to combine the two directions into one word.
_SEVERITY = {"stable": 0, "decaying": 1, "growing": 2, "vanishing": 3, "exploding": 4}


@dataclasses.dataclass
class PropagationResult:
    """What ``propagate`` measured: one dict per setting plus the run configuration.

    Attributes:
        settings: one dict per (weight setting, activation); keys are listed in ``propagate``.
        config: depth, width, input_dim, n_samples, n_trials, seed, thresholds, meanings.
    """

    settings: list[dict]
    config: dict

    def to_json(self) -> dict:
        """Plain-JSON form (non-finite numbers as ``null``)."""
        return {
            "config": json_safe(self.config),
            "settings": [json_safe(row) for row in self.settings],
        }

    def format_table(self) -> str:
        """A fixed-width text table, one line per setting, and what the verdicts mean.

        Columns: the verdict of each direction, the end-to-end change of the variance
        (``x``: end / start; backward from the last layer to the first) and the per-layer
        gain (geometric mean), measured and predicted.
        """
        width = min(max([21] + [len(row["label"]) for row in self.settings]), LABEL_COLUMNS)
        header = (
            f"{'setting':<{width}} {'forward':<9} {'x last/1st':>10} {'gain':>6} {'(pred)':>6} | "
            f"{'backward':<9} {'x 1st/last':>10} {'gain':>6} {'(pred)':>6}"
        )
        lines = [header, "-" * len(header)]
        for row in self.settings:
            fwd, bwd = row["forward"], row["backward"]
            lines.append(
                f"{_clip(row['label'], width):<{width}} {fwd['verdict']:<9} "
                f"{_fmt(fwd['change']):>10} {_fmt(fwd['gain_per_layer'], 4):>6} "
                f"{_fmt(fwd['predicted_gain_per_layer'], 4):>6} | {bwd['verdict']:<9} "
                f"{_fmt(bwd['change']):>10} {_fmt(bwd['gain_per_layer'], 4):>6} "
                f"{_fmt(bwd['predicted_gain_per_layer'], 4):>6}"
            )
        lines.append("")
        lines.append("Why:")
        for row in self.settings:
            lines += _wrap(f"{row['label']}: {row['reason']}", "  ", "    ")
        lines.append("")
        lines += _wrap(
            f"Verdicts per direction, on the end-to-end change of the variance over "
            f"{self.config['depth']} layers (forward: last / first layer; backward: first / "
            f"last layer, the order backprop runs; gain = its geometric mean per layer, "
            f"(pred) = the mean-field prediction):"
        )
        for word in VERDICTS:
            lines += _wrap(f"{word:<9} {VERDICT_MEANINGS[word]}", "  ", " " * 12)
        lines += _wrap(
            "Backward = gradient of an independent N(0, 1) output error (what the mean field "
            "predicts); the least-squares gradient (target 0) is in propagation.json.",
            "  ",
            "  ",
        )
        return "\n".join(lines)


#: Widest setting label the text table shows in full; longer ones are cut (the table stays
#: within 100 columns, the width every line of the command line keeps to).
LABEL_COLUMNS = 28


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf" if value > 0 else "nan"
    return f"{value:.{digits}g}"


def _activation_numpy(activation):
    """Return ``(a, a_prime)`` as float64 numpy functions of the package's activation."""
    import tensorflow as tf

    def value(z):
        return np.asarray(activation(tf.constant(z, dtype=tf.float64)), dtype=np.float64)

    def derivative(z):
        z = tf.constant(z, dtype=tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = activation(z)
        return np.asarray(tape.gradient(out, z), dtype=np.float64)

    return value, derivative


def predict_variances(
    activation,
    weight_variances: Sequence[float],
    width: int,
    input_dim: int,
    input_variance: float = 1.0,
    output_gradient_variance: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-field prediction of the per-layer forward and backward variances.

    Formula: ``v_0 = input_dim s_0 input_variance``, ``v_k = width s_k E[a(z)^2]`` with
    ``z ~ N(0, v_{k-1})``; ``g_last = 4 v_last`` (gradient of ``sum f^2`` is ``2 f``) or
    ``output_gradient_variance`` when given, ``g_{k-1} = width s_k E[a'(z)^2] g_k`` with
    ``z ~ N(0, v_{k-1})``. For ReLU: ``v_k = width s_k v_{k-1} / 2`` (lecture 002) and
    ``g_{k-1} = width s_k g_k / 2``.

    Example:
        >>> import keras
        >>> fwd, bwd = predict_variances(keras.activations.relu, [0.02] * 3, 100, 100)
        >>> [round(float(v), 3) for v in fwd]
        [2.0, 2.0, 2.0]

    Args:
        activation: callable on tensors (the package's activation).
        weight_variances: ``s_k`` for each of the ``depth`` weight matrices.
        width: units per layer (the fan-out of every matrix).
        input_dim: dimension of ``x`` (the fan-in of the first matrix).
        input_variance: ``E[x^2]`` (1 for ``N(0, 1)`` inputs).
        output_gradient_variance: variance of the gradient at the last layer; ``None``: the
            least-squares loss's ``4 v_last``.

    Returns:
        ``(forward, backward)`` float64 arrays of length ``depth``.

    Reference:
        K. He et al. (ICCV 2015), eq. 13, https://arxiv.org/abs/1502.01852
    """
    value, derivative = _activation_numpy(activation)
    depth = len(weight_variances)
    forward = np.empty(depth)
    forward[0] = input_dim * weight_variances[0] * input_variance
    for k in range(1, depth):
        second_moment = _expectation(lambda z: value(z) ** 2, forward[k - 1])
        forward[k] = width * weight_variances[k] * second_moment
    backward = np.empty(depth)
    backward[-1] = (
        4.0 * forward[-1] if output_gradient_variance is None else output_gradient_variance
    )
    for k in range(depth - 1, 0, -1):
        slope_moment = _expectation(lambda z: derivative(z) ** 2, forward[k - 1])
        with np.errstate(over="ignore", invalid="ignore"):
            backward[k - 1] = width * weight_variances[k] * slope_moment * backward[k]
    return forward, backward


def _expectation(function, variance: float) -> float:
    """``E[function(z)]``, ``z ~ N(0, variance)``; ``inf``/``nan`` variances pass through."""
    if not math.isfinite(variance):
        return math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        return gaussian_expectation(function, std=math.sqrt(variance))


def _layer_variances(tensors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-trial variances in float64 of float32 tensors ``(trials, samples, units)``.

    One layer at a time, so only one float64 copy of one layer exists at once.
    Returns ``(variance, nonfinite, all_zero)``, each ``(trials, layers)``.
    """
    columns = []
    for tensor in tensors:
        values = np.asarray(tensor)
        nonfinite = ~np.isfinite(values).all(axis=(1, 2))
        all_zero = ~values.any(axis=(1, 2))
        with np.errstate(invalid="ignore", over="ignore"):
            variance = values.astype(np.float64).var(axis=(1, 2))
        variance[nonfinite] = np.inf
        columns.append((variance, nonfinite, all_zero))
    variance, nonfinite, all_zero = (np.stack(parts, axis=1) for parts in zip(*columns))
    return variance, nonfinite, all_zero


def _first_layer(mask: np.ndarray) -> int | None:
    """1-based first layer where ``mask`` (trials, layers) holds in any trial."""
    hits = np.flatnonzero(mask.any(axis=0))
    return int(hits[0]) + 1 if hits.size else None


def _last_layer(mask: np.ndarray) -> int | None:
    """1-based last layer where ``mask`` holds in any trial (first reached by backprop)."""
    hits = np.flatnonzero(mask.any(axis=0))
    return int(hits[-1]) + 1 if hits.size else None


def _gain(change: float | None, steps: int) -> float | None:
    """Geometric mean per layer of an end-to-end ``change`` over ``steps`` layer steps."""
    if change is None or steps < 1 or not math.isfinite(change) or change <= 0:
        return None
    return float(change ** (1.0 / steps))


def _direction(
    measured: np.ndarray, bad: np.ndarray, zero: np.ndarray, predicted: np.ndarray, direction: str
) -> dict:
    """Verdict, reason, change and gains of one direction.

    ``measured`` is ``(trials, layers)``; the direction's start is layer 1 (forward) or the
    last layer (backward), and an overflow/underflow is the first layer the pass reaches.
    """
    mean = measured.mean(axis=0)
    depth = mean.size
    if direction == "forward":
        start, end = mean[0], mean[-1]
        overflow, underflow = _first_layer(bad), _first_layer(zero & ~bad)
        pred_start, pred_end = predicted[0], predicted[-1]
        span = f"layer 1 -> {depth}"
    else:
        start, end = mean[-1], mean[0]
        overflow, underflow = _last_layer(bad), _last_layer(zero & ~bad)
        pred_start, pred_end = predicted[-1], predicted[0]
        span = f"layer {depth} -> 1"
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = float(end / start) if start > 0 and math.isfinite(start) else None
        predicted_change = float(pred_end / pred_start) if pred_start > 0 else None
    if change is not None and not math.isfinite(change):
        change = None
    gain = _gain(change, depth - 1)
    predicted_gain = _gain(predicted_change, depth - 1)
    gain_text = f", {gain:.3g} per layer" if gain is not None else ""
    if overflow is not None:
        verdict, why = "exploding", f"float32 overflow to inf at layer {overflow}"
    elif underflow is not None:
        verdict, why = "vanishing", f"float32 underflow, exactly 0 at layer {underflow}"
    elif change is None or change == 0:
        verdict, why = "vanishing", "variance is 0"
    else:
        if change < 1.0 / EXTREME_FACTOR:
            verdict = "vanishing"
        elif change < 1.0 / STABLE_FACTOR:
            verdict = "decaying"
        elif change <= STABLE_FACTOR:
            verdict = "stable"
        elif change <= EXTREME_FACTOR:
            verdict = "growing"
        else:
            verdict = "exploding"
        why = f"variance x{change:.2g} ({span}{gain_text})"
    return {
        "verdict": verdict,
        "reason": f"{direction} {verdict}: {why}",
        "change": change,
        "gain_per_layer": gain,
        "predicted_change": predicted_change,
        "predicted_gain_per_layer": predicted_gain,
        "overflow_layer": overflow,
        "underflow_layer": underflow,
    }


def _unmeasurable_backward(backward: dict, overflow_layer: int) -> dict:
    """After a forward overflow the gradients are inf/NaN/0 by arithmetic, not by gain: the
    backward verdict falls back on the mean-field prediction and says so."""
    change = backward["predicted_change"]
    if change is None or not math.isfinite(change) or change > EXTREME_FACTOR:
        verdict = "exploding"
    elif change < 1.0 / EXTREME_FACTOR:
        verdict = "vanishing"
    elif change < 1.0 / STABLE_FACTOR:
        verdict = "decaying"
    elif change <= STABLE_FACTOR:
        verdict = "stable"
    else:
        verdict = "growing"
    gain = backward["predicted_gain_per_layer"]
    shown = "beyond float64" if change is None or not math.isfinite(change) else f"x{change:.2g}"
    gain_text = f", {gain:.3g} per layer" if gain is not None else ""
    return {
        **backward,
        "verdict": verdict,
        "reason": f"backward {verdict}: predicted variance {shown}{gain_text}; not measurable, "
        f"the forward pass overflowed at layer {overflow_layer}",
        "change": None,
        "gain_per_layer": None,
        "overflow_layer": None,
        "underflow_layer": None,
    }


def _combine(forward: str, backward: str) -> str:
    """The direction further from "stable" (``_SEVERITY``) names the setting."""
    return max((forward, backward), key=_SEVERITY.__getitem__)


def _resolve_activation(name):
    from keras_init_lab import activations

    function = activations.get(name)
    # Look the spec up by object: Keras-only names (softplus, mish...) have none and fall back
    # on the function's __name__.
    spec = activations.spec(function)
    canonical = spec.name if spec is not None else getattr(function, "__name__", str(name))
    return canonical, function


def propagate(
    sigma2: Sequence[float] | None = None,
    initializers: Sequence[str] | None = None,
    activations: Sequence[str] = ("relu",),
    depth: int = DEFAULT_DEPTH,
    width: int = DEFAULT_WIDTH,
    input_dim: int | None = None,
    n_samples: int = DEFAULT_SAMPLES,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    verbose: bool = False,
) -> PropagationResult:
    """Measure forward/backward variance per layer for each weight setting and activation.

    With no ``sigma2`` and no ``initializers`` this is lecture 002's experiment:
    ``sigma^2 in {0.001, 0.01, 0.02, 0.1, 1}``, ReLU, 50 layers of 100 units.

    Formula (prediction, see the module docstring): ``v_k = D s E[a(z)^2]``,
    ``g_{k-1} = D s E[a'(z)^2] g_k``; ReLU: per-layer ratio ``D s / 2`` both ways.

    Example:
        >>> r = propagate(sigma2=[0.02], depth=20, n_trials=2)
        >>> r.settings[0]["verdict"], round(r.settings[0]["predicted_ratio"], 3)
        ('stable', 1.0)
        >>> abs(r.settings[0]["measured_ratio"] - 1.0) < 0.1   # D sigma^2 / 2 = 100 * 0.02 / 2
        True

    Args:
        sigma2: explicit weight variances, one number or a list (weights ``N(0, sigma2)``,
            untruncated as in the lecture).
        initializers: initializer names (``initializers.get``); kernels are sampled from each,
            with shape ``(fan_in, width)`` per layer, and its ``variance(shape)`` feeds the
            prediction (the sampled kernels' own variance when it has none, e.g. orthogonal).
        activations: activation names (``activations.get``); every weight setting runs with
            every activation.
        depth: number of weight layers (pre-activations measured), >= 1.
        width: units per layer, >= 1.
        input_dim: dimension of ``x`` (default ``width``).
        n_samples: inputs per weight draw, >= 2.
        n_trials: independent weight draws averaged, >= 1.
        seed: an integer >= 0; seeds inputs, explicit-sigma weights and (through Python's
            ``random``) the package's unseeded initializers; the same seed gives the same
            numbers.
        out_dir: deprecated (a ``DeprecationWarning`` says so): when given,
            ``propagation.json`` and ``propagation.png`` are written there, as
            ``report.write_propagation(result, out_dir)`` writes them; call that instead.
        verbose: print the table.

    Returns:
        A ``PropagationResult``; each setting dict has ``label, sigma2, initializer,
        activation, forward_variance, backward_variance (least squares),
        backward_variance_independent, predicted_forward_variance,
        predicted_backward_variance, predicted_backward_variance_independent,
        measured_ratio, predicted_ratio, forward, backward`` (each a dict: ``verdict,
        reason, change, gain_per_layer, predicted_change, predicted_gain_per_layer,
        overflow_layer, underflow_layer``), ``forward_verdict, backward_verdict, verdict,
        reason, forward_overflow_layer, forward_underflow_layer, backward_overflow_layer,
        backward_underflow_layer`` (the last two: least-squares gradient).
        ``backward_variance[k]`` is the variance of ``dL/df_k`` (index 0 = first layer,
        reached last by backprop).

    Raises:
        TypeError: a size, seed, sigma2, name, ``verbose`` or ``out_dir`` of the wrong type.
        ValueError: non-positive sizes, a non-positive or non-finite sigma2, unknown names.

    Reference:
        Prince, UDL (2023) fig. 7.7; He et al. (2015), https://arxiv.org/abs/1502.01852
    """
    import random

    import tensorflow as tf

    from keras_init_lab import initializers as _initializers

    depth = check_int("depth", depth)
    width = check_int("width", width)
    input_dim = width if input_dim is None else check_int("input_dim", input_dim)
    n_trials = check_int("n_trials", n_trials)
    n_samples = check_int("n_samples", n_samples, minimum=2)
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(verbose, bool):
        check_int("verbose", verbose, minimum=0)
    if out_dir is not None and not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(
            f"out_dir must be a folder path (str or os.PathLike); received out_dir={out_dir!r}."
        )
    if out_dir is not None and not os.fspath(out_dir):
        raise ValueError(
            "out_dir is an empty path (it would write into the current folder); pass a folder "
            f"such as 'results/propagation'; received out_dir={out_dir!r}."
        )
    for name, names in (("initializers", initializers), ("activations", activations)):
        if names is not None and not isinstance(names, (str, Iterable)):
            raise TypeError(f"{name} must be a name or a list of names; received {name}={names!r}.")
    if isinstance(sigma2, (str, bytes)):  # its characters are no variances
        raise TypeError(
            "sigma2 must be a number or a list of numbers (e.g. [0.02]); "
            f"received sigma2={sigma2!r}."
        )
    if isinstance(initializers, str):
        initializers = [initializers]
    if sigma2 is None and not initializers:
        sigma2 = DEFAULT_SIGMA2
    sigma2 = [sigma2] if isinstance(sigma2, numbers.Real) else list(sigma2 or [])
    for value in sigma2:
        check_number("sigma2", value, positive=True, hint="Example: 0.02 (= 2 / width, He).")
    if isinstance(activations, str):
        activations = [activations]
    resolved_activations = [_resolve_activation(name) for name in activations]
    if not resolved_activations:
        raise ValueError("activations is empty; give at least one name, e.g. ['relu'].")
    weight_settings: list[tuple[str, float | None, str | None, object]] = []
    for value in sigma2:
        weight_settings.append((f"sigma2={value:g}", float(value), None, None))
    for name in initializers or []:
        weight_settings.append((str(name), None, str(name), _initializers.get(name)))

    shapes = [(input_dim, width)] + [(width, width)] * (depth - 1)
    rows = []
    for setting_index, (weight_label, value, init_name, init) in enumerate(weight_settings):
        for act_index, (act_name, act_fn) in enumerate(resolved_activations):
            # One stream per setting, so adding a setting does not change the others' numbers.
            rng = np.random.default_rng([seed, setting_index, act_index])
            random.seed(int(rng.integers(2**31)))
            x = rng.standard_normal((n_trials, n_samples, input_dim)).astype(np.float32)
            if value is not None:
                kernels = [
                    (rng.standard_normal((n_trials, *shape)) * math.sqrt(value)).astype(np.float32)
                    for shape in shapes
                ]
                layer_variances = [value] * depth
            else:
                kernels = [
                    np.stack([np.asarray(init(shape, dtype="float32")) for _ in range(n_trials)])
                    for shape in shapes
                ]
                declared = [getattr(init, "variance", lambda s: None)(shape) for shape in shapes]
                layer_variances = [
                    float(d) if d is not None else float(np.var(k))
                    for d, k in zip(declared, kernels)
                ]
            # The independent output error: N(0, 1), drawn after the weights so the weights
            # of a seed do not depend on it.
            error = rng.standard_normal((n_trials, n_samples, width)).astype(np.float32)
            pre = []
            with tf.GradientTape(persistent=True) as tape:
                f = tf.matmul(tf.constant(x), tf.constant(kernels[0]))
                tape.watch(f)
                pre.append(f)
                for kernel in kernels[1:]:
                    f = tf.matmul(act_fn(f), tf.constant(kernel))
                    tape.watch(f)
                    pre.append(f)
                loss = tf.reduce_sum(tf.square(f - 0.0))  # least squares to the target 0
                independent_loss = tf.reduce_sum(f * tf.constant(error))
            grads = _zeros_for_none(tape.gradient(loss, pre), pre)
            independent = _zeros_for_none(tape.gradient(independent_loss, pre), pre)
            del tape
            measured = {
                "forward": _layer_variances(pre),
                "backward": _layer_variances(grads),
                "independent": _layer_variances(independent),
            }
            predicted_fwd, predicted_bwd = predict_variances(
                act_fn, layer_variances, width, input_dim
            )
            _, predicted_independent = predict_variances(
                act_fn, layer_variances, width, input_dim, output_gradient_variance=1.0
            )
            rows.append(
                _summarise(
                    weight_label,
                    act_name,
                    value,
                    init_name,
                    measured,
                    predicted_fwd,
                    predicted_bwd,
                    predicted_independent,
                )
            )
    result = PropagationResult(
        rows,
        {
            "depth": depth,
            "width": width,
            "input_dim": input_dim,
            "n_samples": n_samples,
            "n_trials": n_trials,
            "seed": seed,
            "stable_factor": STABLE_FACTOR,
            "extreme_factor": EXTREME_FACTOR,
            "verdict_meanings": dict(VERDICT_MEANINGS),
            "loss": "sum of squared outputs (least squares to the target 0)",
            "forward_quantity": "variance of pre-activations f_k over units and samples",
            "backward_quantity": "variance of dL/df_k over units and samples, for an independent "
            "N(0, 1) output error (the verdict) and for the least-squares "
            "loss (backward_variance)",
            "gain": "geometric mean per layer of the end-to-end change: (end / start) ** "
            "(1 / (depth - 1)); backward runs from the last layer to the first",
            "prediction": "mean-field: v_k = D s E[a(z)^2], g_{k-1} = D s E[a'(z)^2] g_k "
            "(ReLU: D s / 2 per layer, lecture 002)",
            "average": f"arithmetic mean over {n_trials} weight draws",
            "note": "the backward verdict reads the gradient of an independent output error, as "
            "the mean field assumes; with the least-squares target 0 the output gradient "
            "is 2 f_last, so dL/df_k = 2 J^T J f_k grows with depth even at He's scale "
            "(~100x over 50 layers of 100 units, polynomially, for ReLU and tanh alike)",
        },
    )
    if out_dir is not None:
        from keras_init_lab._result_files import write_propagation_files

        warnings.warn(
            "propagate(out_dir=...) is deprecated: propagate returns the result; write "
            "propagation.json and propagation.png with "
            "keras_init_lab.report.write_propagation(result, out_dir).",
            DeprecationWarning,
            stacklevel=2,
        )
        write_propagation_files(result, out_dir)
    if verbose:
        print(result.format_table())
    return result


def _zeros_for_none(grads, tensors):
    import tensorflow as tf

    return [tf.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


def _summarise(
    weight_label,
    act_name,
    value,
    init_name,
    measured,
    predicted_fwd,
    predicted_bwd,
    predicted_independent,
) -> dict:
    fwd, fwd_bad, fwd_zero = measured["forward"]
    bwd, bwd_bad, bwd_zero = measured["backward"]
    ind, ind_bad, ind_zero = measured["independent"]
    forward = _direction(fwd, fwd_bad, fwd_zero, predicted_fwd, "forward")
    backward = _direction(ind, ind_bad, ind_zero, predicted_independent, "backward")
    if forward["overflow_layer"] is not None:
        backward = _unmeasurable_backward(backward, forward["overflow_layer"])
    # The least-squares gradient's own overflow/underflow (the course's loss), reported too.
    least_squares = _direction(bwd, bwd_bad, bwd_zero, predicted_bwd, "backward")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = fwd[:, 1:] / fwd[:, :-1]
        predicted_ratios = predicted_fwd[1:] / predicted_fwd[:-1]
    usable = np.isfinite(ratios) & (fwd[:, :-1] > 0)
    measured_ratio = float(ratios[usable].mean()) if usable.any() else None
    finite_pred = predicted_ratios[np.isfinite(predicted_ratios)]
    predicted_ratio = float(finite_pred.mean()) if finite_pred.size else None
    reason = f"{forward['reason']}; {backward['reason']}"
    for key, word in (
        ("overflow_layer", "overflow to inf"),
        ("underflow_layer", "underflow, exactly 0"),
    ):
        if least_squares[key] is not None:
            reason += f"; least-squares gradient: float32 {word} at layer {least_squares[key]}"
    return {
        "label": f"{weight_label}, {act_name}",
        "sigma2": value,
        "initializer": init_name,
        "activation": act_name,
        "depth": int(fwd.shape[1]),
        "forward_variance": fwd.mean(axis=0).tolist(),
        "backward_variance": bwd.mean(axis=0).tolist(),
        "backward_variance_independent": ind.mean(axis=0).tolist(),
        "predicted_forward_variance": predicted_fwd.tolist(),
        "predicted_backward_variance": predicted_bwd.tolist(),
        "predicted_backward_variance_independent": predicted_independent.tolist(),
        "measured_ratio": measured_ratio,
        "predicted_ratio": predicted_ratio,
        "forward": forward,
        "backward": backward,
        "forward_verdict": forward["verdict"],
        "backward_verdict": backward["verdict"],
        "verdict": _combine(forward["verdict"], backward["verdict"]),
        "reason": reason,
        "forward_overflow_layer": forward["overflow_layer"],
        "forward_underflow_layer": forward["underflow_layer"],
        "backward_overflow_layer": least_squares["overflow_layer"],
        "backward_underflow_layer": least_squares["underflow_layer"],
    }
