"""``check_model``: find initializer/activation mistakes in a Keras model before training it.

Two kinds of checks, both from the configuration alone (no data, no training step):

1. **Pairing rules** (the course's "paquetes coherentes", seed ``000_6047279db55f0baf.txt``):
   zero or constant kernels (symmetry, seed ``001_91c287d320f80478.txt``), ReLU with
   Glorot/Xavier in a deep stack and tanh/sigmoid with He (seed ``002_e70231875df5c241.txt``'s
   summary table), sigmoid in deep hidden stacks (vanishing gradients, ``0.25^n``, seed
   ``004_1ff4b784171ba958.txt``), softmax in a hidden layer (seed ``003_f4acee80e076a33a.txt``:
   "se usa generalmente en la última capa"), leaky ReLU without the leaky gain.
2. **Predicted forward variance**: the variance recursion of seed ``002`` (Prince, UDL
   sec. 7.5), ``Var(f_k) = fan_in * E[W^2] * E[a(f_{k-1})^2]``, evaluated layer by layer with
   each initializer's weight variance and each activation's second moment under a Gaussian
   input, starting from standardized inputs (``E[x^2] = 1``, seed ``004``'s z-score). The first
   layer whose predicted pre-activation variance leaves :data:`VARIANCE_BAND` is flagged.

Example:
    >>> import keras
    >>> from keras_init_lab.diagnostics import check_model
    >>> model = keras.Sequential([keras.Input((20,))]
    ...     + [keras.layers.Dense(64, activation="relu") for _ in range(8)]   # Glorot default
    ...     + [keras.layers.Dense(1, activation="sigmoid")])
    >>> result = check_model(model)
    >>> result.has_errors, len(result.warnings) > 0
    (False, True)
    >>> print(result)

Reference:
    S. Prince, *Understanding Deep Learning* (2023), sec. 7.5, https://udlbook.github.io/udlbook/;
    Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html;
    He et al. 2015, https://arxiv.org/abs/1502.01852.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import keras
import numpy as np

from keras_init_lab import activations as kil_activations
from keras_init_lab import initializers as kil_initializers
from keras_init_lab._layers import KERNEL_LAYERS, TRANSPOSED_CONV_LAYERS
from keras_init_lab.fans import compute_fans
from keras_init_lab.initializers import TRUNCATED_NORMAL_STD

__all__ = [
    "DEEP_STACK_LAYERS",
    "Finding",
    "LayerPrediction",
    "ModelCheck",
    "SEVERITIES",
    "VARIANCE_BAND",
    "check_model",
]

SEVERITIES = ("error", "warning", "info")

#: Hidden layers of one kind from which a stack counts as "deep": seed
#: ``004_1ff4b784171ba958.txt`` ("con funciones como sigmoide o tanh, es difícil entrenar más
#: de 4-5 capas sin técnicas adicionales"). With Glorot on square ReLU layers the variance
#: halves per layer, so 5 layers already lose a factor 2^5 = 32.
DEEP_STACK_LAYERS = 5

#: Accepted range of the predicted pre-activation variance, relative to standardized inputs
#: (variance 1): two orders of magnitude either way, i.e. a standard deviation between 0.1 and
#: 10. Outside it the signal has shrunk to a tenth of the input's scale (vanishing, seed
#: ``002``'s sigma^2 = 0.001/0.01 curves) or grown tenfold, which saturates tanh/sigmoid
#: (|z| > 5 gives sigma'(z) < 0.007) and overflows softmax logits quickly.
VARIANCE_BAND = (1e-2, 1e2)

#: Second moment of the model's inputs assumed by the prediction: standardized features
#: (``x' = (x - mu) / sigma``, seed ``004``), so ``E[x^2] = 1``.
INPUT_SECOND_MOMENT = 1.0

#: Gauss-Hermite nodes for ``E[a(f)^2]`` with ``f ~ N(0, q)``: 80 nodes integrate smooth
#: activations to ~1e-10 and ReLU-like kinks to ~1e-4 relative, far below the band's width.
_HERMITE_NODES = 80

#: Variance of a standard normal truncated to (-2, 2) (Keras's ``TruncatedNormal``).
_TRUNCATED_NORMAL_VARIANCE = TRUNCATED_NORMAL_STD**2

_NORMALIZATION_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)
_ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)
#: Layers between a kernel layer and its activation that do not change which activation
#: the kernel feeds (``Dense -> BatchNorm -> ReLU``, ``Dense -> Dropout -> ReLU``).
_TRANSPARENT_LAYERS = _NORMALIZATION_LAYERS + (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.ActivityRegularization,
)


@dataclass(frozen=True)
class Finding:
    """One problem (or remark) about one layer.

    Attributes:
        severity: ``"error"`` (the model cannot learn as configured), ``"warning"`` (it will
            learn badly or slowly) or ``"info"``.
        layer: the layer's name.
        message: what is wrong and why, with the course's reasoning.
        fix: one line saying what to change.
        rule: short identifier of the rule (``"symmetric-init"``, ``"relu-glorot"``...).
    """

    severity: str
    layer: str
    message: str
    fix: str
    rule: str

    def __str__(self) -> str:
        return f"{self.severity.upper():<7} {self.layer}: {self.message}\n        fix: {self.fix}"


@dataclass(frozen=True)
class LayerPrediction:
    """Predicted forward signal at one Dense/Conv layer (no data: from the configuration).

    Attributes:
        layer, layer_type: name and class name.
        initializer: readable description of the kernel initializer.
        activation: name of the activation the layer feeds (fused or a following layer).
        fan_in, fan_out: from the kernel shape (None when the layer is not built).
        weight_variance: ``E[W^2]`` of the initializer for this shape (None if unknown).
        input_second_moment: ``E[h^2]`` of the layer's input.
        pre_activation_variance: predicted ``Var(f) = fan_in * E[W^2] * E[h^2]``.
        in_band: whether it lies inside :data:`VARIANCE_BAND`.
    """

    layer: str
    layer_type: str
    initializer: str
    activation: str
    fan_in: int | None
    fan_out: int | None
    weight_variance: float | None
    input_second_moment: float | None
    pre_activation_variance: float | None
    in_band: bool | None


@dataclass
class ModelCheck:
    """Result of :func:`check_model`: findings plus the per-layer prediction; prints a report.

    Iterating yields the :class:`Finding` objects (errors first).
    """

    model_name: str
    findings: list[Finding] = field(default_factory=list)
    predictions: list[LayerPrediction] = field(default_factory=list)
    band: tuple[float, float] = VARIANCE_BAND

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __str__(self) -> str:
        counts = {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}
        lines = [
            f"check_model: {self.model_name!r}: {counts['error']} error(s), "
            f"{counts['warning']} warning(s), {counts['info']} note(s)"
        ]
        lines.extend(str(f) for f in self.findings)
        if not self.findings:
            lines.append("No problems found.")
        if self.predictions:
            low, high = self.band
            lines.append(
                f"\nPredicted forward signal (standardized inputs, E[x^2] = 1; sane band "
                f"{low:g} <= Var(pre-activation) <= {high:g}):"
            )
            lines.append(
                f"  {'layer':<20} {'initializer':<26} {'activation':<12} {'fan_in':>6} "
                f"{'E[W^2]':>9} {'Var(pre-act)':>12}"
            )
            for p in self.predictions:
                lines.append(
                    f"  {p.layer:<20} {p.initializer[:26]:<26} {p.activation[:12]:<12} "
                    f"{_fmt_int(p.fan_in):>6} {_fmt(p.weight_variance):>9} "
                    f"{_fmt(p.pre_activation_variance):>12}"
                    + ("" if p.in_band in (None, True) else "  <- outside band")
                )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _fmt_int(value: int | None) -> str:
    return "?" if value is None else str(value)


# --------------------------------------------------------------------------- initializers


@dataclass(frozen=True)
class _InitInfo:
    kind: str  # glorot, he, leaky_he, lecun, orthogonal, constant, small, heuristic, random, ...
    label: str
    second_moment: Callable[[tuple], float | None]
    constant: float | None = None
    negative_slope: float | None = None


def _keras_variance_scaling_moment(init) -> Callable[[tuple], float]:
    def moment(shape):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init.mode]
        return float(init.scale) / fan

    return moment


def _kind_from_scale(scale: float, mode: str) -> str:
    if math.isclose(scale, 2.0, rel_tol=1e-6):
        return "he"
    if math.isclose(scale, 1.0, rel_tol=1e-6):
        return "glorot" if mode == "fan_avg" else "lecun"
    return "variance_scaling"


def _describe_initializer(init) -> _InitInfo:
    """Classify an initializer object (the package's or Keras's) and give its ``E[W^2]``."""
    k = keras.initializers
    p = kil_initializers
    keras_class = type(init).__module__.startswith("keras.")
    label = type(init).__name__ + (" (Keras)" if keras_class else "")
    if isinstance(init, (p.Zeros, k.Zeros)):
        return _InitInfo("constant", label, lambda shape: 0.0, constant=0.0)
    if isinstance(init, k.Ones):
        return _InitInfo("constant", label, lambda shape: 1.0, constant=1.0)
    if isinstance(init, (p.Constant, k.Constant)):
        value = np.asarray(init.value, dtype=np.float64)
        if value.size == 1:
            c = float(value.reshape(()))
            return _InitInfo("constant", f"Constant({c:g})", lambda shape: c * c, constant=c)
        # A fixed matrix (the slides' hand-written weights): not symmetric, not random.
        return _InitInfo("fixed", "Constant(matrix)", lambda shape: float(np.mean(value**2)))
    moment = getattr(init, "variance", None)
    moment = moment if callable(moment) else None
    if isinstance(init, getattr(p, "_LeakyHeBase", ())):
        return _InitInfo("leaky_he", label, moment, negative_slope=init.negative_slope)
    if isinstance(init, (p.HeNormal, p.HeUniform, p.HeAvgNormal, p.HeAvgUniform)):
        return _InitInfo("he", label, moment)
    if isinstance(init, (p.GlorotNormal, p.GlorotUniform)):
        return _InitInfo("glorot", label, moment)
    if isinstance(init, (p.LecunNormal, p.LecunUniform)):
        return _InitInfo("lecun", label, moment)
    if isinstance(init, p.GlorotHeuristicUniform):
        return _InitInfo("heuristic", label, moment)
    if isinstance(init, (p.SmallNormal, p.SmallUniform)):
        return _InitInfo("small", label, moment)
    if isinstance(init, p.Orthogonal):
        return _InitInfo("orthogonal", label, moment)
    if isinstance(init, p.VarianceScaling):
        return _InitInfo(_kind_from_scale(init.scale, init.mode), label, moment)
    if isinstance(init, k.Orthogonal):
        gain = float(init.gain)

        def orthogonal_moment(shape):
            rows, cols = math.prod(shape[:-1]), shape[-1]
            return gain**2 / max(rows, cols)

        return _InitInfo("orthogonal", label, orthogonal_moment)
    if isinstance(init, k.VarianceScaling):
        kind = _kind_from_scale(float(init.scale), init.mode)
        return _InitInfo(kind, label, _keras_variance_scaling_moment(init))
    if isinstance(init, k.TruncatedNormal):
        m = init.stddev**2 * _TRUNCATED_NORMAL_VARIANCE + init.mean**2
        return _InitInfo("random", f"TruncatedNormal(stddev={init.stddev:g})", lambda s: m)
    if isinstance(init, k.RandomNormal):
        m = init.stddev**2 + init.mean**2
        return _InitInfo("random", f"RandomNormal(stddev={init.stddev:g})", lambda s: m)
    if isinstance(init, k.RandomUniform):
        m = (init.maxval - init.minval) ** 2 / 12.0 + ((init.maxval + init.minval) / 2.0) ** 2
        return _InitInfo(
            "random", f"RandomUniform({init.minval:g}, {init.maxval:g})", lambda s: m
        )
    return _InitInfo("unknown", label, moment or (lambda shape: None))


# ---------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class _ActInfo:
    name: str
    family: str  # relu, sigmoid, tanh, linear, softmax, other
    function: Callable[[np.ndarray], np.ndarray] | None
    negative_slope: float = 0.0
    recommended: str | None = None
    via_layer: str | None = None  # name of the separate activation layer, if any


def _describe_activation(obj, via_layer: str | None = None) -> _ActInfo:
    """Describe an activation function or activation layer, recognised by object."""
    spec = kil_activations.spec(obj)  # Keras built-ins and activation layers included
    if spec is not None:
        slope = float(spec.params.get("negative_slope", 0.0)) if spec.params else 0.0
        if isinstance(obj, keras.layers.PReLU):
            slope = _prelu_slope(obj)
        function = _numeric(obj if isinstance(obj, keras.layers.Layer) else spec.function)
        return _ActInfo(spec.name, spec.family, function, slope, spec.recommended_initializer,
                        via_layer)
    if isinstance(obj, keras.layers.Activation):
        return _describe_activation(obj.activation, via_layer)
    if isinstance(obj, keras.layers.LeakyReLU):
        return _ActInfo("leaky_relu", "relu", _numeric(obj), float(obj.negative_slope),
                        None, via_layer)
    if isinstance(obj, keras.layers.ReLU):
        slope = float(obj.negative_slope)
        return _ActInfo("relu" if slope == 0 else "leaky_relu", "relu", _numeric(obj), slope,
                        None, via_layer)
    if isinstance(obj, keras.layers.PReLU):
        return _ActInfo("prelu", "relu", None, _prelu_slope(obj), None, via_layer)
    if isinstance(obj, keras.layers.Softmax):
        return _ActInfo("softmax", "softmax", _numeric(keras.activations.softmax), 0.0, None,
                        via_layer)
    name = getattr(obj, "__name__", type(obj).__name__)
    return _ActInfo(str(name), "other", _numeric(obj) if callable(obj) else None, 0.0, None,
                    via_layer)


def _prelu_slope(layer) -> float:
    if getattr(layer, "built", False) and hasattr(layer, "alpha"):
        return float(np.mean(np.asarray(layer.alpha)))
    init = getattr(layer, "alpha_initializer", None)
    if isinstance(init, (keras.initializers.Constant, kil_initializers.Constant)):
        return float(np.mean(np.asarray(init.value)))
    return 0.0  # Keras's PReLU starts its slope at 0 (zeros initializer)


def _numeric(fn) -> Callable[[np.ndarray], np.ndarray] | None:
    """Wrap a Keras activation (function or weightless layer) as float64 NumPy -> NumPy."""
    if isinstance(fn, keras.layers.Layer) and fn.weights:
        return None  # calling it could build weights on the user's layer

    def apply(values: np.ndarray) -> np.ndarray:
        out = fn(keras.ops.convert_to_tensor(values.astype(np.float32)))
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)

    return apply


def _second_moment(act: _ActInfo, variance: float, units: int | None) -> float | None:
    """``E[a(f)^2]`` for ``f ~ N(0, variance)`` (per unit; softmax over ``units`` units)."""
    if variance is None or not math.isfinite(variance):
        return variance
    if act.family == "linear":
        return variance
    if act.name in ("relu", "leaky_relu", "prelu") and act.family == "relu":
        # Positively homogeneous: exact, and no float32 overflow for huge variances.
        return variance * (1.0 + act.negative_slope**2) / 2.0
    if act.function is None:
        return None
    if act.family == "softmax":
        # Deterministic Monte Carlo over a fixed Gaussian matrix (softmax is not elementwise).
        n_units = max(int(units or 10), 2)
        z = np.random.default_rng(0).normal(size=(512, n_units)) * math.sqrt(variance)
        return float(np.mean(act.function(z) ** 2))
    nodes, weights = np.polynomial.hermite.hermgauss(_HERMITE_NODES)
    z = math.sqrt(2.0 * variance) * nodes
    values = act.function(z)
    return float(np.sum(weights * values**2) / math.sqrt(math.pi))


# ------------------------------------------------------------------------------- the walk


def _walk_layers(model) -> list:
    """Every layer, nested models expanded in place, in the model's listing order (topological
    for Functional and Sequential models)."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            found.extend(_walk_layers(layer))
        else:
            found.append(layer)
    return found


