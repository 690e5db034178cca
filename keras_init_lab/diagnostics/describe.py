"""Read a model's configuration: each Dense/Conv layer's initializer, activation and role.

Initializers are recognised by class (Keras's ``GlorotUniform`` and the package's are both
Glorot) and each gets its ``E[W^2]`` for a kernel shape; activations are recognised by object
(the fused ``activation`` or a separate activation layer that reads the kernel layer's
output, skipping Dropout and normalization in between).

Example:
    >>> import keras
    >>> info = describe_initializer(keras.initializers.HeNormal())
    >>> info.kind, info.second_moment((64, 32))
    ('he', 0.03125)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from keras_init_lab import _keras_compat
from keras_init_lab import activations as kil_activations
from keras_init_lab import initializers as kil_initializers
from keras_init_lab._layers import KERNEL_LAYERS, TRANSPOSED_CONV_LAYERS
from keras_init_lab.activations._facts import leaky_relu_spec
from keras_init_lab.activations._lookup import activation_layer_classes, classify
from keras_init_lab.fans import fan_for_mode
from keras_init_lab.initializers import TRUNCATED_NORMAL_STD

__all__ = [
    "ACTIVATION_LAYERS",
    "NORMALIZATION_LAYERS",
    "ActivationInfo",
    "InitializerInfo",
    "LayerEntry",
    "describe_activation",
    "describe_initializer",
    "describe_layers",
    "kernel_shape",
]

#: Variance of a standard normal truncated to (-2, 2), Keras's ``TruncatedNormal``.
_TRUNCATED_NORMAL_VARIANCE = TRUNCATED_NORMAL_STD**2

#: Layers that rescale their input to unit variance per feature (the z-score of lecture 004).
NORMALIZATION_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)
#: Weightless (or slope-only) layers that apply an activation function: ``Activation`` and the
#: layer classes of the activations' facts table (ReLU, LeakyReLU, PReLU, ELU, Softmax).
ACTIVATION_LAYERS = (keras.layers.Activation, *activation_layer_classes())
#: Layers between a kernel layer and its activation that do not change which activation
#: the kernel feeds (``Dense -> BatchNorm -> ReLU``, ``Dense -> Dropout -> ReLU``).
_TRANSPARENT_LAYERS = NORMALIZATION_LAYERS + (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.ActivityRegularization,
)


@dataclass(frozen=True)
class InitializerInfo:
    """What ``check_model`` knows about a kernel initializer.

    Attributes:
        kind: ``glorot``, ``he``, ``leaky_he``, ``lecun``, ``orthogonal``, ``constant``,
            ``fixed``, ``small``, ``heuristic``, ``random``, ``variance_scaling``, ``unknown``.
        label: readable name (class name, ``(Keras)`` for Keras's own).
        second_moment: ``shape -> E[W^2]`` (None when unknown).
        constant: the value of a constant initializer.
        negative_slope: the slope a leaky He initializer was computed for.
        fan_mode: ``fan_in``, ``fan_out`` or ``fan_avg`` for variance-scaling initializers.
    """

    kind: str
    label: str
    second_moment: Callable[[tuple], float | None]
    constant: float | None = None
    negative_slope: float | None = None
    fan_mode: str | None = None


@dataclass(frozen=True)
class ActivationInfo:
    """What ``check_model`` knows about an activation.

    Attributes:
        name: canonical name (``relu``, ``leaky_relu``, ``sigmoid``...).
        family: ``relu``, ``sigmoid``, ``tanh``, ``linear``, ``softmax`` or ``other``.
        function: float64 NumPy -> NumPy version of the activation: the facts table's own
            (``ActivationSpec.numpy_function``) when it has one, else the object evaluated
            through Keras (None if unsafe to call).
        derivative: its derivative, NumPy -> NumPy (None when unknown).
        negative_slope: leaky slope (0 for ReLU).
        recommended: the initializer name the facts table pairs with it.
        max_slope: ``max f'`` (sigmoid: 0.25), None when unknown.
        via_layer: name of the separate activation layer, if any.
    """

    name: str
    family: str
    function: Callable[[np.ndarray], np.ndarray] | None
    derivative: Callable[[np.ndarray], np.ndarray] | None = None
    negative_slope: float = 0.0
    recommended: str | None = None
    max_slope: float | None = None
    via_layer: str | None = None

    @property
    def text(self) -> str:
        """``"relu"`` or ``"relu (layer 're_lu')"`` for a separate activation layer."""
        return self.name + (f" (layer {self.via_layer!r})" if self.via_layer else "")


LINEAR = ActivationInfo("linear", "linear", None, None, 0.0, None, 1.0)


@dataclass(frozen=True)
class LayerEntry:
    """One Dense/Conv layer with what the rules need.

    Attributes:
        layer: the Keras layer.
        position: index in the walked layer list.
        number: 1-based position among the model's Dense/Conv layers (printed ranges).
        init: its kernel initializer, described.
        act: the activation it feeds.
        normalized: a normalization layer sits between it and its activation.
        output: it produces (or feeds only the activation of) a model output.
        units: output units (filters), None if unknown.
    """

    layer: object
    position: int
    number: int
    init: InitializerInfo
    act: ActivationInfo
    normalized: bool
    output: bool
    units: int | None

    @property
    def name(self) -> str:
        return self.layer.name


# --------------------------------------------------------------------------- initializers


def _variance_scaling_moment(scale: float, mode: str) -> Callable[[tuple], float]:
    def moment(shape):
        return float(scale) / fan_for_mode(shape, mode)

    return moment


def _kind_from_scale(scale: float, mode: str) -> str:
    if math.isclose(scale, 2.0, rel_tol=1e-6):
        return "he"
    if math.isclose(scale, 1.0, rel_tol=1e-6):
        return "glorot" if mode == "fan_avg" else "lecun"
    return "variance_scaling"


def describe_initializer(init) -> InitializerInfo:
    """Classify an initializer object (the package's or Keras's) and give its ``E[W^2]``.

    Formula: ``scale / fan`` for variance scaling (``fan_avg = (fan_in + fan_out) / 2``),
    ``gain^2 / max(rows, cols)`` for Keras's orthogonal, ``stddev^2 + mean^2`` for a normal,
    ``(max - min)^2 / 12 + midpoint^2`` for a uniform, ``c^2`` for a constant ``c``; the
    package's initializers give theirs through ``variance(shape)``.

    Args:
        init: an initializer object (``layer.kernel_initializer``).

    Returns:
        An :class:`InitializerInfo`.
    """
    k = keras.initializers
    p = kil_initializers
    keras_class = type(init).__module__.startswith("keras.")
    label = type(init).__name__ + (" (Keras)" if keras_class else "")
    if isinstance(init, (p.Zeros, k.Zeros)):
        return InitializerInfo("constant", label, lambda shape: 0.0, constant=0.0)
    if isinstance(init, k.Ones):
        return InitializerInfo("constant", label, lambda shape: 1.0, constant=1.0)
    if isinstance(init, (p.Constant, k.Constant)):
        value = np.asarray(init.value, dtype=np.float64)
        if value.size == 1:
            c = float(value.reshape(()))
            return InitializerInfo("constant", f"Constant({c:g})", lambda s: c * c, constant=c)
        # A fixed matrix (hand-written weights): not symmetric, not random.
        return InitializerInfo("fixed", "Constant(matrix)", lambda s: float(np.mean(value**2)))
    moment = getattr(init, "variance", None)
    moment = moment if callable(moment) else None
    mode = getattr(init, "mode", None) or getattr(init, "_mode", None)
    if isinstance(init, getattr(p, "_LeakyHeBase", ())):
        return InitializerInfo(
            "leaky_he", label, moment, negative_slope=init.negative_slope, fan_mode=mode
        )
    package_kinds = (
        ((p.HeNormal, p.HeUniform, p.HeAvgNormal, p.HeAvgUniform), "he"),
        ((p.GlorotNormal, p.GlorotUniform), "glorot"),
        ((p.LecunNormal, p.LecunUniform), "lecun"),
        ((p.GlorotHeuristicUniform,), "heuristic"),
        ((p.SmallNormal, p.SmallUniform), "small"),
        ((p.Orthogonal,), "orthogonal"),
    )
    for classes, kind in package_kinds:
        if isinstance(init, classes):
            return InitializerInfo(kind, label, moment, fan_mode=mode)
    if isinstance(init, p.VarianceScaling):
        return InitializerInfo(
            _kind_from_scale(init.scale, init.mode), label, moment, fan_mode=init.mode
        )
    return _describe_keras_initializer(init, label, moment)


def _describe_keras_initializer(init, label: str, moment) -> InitializerInfo:
    k = keras.initializers
    if isinstance(init, k.Orthogonal):
        gain = float(init.gain)

        def orthogonal_moment(shape):
            rows, cols = math.prod(shape[:-1]), shape[-1]
            return gain**2 / max(rows, cols)

        return InitializerInfo("orthogonal", label, orthogonal_moment)
    if isinstance(init, k.VarianceScaling):
        kind = _kind_from_scale(float(init.scale), init.mode)
        return InitializerInfo(
            kind, label, _variance_scaling_moment(init.scale, init.mode), fan_mode=init.mode
        )
    if isinstance(init, k.TruncatedNormal):
        m = init.stddev**2 * _TRUNCATED_NORMAL_VARIANCE + init.mean**2
        return InitializerInfo("random", f"TruncatedNormal(stddev={init.stddev:g})", lambda s: m)
    if isinstance(init, k.RandomNormal):
        m = init.stddev**2 + init.mean**2
        return InitializerInfo("random", f"RandomNormal(stddev={init.stddev:g})", lambda s: m)
    if isinstance(init, k.RandomUniform):
        m = (init.maxval - init.minval) ** 2 / 12.0 + ((init.maxval + init.minval) / 2.0) ** 2
        text = f"RandomUniform({init.minval:g}, {init.maxval:g})"
        return InitializerInfo("random", text, lambda s: m)
    return InitializerInfo("unknown", label, moment or (lambda shape: None))


# ---------------------------------------------------------------------------- activations


def describe_activation(obj, via_layer: str | None = None) -> ActivationInfo:
    """Describe an activation function or activation layer, recognised by object.

    What the activation is comes from the activations' facts table: its row
    (:func:`keras_init_lab.activations.spec`, Keras built-ins and activation layers included)
    or, for a Keras activation layer whose parameters no row describes, the family of its
    class (:func:`keras_init_lab.activations._lookup.classify`). Only the slope is read from
    the object itself (a leaky layer's ``negative_slope``, a PReLU's learned ``alpha``).

    Args:
        obj: an activation function (the package's or Keras's) or an activation layer.
        via_layer: the name of the separate activation layer, for messages.

    Returns:
        An :class:`ActivationInfo` (family ``other`` for an activation the package does not
        know; it is still evaluated numerically for the prediction).
    """
    spec = kil_activations.spec(obj)  # Keras built-ins and activation layers included
    if spec is not None:
        slope = float(spec.params.get("negative_slope", 0.0))
        function = spec.numpy_function
        if spec.kind == "layer" and isinstance(obj, keras.layers.Layer):
            slope = _prelu_slope(obj)  # a learnable slope: what the layer holds now
            function = leaky_relu_spec(slope, obj).numpy_function
        return ActivationInfo(
            spec.name,
            spec.family,
            function,
            _numpy(spec.derivative),
            slope,
            spec.recommended_initializer,
            spec.max_slope,
            via_layer,
        )
    if isinstance(obj, keras.layers.Activation):
        return describe_activation(obj.activation, via_layer)
    kind = classify(obj)  # an activation layer with parameters no facts row describes
    if kind is not None:
        slope = float(getattr(obj, "negative_slope", 0.0))
        return ActivationInfo(
            kind.name, kind.family, _numeric(obj), None, slope, None, None, via_layer
        )
    name = getattr(obj, "__name__", type(obj).__name__)
    function = _numeric(obj) if callable(obj) else None
    return ActivationInfo(str(name), "other", function, None, 0.0, None, None, via_layer)


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
        out = fn(keras.ops.convert_to_tensor(np.asarray(values).astype(np.float32)))
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)

    return apply


def _numpy(fn) -> Callable[[np.ndarray], np.ndarray] | None:
    return None if fn is None else _numeric(fn)


# ------------------------------------------------------------------------------ the layers


def kernel_shape(layer) -> tuple | None:
    """The kernel's shape in the ``(*kernel, in, out)`` layout, None when not built."""
    kernel = getattr(layer, "kernel", None) if getattr(layer, "built", False) else None
    if kernel is None:
        return None
    shape = tuple(int(d) for d in kernel.shape)
    if isinstance(layer, TRANSPOSED_CONV_LAYERS):  # (*k, out, in): swap to (*k, in, out)
        shape = shape[:-2] + (shape[-1], shape[-2])
    return shape


def _consumers(layer, position: int, flat: list) -> list:
    """Layers that read ``layer``'s output: from the graph when there is one, else the next."""
    members = {id(item) for item in flat}
    found = [
        node.operation
        for node in _keras_compat.outbound_nodes(layer)
        if id(getattr(node, "operation", None)) in members
    ]
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
        if isinstance(nxt, ACTIVATION_LAYERS):
            return nxt, normalized
        if isinstance(nxt, _TRANSPARENT_LAYERS):
            normalized = normalized or isinstance(nxt, NORMALIZATION_LAYERS)
            current, index = nxt, flat.index(nxt)
            continue
        return None, normalized
    return None, normalized


def _is_output(layer, position: int, flat: list, model, activation_layer) -> bool:
    later_kernels = any(isinstance(item, KERNEL_LAYERS) for item in flat[position + 1 :])
    if not later_kernels:
        return True
    try:
        outputs = {id(t) for t in (getattr(model, "outputs", None) or [])}
    except ValueError:  # an unbuilt Sequential model on Keras < 3.4 has no outputs yet
        outputs = set()
    for candidate in (layer, activation_layer):
        if candidate is None:
            continue
        try:
            if id(candidate.output) in outputs:
                return True
        except (AttributeError, ValueError):
            continue
    return False


def describe_layers(model, flat: list) -> list[LayerEntry]:
    """One :class:`LayerEntry` per Dense/Conv layer of ``flat`` (the walked model), in order."""
    entries = []
    for position, layer in enumerate(flat):
        if not isinstance(layer, KERNEL_LAYERS):
            continue
        fused = getattr(layer, "activation", None)
        act = describe_activation(fused) if fused is not None else None
        normalized = False
        activation_layer = None
        if act is None or act.family == "linear":
            activation_layer, normalized = _following_activation(layer, position, flat)
            if activation_layer is not None:
                act = describe_activation(activation_layer, via_layer=activation_layer.name)
        shape = kernel_shape(layer)
        units = shape[-1] if shape else getattr(layer, "units", getattr(layer, "filters", None))
        entries.append(
            LayerEntry(
                layer=layer,
                position=position,
                number=len(entries) + 1,
                init=describe_initializer(layer.kernel_initializer),
                act=act if act is not None else LINEAR,
                normalized=normalized,
                output=_is_output(layer, position, flat, model, activation_layer),
                units=units,
            )
        )
    return entries