def _consumers(layer, position: int, flat: list) -> list:
    """Layers that read ``layer``'s output: from the graph when there is one, else the next."""
    members = {id(item) for item in flat}
    nodes = getattr(layer, "_outbound_nodes", None) or []
    found = [node.operation for node in nodes if id(getattr(node, "operation", None)) in members]
    if found:
        return found
    return [flat[position + 1]] if position + 1 < len(flat) else []


def _following_activation(layer, position: int, flat: list) -> tuple[object | None, bool]:
    """The activation layer a linear kernel layer feeds, skipping Dropout/normalization."""
    normalized = False
    current, index = layer, position
    for _ in range(len(flat)):
        consumers = _consumers(current, index, flat)
        if len(consumers) != 1:
            return None, normalized
        nxt = consumers[0]
        if isinstance(nxt, _ACTIVATION_LAYERS):
            return nxt, normalized
        if isinstance(nxt, _TRANSPARENT_LAYERS):
            normalized = normalized or isinstance(nxt, _NORMALIZATION_LAYERS)
            current, index = nxt, flat.index(nxt)
            continue
        return None, normalized
    return None, normalized


def _kernel_shape(layer) -> tuple | None:
    kernel = getattr(layer, "kernel", None) if getattr(layer, "built", False) else None
    if kernel is None:
        return None
    shape = tuple(int(d) for d in kernel.shape)
    if isinstance(layer, TRANSPOSED_CONV_LAYERS):  # (*k, out, in): swap to the (*k, in, out) layout
        shape = shape[:-2] + (shape[-1], shape[-2])
    return shape


def _is_output(layer, position: int, flat: list, model, activation_layer) -> bool:
    later_kernels = any(isinstance(item, KERNEL_LAYERS) for item in flat[position + 1:])
    if not later_kernels:
        return True
    outputs = {id(t) for t in (getattr(model, "outputs", None) or [])}
    for candidate in (layer, activation_layer):
        if candidate is None:
            continue
        try:
            if id(candidate.output) in outputs:
                return True
        except (AttributeError, ValueError):
            continue
    return False


def check_model(model, band: tuple[float, float] = VARIANCE_BAND) -> ModelCheck:
    """Check every Dense/Conv layer's kernel initializer and activation; predict the signal.

    Formula (the prediction): with standardized inputs ``E[x^2] = 1``, each Dense/Conv layer
    ``k`` gets ``Var(f_k) = fan_in_k * E[W_k^2] * E[h_{k-1}^2]`` (course notes
    ``002_e70231875df5c241.txt``, Prince UDL sec. 7.5), and its output feeds ``E[h_k^2] = E[a(f_k)^2]`` with ``f_k ~ N(0, Var(f_k))`` for
    its activation ``a`` (ReLU: ``Var/2``; leaky ReLU: ``Var (1 + alpha^2) / 2``; others by
    Gauss-Hermite quadrature of the activation function itself). Normalization layers reset the
    second moment to 1, ``Add`` sums it (independent branches), other layers pass it through.
    ``E[W^2]`` is the initializer's ``variance(shape)`` for the package's initializers, and
    ``scale / fan`` (``VarianceScaling``), ``gain^2 / max(rows, cols)`` (orthogonal),
    ``stddev^2`` (random normal) for Keras's. Biases are assumed zero.

    Rules (severity, rule id): zero/constant kernel in a layer of more than one unit (error,
    ``symmetric-init``); ReLU-family activation with Glorot/Xavier in a stack of
    :data:`DEEP_STACK_LAYERS` or more such hidden layers, not followed by normalization
    (warning, ``relu-glorot``); tanh/sigmoid with He, not followed by normalization (warning,
    ``saturating-he``); sigmoid in
    :data:`DEEP_STACK_LAYERS` or more hidden layers (warning, ``sigmoid-deep``; fewer: info);
    softmax in a hidden layer (warning, ``hidden-softmax``); leaky ReLU with plain He or with a
    leaky He for another slope (``leaky-gain``: warning when the per-layer variance drift
    ``1 + alpha^2`` compounds to more than 10% over the stack, else info); first layer whose
    predicted pre-activation variance leaves ``band`` (warning, ``variance-band``).

    Activations are recognised by object, not by config strings: the fused ``activation`` of
    the layer, or a separate ``Activation``/``ReLU``/``LeakyReLU``/``ELU``/``PReLU``/``Softmax``
    layer that reads its output (Dropout and normalization layers in between are skipped).
    Initializers are recognised by class: Keras's ``GlorotUniform`` and the package's
    ``GlorotUniform`` are both Glorot. The check reads the *initializers*, so for a model that
    was already trained it describes how it was initialized, not its current weights.

    Example:
        >>> result = check_model(model)
        >>> [f.rule for f in result.errors]
        ['symmetric-init']
        >>> print(result)

    Args:
        model: a Keras model (Sequential, Functional or subclassed; nested models are walked).
            Build it (give an ``Input``) for the variance prediction; an unbuilt model still
            gets the pairing rules.
        band: ``(low, high)`` accepted range of the predicted pre-activation variance.

    Returns:
        A :class:`ModelCheck` (findings, per-layer predictions, readable ``str``).

    Raises:
        TypeError: if ``model`` is not a Keras model or layer.
        ValueError: for a malformed ``band``.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"check_model needs a Keras model; received {type(model).__name__}. To check a "
            "saved file use keras.saving.load_model(path) or `keras-init-lab check PATH.keras`."
        )
    try:
        low, high = (float(band[0]), float(band[1]))
        valid = len(band) == 2 and 0 < low < high
    except (TypeError, ValueError, IndexError):
        valid = False
    if not valid:
        raise ValueError(
            f"band must be (low, high) with 0 < low < high; received band={band!r}. "
            f"Default: {VARIANCE_BAND}."
        )
    flat = _walk_layers(model) if hasattr(model, "layers") else [model]
    result = ModelCheck(model_name=model.name, band=(low, high))

    # Pass 1: describe every kernel layer (initializer, activation, role).
    entries = []
    for position, layer in enumerate(flat):
        if not isinstance(layer, KERNEL_LAYERS):
            continue
        fused = getattr(layer, "activation", None)
        act = _describe_activation(fused) if fused is not None else None
        normalized = False
        activation_layer = None
        if act is None or act.family == "linear":
            activation_layer, normalized = _following_activation(layer, position, flat)
            if activation_layer is not None:
                act = _describe_activation(activation_layer, via_layer=activation_layer.name)
        if act is None:
            act = _ActInfo("linear", "linear", None)
        entries.append({
            "layer": layer,
            "position": position,
            "init": _describe_initializer(layer.kernel_initializer),
            "act": act,
            "normalized": normalized,
            "output": _is_output(layer, position, flat, model, activation_layer),
            "units": _kernel_shape(layer)[-1] if _kernel_shape(layer) else
            getattr(layer, "units", getattr(layer, "filters", None)),
        })

    hidden = [e for e in entries if not e["output"]]
    relu_glorot = [e for e in hidden if e["act"].family == "relu" and e["init"].kind == "glorot"
                   and not e["normalized"]]
    sigmoid_hidden = [e for e in hidden if e["act"].family == "sigmoid"]
    leaky_stack = [e for e in hidden if e["act"].negative_slope > 0]
    findings = result.findings

    for e in entries:
        layer, init, act = e["layer"], e["init"], e["act"]
        name = layer.name
        act_text = act.name + (f" (layer {act.via_layer!r})" if act.via_layer else "")
        if init.kind == "constant" and e["output"]:
            # Output units get different error signals (one target each), so they do become
            # different: not a symmetry trap, but earlier layers get no gradient at first.
            if init.constant == 0:
                findings.append(Finding(
                    "info", name,
                    f"output kernel starts at zeros ({init.label}): the output units still "
                    "learn (each gets its own error signal), but the first step sends no "
                    "gradient to earlier layers.",
                    "fine for a linear read-out; use kernel_initializer='glorot_uniform' to "
                    "train every layer from the first step.",
                    "zero-output-kernel",
                ))
        elif init.kind == "constant":
            value = init.constant
            if (e["units"] or 2) > 1:
                findings.append(Finding(
                    "error", name,
                    f"kernel initializer {init.label} gives every one of its {e['units']} units "
                    "the same weights, so they compute the same output and receive the same "
                    "gradient: the symmetry is never broken"
                    + (" and with zeros the gradient to earlier layers is 0" if value == 0 else "")
                    + " (course notes 001: 'todas las neuronas predicen lo mismo').",
                    f"kernel_initializer='{act.recommended or 'glorot_uniform'}' "
                    "(random; keep bias_initializer='zeros').",
                    "symmetric-init",
                ))
        if relu_glorot and e is relu_glorot[0] and len(relu_glorot) >= DEEP_STACK_LAYERS:
            findings.append(Finding(
                "warning", name,
                f"{act_text} after a Glorot/Xavier kernel in a stack of {len(relu_glorot)} such "
                f"layers ({_names_list(relu_glorot)}): Glorot keeps Var(f) only for a "
                "linear/tanh unit; ReLU zeroes half of it, so the variance halves at every "
                f"layer, 2^-{len(relu_glorot)} = {2.0 ** -len(relu_glorot):.2g} over the stack "
                "(course notes 002: 'Xavier + ReLU: riesgoso').",
                f"kernel_initializer='{act.recommended or 'he_normal'}' in these layers "
                "(He: Var(W) = 2/fan_in).",
                "relu-glorot",
            ))
        if (act.family in ("tanh", "sigmoid") and init.kind in ("he", "leaky_he")
                and not e["normalized"]):
            findings.append(Finding(
                "warning", name,
                f"{act_text} with He initialization ({init.label}): He doubles the variance to "
                "make up for ReLU's zeros; a saturating unit does not zero anything, so the "
                "pre-activations grow into saturation (course notes 002: 'Kaiming + tanh: "
                "riesgoso, explosión de los gradientes').",
                "kernel_initializer='glorot_uniform' (Xavier: Var(W) = 2/(fan_in + fan_out)).",
                "saturating-he",
            ))
        if sigmoid_hidden and e is sigmoid_hidden[0]:
            n = len(sigmoid_hidden)
            deep = n >= DEEP_STACK_LAYERS
            findings.append(Finding(
                "warning" if deep else "info", name,
                f"sigmoid in {n} hidden layer(s) ({_names_list(sigmoid_hidden)}): "
                f"sigma'(z) <= 0.25, so the gradient shrinks by at least 4x per layer, "
                f"0.25^{n} = {0.25 ** n:.2g} (course notes 004: 0.25^20 ~ 9.1e-13; 'hoy día casi "
                "no se usa en capas ocultas').",
                "activation='relu' with kernel_initializer='he_normal' in hidden layers "
                "(keep sigmoid for a binary output).",
                "sigmoid-deep",
            ))
        if act.family == "softmax" and not e["output"]:
            findings.append(Finding(
                "warning", name,
                f"softmax in a hidden layer: it turns the {e['units']} units into one "
                "probability vector that sums to 1, coupling them and shrinking each to ~1/n "
                "(course notes 003: 'se usa generalmente en la última capa').",
                "use relu (or tanh) here and keep softmax for the multiclass output layer.",
                "hidden-softmax",
            ))
        if act.negative_slope > 0 and not e["output"] and init.kind in ("he", "leaky_he"):
            alpha = act.negative_slope
            expected = init.negative_slope if init.kind == "leaky_he" else 0.0
            if not math.isclose(alpha, expected, rel_tol=1e-6, abs_tol=1e-12):
                drift = ((1 + alpha**2) / (1 + expected**2)) ** max(len(leaky_stack), 1)
                what = ("plain He (gain sqrt(2), computed for ReLU)" if init.kind == "he"
                        else f"leaky He for slope {expected:g}")
                findings.append(Finding(
                    "warning" if drift > 1.1 else "info", name,
                    f"{act_text} with slope {alpha:g} initialized with {what}: the leaky gain "
                    f"is sqrt(2/(1+alpha^2)); the variance drifts by {(1 + alpha**2):.4g}x per "
                    f"layer, {drift:.3g}x over {max(len(leaky_stack), 1)} layer(s).",
                    f"kernel_initializer=keras_init_lab.initializers.LeakyHeNormal("
                    f"negative_slope={alpha:g}).",
                    "leaky-gain",
                ))
    _predict(model, flat, entries, result)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    result.findings.sort(key=lambda f: order[f.severity])
    return result


def _names_list(entries: list, limit: int = 4) -> str:
    names = [e["layer"].name for e in entries]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _merge_moment(layer, moments: list[float | None]) -> float | None:
    known = [m for m in moments if m is not None]
    if not known:
        return None
    if isinstance(layer, (keras.layers.Add, keras.layers.Subtract)):
        return float(sum(known))
    if isinstance(layer, keras.layers.Average):
        return float(sum(known)) / len(known) ** 2
    if isinstance(layer, keras.layers.Multiply):
        return float(np.prod(known))
    if isinstance(layer, keras.layers.Concatenate):
        return float(np.mean(known))
    return known[0]


def _predict(model, flat, entries, result: ModelCheck) -> None:
    """Propagate ``E[h^2]`` through the graph (or the layer order) and fill predictions."""
    by_layer = {id(e["layer"]): e for e in entries}
    top_level = {id(layer) for layer in getattr(model, "layers", [])}
    state: dict[int, float | None] = {}  # id(KerasTensor) -> E[h^2]
    previous: float | None = INPUT_SECOND_MOMENT
    low, high = result.band
    flagged = False
    for position, layer in enumerate(flat):
        nodes = [n for n in (getattr(layer, "_inbound_nodes", None) or [])]
        node = nodes[0] if nodes else None
        inputs = list(getattr(node, "input_tensors", []) or []) if node is not None else []
        if inputs:
            moments = [state.get(id(t), INPUT_SECOND_MOMENT if not state else previous)
                       for t in inputs]
        else:
            moments = [previous]
        if isinstance(layer, keras.layers.InputLayer):
            # A model input; the input layer of a nested model passes the outer signal on.
            out = INPUT_SECOND_MOMENT if id(layer) in top_level else previous
        elif id(layer) in by_layer:
            e = by_layer[id(layer)]
            m_in = moments[0]
            shape = _kernel_shape(layer)
            fan_in = fan_out = weight_moment = variance = None
            if shape is not None:
                fan_in, fan_out = compute_fans(shape)
                weight_moment = e["init"].second_moment(shape)
            if weight_moment is not None and m_in is not None:
                # Also right per unit for a constant kernel c: E[(c sum x_j)^2] = c^2 sum E[x_j^2]
                # for independent zero-mean inputs (the units are then all identical).
                variance = fan_in * weight_moment * m_in
            fused = getattr(layer, "activation", None)
            fused_act = _describe_activation(fused) if fused is not None else None
            if fused_act is not None and fused_act.family != "linear":
                out = _second_moment(fused_act, variance, e["units"])
            else:
                out = variance
            in_band = None if variance is None else bool(low <= variance <= high)
            result.predictions.append(LayerPrediction(
                layer=layer.name, layer_type=type(layer).__name__, initializer=e["init"].label,
                activation=e["act"].name, fan_in=fan_in, fan_out=fan_out,
                weight_variance=weight_moment, input_second_moment=m_in,
                pre_activation_variance=variance, in_band=in_band,
            ))
            if in_band is False and not flagged and e["init"].kind != "constant":
                flagged = True
                direction = "vanished" if variance < low else "exploded"
                result.findings.append(Finding(
                    "warning", layer.name,
                    f"predicted pre-activation variance {variance:.3g} is outside the band "
                    f"[{low:g}, {high:g}] (the signal has {direction} by this layer; inputs "
                    "assumed standardized). Each layer multiplies it by fan_in * E[W^2] * "
                    "E[a(f)^2]/Var(f) (course notes 002: sigma_f'^2 = D_h sigma_W^2 sigma_f^2 / 2 "
                    "for ReLU).",
                    f"match the initializer to {e['act'].name} ("
                    f"'{e['act'].recommended or 'he_normal'}'), or add BatchNormalization, "
                    "or run keras_init_lab.lsuv(model, x_batch).",
                    "variance-band",
                ))
        elif isinstance(layer, _NORMALIZATION_LAYERS):
            out = 1.0
        elif isinstance(layer, _ACTIVATION_LAYERS):
            out = _second_moment(_describe_activation(layer), moments[0], None)
        else:
            out = _merge_moment(layer, moments)
        outputs = list(getattr(node, "output_tensors", []) or []) if node is not None else []
        for tensor in outputs:
            state[id(tensor)] = out
        previous = out
