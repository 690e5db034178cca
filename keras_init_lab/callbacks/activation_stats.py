"""Dead and saturated units: activation statistics on a fixed probe batch.

What is measured: for every layer that applies a nonlinearity, the mean and standard
deviation of its pre-activations ``z`` and activations ``a = f(z)``, the **dead fraction**
(ReLU-family units that never output a positive value on the probe batch) and the
**saturation fraction** (tanh values with ``|a| > 0.97``, sigmoid values with ``a < 0.03`` or
``a > 0.97``). When: once before training (epoch 0) and after every ``every_n_epochs``
epochs. How it is shown: ``callback.history`` (plain numpy arrays for
:func:`keras_init_lab.plots.plot_activation_stats`) and, with a ``log_dir``, TensorBoard
scalars and histograms written through :mod:`keras_init_lab.callbacks.tensorboard`.

Design (decision 4 of ``DESIGN.md``):

* **One fixed probe batch** (at most ``max_probe_samples`` samples, chosen once and
  deterministically when the callback is created) goes through **one multi-output feature
  model** built once per model and reused across epochs and ``fit`` calls, so epoch 3 and
  epoch 30 are measured on the same inputs and differ only because the weights changed.
* **Activations are recognised by object, never by config string**: the activation
  *function* of ``Dense``/``EinsumDense``/``Conv*`` layers and of ``keras.layers.Activation``
  (compared by identity with ``keras.activations.*``, ``keras.ops.*``, ``tf.nn.*`` and, through
  :func:`keras_init_lab.activations.spec`, the package's own functions), and the *layer class*
  of ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU`` and ``Softmax``. Functional and Sequential
  sub-models are searched recursively.
* **Pre-activations of fused layers** (``Dense(64, activation="relu")``): the feature model
  outputs each such layer's *input* and *output*; the pre-activation is the layer's own
  ``call`` run on that input with ``activation`` set to identity for the duration of one
  trace (restored in a ``finally``). This reuses the layer's own kernel, bias, convolution,
  LoRA and quantization code instead of re-implementing ``Dense`` and every ``Conv``
  flavour, builds no twin layer (no second copy of the weights) and never leaves the model
  changed. Standalone activation layers need nothing of the kind: their input *is* the
  pre-activation.

Why "dead" counts units but "saturated" counts values: a healthy ReLU outputs zero for about
half of its inputs, so a per-value measure would read ~0.5 for a perfectly fine layer; a unit
is dead only when it is non-positive for *every* probe sample, i.e. (for a plain ReLU) it
gets no gradient from any of them. Saturation, in contrast, is a property of one input: a
tanh unit saturated on 90% of the samples passes almost no gradient for 90% of the batch,
and the fraction of saturated values is the share of the values whose gradient is choked.
Glorot & Bengio (2010, section 3) look at saturation the same way, through the distribution
of activation values per layer (percentiles and histograms of tanh/softsign outputs).

Example:
    >>> probe = x_train[:256]
    >>> stats = ActivationStats(probe, log_dir="logs/run1")
    >>> model.fit(x_train, y_train, epochs=5, callbacks=[stats])
    >>> stats.history["per_layer"]["dead_fraction"]        # (6 records, n_layers)
    >>> activation_statistics(model, probe)["saturation_fraction"]  # one record, no fit

Reference:
    X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural
    networks", AISTATS 2010 (saturation of sigmoid/tanh units, activation statistics per
    layer over training), https://proceedings.mlr.press/v9/glorot10a.html.
    L. Lu, Y. Shin, Y. Su, G. E. Karniadakis, "Dying ReLU and Initialization: Theory and
    Numerical Examples", 2019 (dead ReLU units), https://arxiv.org/abs/1903.06733.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from keras_init_lab._layers import KERNEL_LAYERS

__all__ = [
    "ActivationKind",
    "ActivationStats",
    "LayerActivation",
    "STATISTICS",
    "activation_statistics",
    "classify_activation",
    "describe_activation_layer",
    "prepare_probe",
]

#: Statistics recorded per layer, in the column order of every record.
STATISTICS = ("pre_mean", "pre_std", "mean", "std", "dead_fraction", "saturation_fraction")

#: Default tanh saturation threshold: tanh'(z) = 1 - tanh(z)^2, so |a| > 0.97 means the
#: local slope is below 1 - 0.97^2 = 0.059, i.e. the unit passes < 6% of the gradient.
DEFAULT_TANH_THRESHOLD = 0.97

#: Default sigmoid saturation band: sigma'(z) = a(1 - a); for a < 0.03 or a > 0.97 the slope
#: is below 0.03 * 0.97 = 0.029, about 12% of its maximum 0.25 at z = 0.
DEFAULT_SIGMOID_LOW = 0.03
DEFAULT_SIGMOID_HIGH = 0.97

#: Default probe size: "a few hundred samples" (DESIGN.md decision 4). 256 samples make the
#: dead-unit test meaningful (a healthy ReLU unit with P(z > 0) = 1/2 looks dead on 256
#: samples with probability 2**-256) while one forward pass stays far below an epoch's cost.
DEFAULT_MAX_PROBE_SAMPLES = 256

#: Buckets per activation histogram: TensorBoard's own default (``DEFAULT_BUCKET_COUNT`` in
#: ``tensorboard/plugins/histogram/summary_v2.py``).
HISTOGRAM_BUCKETS = 30

#: Values bucketed per layer and record. Bucketing costs ~10-20 ns per value on this 2-core
#: CPU (measured: 4.8M values of a small CNN's probe took 25-45 ms, as much as the rest of a
#: record); the statistics use every value, the picture needs fewer: with 2**18 values a
#: bucket holding a share p of the mass is estimated with relative standard error
#: sqrt((1 - p) / (p * 2**18)), below 2% for every p >= 1e-2. A 256-image probe through a
#: 28x28x16 conv (12,544 values per image) is histogrammed on its first 20 images.
HISTOGRAM_MAX_VALUES = 2**18

#: Run (subfolder of ``log_dir``) that receives this callback's events. Its own run, not
#: ``train``: TensorBoard's custom-scalars plugin reads a single layout event per run
#: (``layout_impl`` in ``custom_scalars_plugin.py``, ``downsample=1``) and merges across
#: runs, so sharing ``train`` with GradientStats would hide one of the two layouts.
TENSORBOARD_RUN = "activations"

#: Families whose output range is bounded get fixed histogram edges (comparable across
#: epochs); the others use the record's own min..max, as ``tf.summary.histogram`` does.
_FIXED_HISTOGRAM_RANGE = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}

_FAMILIES = ("relu", "sigmoid", "tanh", "linear", "softmax", "other")


# ---------------------------------------------------------------------------------------
# Recognising activations by object
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationKind:
    """What a layer's nonlinearity is, as far as these statistics care.

    Attributes:
        name: short name shown in the history and plots (``"relu"``, ``"tanh"``...).
        family: one of ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"linear"``, ``"softmax"``,
            ``"other"`` (the families of :func:`keras_init_lab.activations.spec`).
        can_die: whether a unit can stop outputting positive values for good.
    """

    name: str
    family: str
    can_die: bool

    @property
    def has_dead_fraction(self) -> bool:
        """Dead fraction applies to the ReLU family (units stuck at z <= 0) and to dying units."""
        return self.family == "relu" or self.can_die

    @property
    def has_saturation_fraction(self) -> bool:
        """Saturation fraction applies to the bounded squashing families, tanh and sigmoid."""
        return self.family in ("tanh", "sigmoid")


#: Built-in activations recognised by identity: ``name: (family, can_die, sources)``, where
#: ``sources`` are the modules whose attribute ``name`` (or an alias) is that function. Names
#: missing from an installed Keras/TensorFlow are skipped, so the table is built from what
#: exists: ``keras.activations.celu``, ``hard_tanh`` and ``keras.ops.celu`` appeared after
#: Keras 3.3, ``keras.ops.hard_silu`` after 3.3 too. Families follow
#: :mod:`keras_init_lab.activations`: rectifiers whose negative side is zero, linear or
#: saturating to a constant (relu, relu6, leaky_relu, elu, selu, celu) are "relu"; smooth
#: self-gated ones (gelu, silu/swish, mish, hard_silu) are "other"; bounded odd squashers are
#: "tanh"; bounded (0, 1) squashers are "sigmoid".
_BUILTIN_NAMES = {
    "relu": ("relu", True, ("relu",)),
    "relu6": ("relu", True, ("relu6",)),
    "leaky_relu": ("relu", False, ("leaky_relu",)),
    "elu": ("relu", False, ("elu",)),
    "selu": ("relu", False, ("selu",)),
    "celu": ("relu", False, ("celu",)),
    "gelu": ("other", False, ("gelu",)),
    "silu": ("other", False, ("silu", "swish")),
    "hard_silu": ("other", False, ("hard_silu", "hard_swish")),
    "mish": ("other", False, ("mish",)),
    "tanh": ("tanh", False, ("tanh",)),
    "hard_tanh": ("tanh", False, ("hard_tanh",)),
    "softsign": ("tanh", False, ("softsign",)),
    "sigmoid": ("sigmoid", False, ("sigmoid",)),
    "hard_sigmoid": ("sigmoid", False, ("hard_sigmoid",)),
    "softmax": ("softmax", False, ("softmax",)),
    "log_softmax": ("softmax", False, ("log_softmax",)),
    "linear": ("linear", False, ("linear",)),
    "softplus": ("other", False, ("softplus",)),
    "exponential": ("other", False, ("exponential",)),
}


def _builtin_activation_table() -> dict[int, ActivationKind]:
    """Identity table ``id(function) -> ActivationKind`` for Keras's and TensorFlow's built-ins.

    Keys are ``id`` of the function objects found under each name of :data:`_BUILTIN_NAMES`
    in ``keras.activations``, ``keras.ops``, ``tf.nn`` and ``tf.math`` (module-level objects
    live as long as the process, so their ids are stable). A name a module does not have in
    the installed version is skipped (``getattr`` with a default), never an import error.
    """
    modules = (keras.activations, keras.ops, tf.nn, tf.math)
    table: dict[int, ActivationKind] = {}
    for name, (family, can_die, aliases) in _BUILTIN_NAMES.items():
        kind = ActivationKind(name, family, can_die)
        for module in modules:
            for alias in aliases:
                function = getattr(module, alias, None)
                if callable(function):
                    table.setdefault(id(function), kind)
    return table


_BUILTIN_ACTIVATIONS = _builtin_activation_table()


def _package_kind(obj) -> ActivationKind | None:
    """Kind from ``keras_init_lab.activations.spec(obj)`` (a function or an activation layer).

    Returns None when the package does not know ``obj`` (or, defensively, when that module is
    absent, so this file keeps working on its own).
    """
    try:
        from keras_init_lab import activations as package_activations
    except ModuleNotFoundError as error:  # pragma: no cover - the module ships with the package
        if error.name == "keras_init_lab.activations":
            return None
        raise
    spec = package_activations.spec(obj)
    if spec is None:
        return None
    family = spec.family if spec.family in _FAMILIES else "other"
    return ActivationKind(str(spec.name), family, bool(spec.can_die))


def classify_activation(function: Callable | None) -> ActivationKind:
    """Classify an activation *function object* (never a string).

    The package's own :func:`keras_init_lab.activations.spec` is asked first (one source of
    truth for the package's functions and Keras's built-ins); then the identity table of
    Keras/TensorFlow built-ins; anything else is ``family="other"`` (means and standard
    deviations are still recorded, dead and saturation fractions are NaN).

    Example:
        >>> classify_activation(keras.activations.relu)
        ActivationKind(name='relu', family='relu', can_die=True)

    Args:
        function: the callable a layer applies (``None`` means identity).

    Returns:
        An :class:`ActivationKind`.

    Raises:
        TypeError: if ``function`` is a string or another non-callable.
    """
    if function is None:
        return ActivationKind("linear", "linear", False)
    if isinstance(function, str) or not callable(function):
        raise TypeError(
            "Activations are recognised by their function object, not by name; received "
            f"{function!r}. Pass the callable (e.g. keras.activations.relu)."
        )
    kind = _package_kind(function)
    if kind is not None:
        return kind
    kind = _BUILTIN_ACTIVATIONS.get(id(function))
    if kind is not None:
        return kind
    return ActivationKind(getattr(function, "__name__", type(function).__name__), "other", False)


#: Layers that apply ``self.activation`` to their linear output as the last step of ``call``
#: (checked with ``isinstance``, so subclasses count too).
_FUSED_LAYER_CLASSES = (
    *KERNEL_LAYERS,
    keras.layers.EinsumDense,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


#: Layers that *are* an activation (their input is the pre-activation).
_ACTIVATION_LAYER_CLASSES = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
)


def _activation_layer_kind(layer) -> ActivationKind:
    """Fallback kinds for activation layers the package's ``spec`` does not describe
    (``ReLU`` with ``max_value``/``threshold``/``negative_slope``, ``ELU`` with alpha != 1)."""
    if isinstance(layer, keras.layers.ReLU):
        slope = float(layer.negative_slope)
        return ActivationKind("leaky_relu" if slope > 0 else "relu", "relu", slope == 0)
    if isinstance(layer, keras.layers.LeakyReLU):
        return ActivationKind("leaky_relu", "relu", False)
    if isinstance(layer, keras.layers.PReLU):
        return ActivationKind("prelu", "relu", False)
    if isinstance(layer, keras.layers.ELU):
        return ActivationKind("elu", "relu", False)
    return ActivationKind("softmax", "softmax", False)


@dataclass(frozen=True)
class LayerActivation:
    """How a layer applies its nonlinearity.

    Attributes:
        kind: the :class:`ActivationKind`.
        fused: True for ``Dense``/``Conv`` with ``activation=...`` (the pre-activation is the
            layer's linear part); False when the layer *is* the activation (its input is the
            pre-activation).
        channels_first: the unit axis is 1 instead of the last one (for outputs of rank > 2).
    """

    kind: ActivationKind
    fused: bool
    channels_first: bool


def describe_activation_layer(layer: keras.layers.Layer) -> LayerActivation | None:
    """Return what nonlinearity ``layer`` applies, or None if it applies none.

    Recognised by object: ``Activation`` layers (their ``.activation`` function, see
    :func:`classify_activation`), ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU`` and ``Softmax``
    layers (described by :func:`keras_init_lab.activations.spec` when it knows them, else by
    class), and ``Dense``/``EinsumDense``/``Conv*`` layers whose ``.activation``
    is not the identity. The unit (channel) axis is the last one, or axis 1 for a layer with
    ``data_format="channels_first"``; standalone activation layers on rank > 2 tensors follow
    ``keras.config.image_data_format()``, the default that ``Conv`` layers use too.

    Example:
        >>> describe_activation_layer(keras.layers.Dense(4, activation="tanh")).kind.family
        'tanh'
        >>> describe_activation_layer(keras.layers.Dense(4)) is None
        True
    """
    global_channels_first = keras.config.image_data_format() == "channels_first"
    if isinstance(layer, _ACTIVATION_LAYER_CLASSES):
        kind = _package_kind(layer) or _activation_layer_kind(layer)
        return LayerActivation(kind, False, global_channels_first)
    if isinstance(layer, keras.layers.Activation):
        kind = classify_activation(layer.activation)
        if kind.family == "linear":
            return None
        return LayerActivation(kind, False, global_channels_first)
    if isinstance(layer, _FUSED_LAYER_CLASSES):
        kind = classify_activation(getattr(layer, "activation", None))
        if kind.family == "linear":
            return None
        channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
        return LayerActivation(kind, True, channels_first)
    return None


# ---------------------------------------------------------------------------------------
# The probe batch
# ---------------------------------------------------------------------------------------

_PROBE_TYPES = (
    "a numpy array or tensor, a dict or list of them (multi-input models), "
    "an (x, y) or (x, y, sample_weight) tuple, or a batched tf.data.Dataset"
)


def _is_array_like(value) -> bool:
    return isinstance(value, (np.ndarray, tf.Tensor)) or (
        hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__array__")
    )


def _to_numpy_structure(x, where: str):
    """Convert ``x`` (array, tensor, dict/list of them) into the same structure of numpy arrays."""
    if isinstance(x, dict):
        if not x:
            raise ValueError(f"The probe {where} is an empty dict; give at least one input array.")
        return {key: _to_numpy_structure(value, where) for key, value in x.items()}
    if isinstance(x, list) and x and all(_is_array_like(v) or isinstance(v, dict) for v in x):
        return [_to_numpy_structure(value, where) for value in x]
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"probe_data must be {_PROBE_TYPES}; received {type(x).__name__}: {x!r}.")
    if _is_array_like(x) or isinstance(x, (list, tuple)):
        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"probe_data must be {_PROBE_TYPES}; could not turn the {where} into an array "
                f"({error})."
            ) from None
        if array.dtype == object or array.dtype.kind in "USV":
            raise TypeError(
                f"probe_data must be numeric; the {where} has dtype {array.dtype}. "
                f"Give {_PROBE_TYPES}."
            )
        if array.ndim == 0:
            raise ValueError(
                f"The probe {where} is a scalar ({array!r}); it needs a leading batch dimension."
            )
        return array
    raise TypeError(f"probe_data must be {_PROBE_TYPES}; received {type(x).__name__}.")


def _batch_size(x) -> int:
    sizes = {int(leaf.shape[0]) for leaf in tf.nest.flatten(x)}
    if len(sizes) != 1:
        raise ValueError(
            f"All probe inputs must share the batch dimension; received sizes {sorted(sizes)}."
        )
    return sizes.pop()


def _evenly_spaced(x, count: int):
    """``count`` samples at evenly spaced indices (deterministic, spans sorted data too)."""
    total = _batch_size(x)
    if total <= count:
        return x
    # round(linspace) is strictly increasing when total > count, so no index repeats.
    index = np.round(np.linspace(0, total - 1, count)).astype(np.int64)
    return tf.nest.map_structure(lambda leaf: leaf[index], x)


def prepare_probe(probe_data, max_probe_samples: int = DEFAULT_MAX_PROBE_SAMPLES):
    """Turn ``probe_data`` into a fixed structure of numpy arrays of at most ``max_probe_samples``.

    Rules (deterministic, decided once): a tuple is ``(x, y[, sample_weight])`` as in
    ``keras.utils.unpack_x_y_sample_weight`` and only ``x`` is kept; a list of arrays or a
    dict is a multi-input ``x``; arrays with more samples than ``max_probe_samples`` are
    subsampled at evenly spaced indices (so data sorted by class still gives every class); a
    ``tf.data.Dataset`` must be batched, as for ``fit``, and its first batches are read once
    until ``max_probe_samples`` samples are collected (an infinite ``.repeat()`` is fine).

    Example:
        >>> prepare_probe((np.zeros((1000, 8)), np.zeros(1000)), 256).shape
        (256, 8)

    Args:
        probe_data: see the rules above.
        max_probe_samples: positive int cap on the number of samples.

    Returns:
        numpy array (or dict/list of arrays) with a leading batch dimension of ``n >= 1``.

    Raises:
        TypeError: for an unsupported type or non-numeric data.
        ValueError: for an empty probe, a scalar, or inputs with different batch sizes.
    """
    _check_positive_int("max_probe_samples", max_probe_samples)
    if isinstance(probe_data, tf.data.Dataset):
        batches, collected = [], 0
        for element in probe_data:
            x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
            x = tf.nest.map_structure(np.asarray, x)
            if any(leaf.ndim == 0 for leaf in tf.nest.flatten(x)):
                raise ValueError(
                    "The probe dataset yields unbatched scalars; batch it first "
                    "(dataset.batch(32)), as model.fit expects."
                )
            x = _to_numpy_structure(x, "dataset element")
            batches.append(x)
            collected += _batch_size(x)
            if collected >= max_probe_samples:
                break
        if not batches or collected == 0:
            raise ValueError(
                "The probe dataset is empty; give a dataset that yields at least one sample."
            )
        x = tf.nest.map_structure(lambda *leaves: np.concatenate(leaves, axis=0), *batches)
        x = tf.nest.map_structure(lambda leaf: leaf[:max_probe_samples], x)
    else:
        if isinstance(probe_data, tuple):
            if not probe_data:
                raise ValueError("probe_data is an empty tuple; give (x, y) or an array x.")
            probe_data, _, _ = keras.utils.unpack_x_y_sample_weight(probe_data)
        x = _to_numpy_structure(probe_data, "input")
        x = _evenly_spaced(x, max_probe_samples)
    if _batch_size(x) == 0:
        raise ValueError(
            "The probe batch is empty (0 samples); give at least one sample, ideally a few "
            f"hundred (default max_probe_samples={DEFAULT_MAX_PROBE_SAMPLES})."
        )
    return x


# ---------------------------------------------------------------------------------------
# The feature model
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """One measured layer: where its tensors sit among the feature model's outputs."""

    name: str
    layer: keras.layers.Layer
    activation: LayerActivation


def _graph_nodes(model) -> list:
    """The call nodes of a Functional/Sequential ``model``'s graph, inputs first.

    Keras keeps them in ``_nodes_by_depth`` (depth 0 = output); the order here is the one
    Keras's own ``Functional._run_through_graph`` uses, ties broken by ``model.layers`` order.
    ``_nodes_by_depth`` is the one Keras internal this module reads (present under that name
    since Keras 2 and in Keras 3.0-3.15): the public ``layer.input``/``layer.output`` only give
    a layer's *first* call, which for a sub-model is not the call inside the outer graph.
    Reading it adds nothing to the user's graph (``clone_model`` would add call nodes to every
    shared layer).
    """
    if isinstance(model, keras.Sequential):
        if not model.built or not getattr(model, "inputs", None):
            raise ValueError(
                f"Sequential model {model.name!r} is not built; call it on data, build it with "
                "an input shape, or start it with keras.Input(shape) before measuring it."
            )
        graph = keras.Model(model.inputs, model.outputs)
    else:
        graph = model
    nodes_by_depth = getattr(graph, "_nodes_by_depth", None)
    if nodes_by_depth is None:
        raise TypeError(
            f"ActivationStats needs a model built from a graph of layers (Functional or "
            f"Sequential); {model.name!r} is a subclassed {type(model).__name__} whose layer "
            "connections are only known inside call(). Rebuild it with the Functional API, or "
            "measure a Functional sub-model of it."
        )
    position = {id(layer): index for index, layer in enumerate(model.layers)}
    ordered = []
    for depth in sorted(nodes_by_depth, reverse=True):
        nodes = sorted(nodes_by_depth[depth], key=lambda n: position.get(id(n.operation), 0))
        ordered.extend(nodes)
    return ordered


def _is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and getattr(layer, "_nodes_by_depth", None) is not None
    )


def _collect(model, prefix: str, seen: set):
    """Sites and their ``(pre source, activation)`` symbolic tensors in ``model``'s graph.

    A sub-model is measured through its own feature model called symbolically on the
    sub-model's inputs in this graph, so the inner tensors become part of one flat feature
    model without adding call nodes to any of the user's layers. A layer (or sub-model)
    called several times is measured at its first call.
    """
    sites, tensors = [], []
    for node in _graph_nodes(model):
        layer = node.operation
        if isinstance(layer, keras.layers.InputLayer) or id(layer) in seen:
            continue
        seen.add(id(layer))
        if _is_graph_model(layer):
            inner_sites, inner_model = _feature_model(layer, f"{prefix}{layer.name}/", seen)
            if not inner_sites:
                continue
            inputs = node.input_tensors
            outputs = inner_model(inputs[0] if len(inputs) == 1 else list(inputs))
            sites.extend(inner_sites)
            tensors.extend(outputs if isinstance(outputs, (list, tuple)) else [outputs])
            continue
        activation = describe_activation_layer(layer)
        if activation is None:
            continue
        if len(node.input_tensors) != 1 or len(node.output_tensors) != 1:
            continue  # activations take one tensor and return one
        sites.append(_Site(prefix + layer.name, layer, activation))
        tensors.extend([node.input_tensors[0], node.output_tensors[0]])
    return sites, tensors


def _feature_model(model, prefix: str = "", seen: set | None = None):
    """``(sites, keras.Model)`` whose outputs are ``[source_1, act_1, source_2, act_2, ...]``."""
    sites, tensors = _collect(model, prefix, set() if seen is None else seen)
    if not sites:
        return sites, None
    return sites, keras.Model(model.inputs, tensors, name=f"{model.name}_activation_features")


def _linear_part(layer: keras.layers.Layer, inputs):
    """The output of a fused layer without its activation: its own call with identity.

    Runs only while tracing the probe function; ``layer.activation`` is restored in a
    ``finally`` so the model is never left changed, even if the call raises.
    """
    saved = layer.activation
    layer.activation = keras.activations.linear
    try:
        return layer(inputs)
    finally:
        layer.activation = saved


def _check_probe_matches(model, probe_x) -> None:
    """Compare the probe's shapes with the model's inputs (catches an unbatched dataset)."""
    expected = tf.nest.flatten(model.inputs)
    given = tf.nest.flatten(probe_x)
    if len(expected) != len(given):
        raise ValueError(
            f"Model {model.name!r} takes {len(expected)} input(s) but the probe has "
            f"{len(given)} array(s); give one array per model input."
        )
    for tensor, array in zip(expected, given):
        want = tuple(tensor.shape)[1:]
        if len(want) != array.ndim - 1 or any(
            w is not None and w != g for w, g in zip(want, array.shape[1:])
        ):
            raise ValueError(
                f"The probe has sample shape {tuple(array.shape[1:])} (batch shape "
                f"{tuple(array.shape)}) but model {model.name!r} expects samples of shape "
                f"{want}. If the probe is a tf.data.Dataset, batch it (dataset.batch(32))."
            )


def _histogram_slice(act):
    """The first probe samples of ``act`` holding at most ``HISTOGRAM_MAX_VALUES`` values.

    Whole samples (all units and positions), so every channel stays represented.
    """
    per_sample = int(np.prod(act.shape[1:])) if act.shape.rank > 1 else 1
    batch = act.shape[0]
    keep = max(1, HISTOGRAM_MAX_VALUES // max(per_sample, 1))
    if batch is not None and keep >= batch:
        return act
    return act[:keep]


class _ActivationProbe:
    """The compiled probe function of one model: feature model + on-device reductions."""

    def __init__(self, model, probe_x, thresholds, histograms: bool):
        if isinstance(model, keras.Sequential) and not getattr(model, "inputs", None):
            # A Sequential without keras.Input has no graph until it first sees data (fit
            # builds it inside the first train step, after on_train_begin); one call on a
            # probe sample builds it exactly as fit would.
            model(tf.nest.map_structure(lambda leaf: leaf[:1], probe_x))
        sites, feature_model = _feature_model(model)
        if not sites:
            raise ValueError(
                f"Model {model.name!r} has no layer that applies a nonlinearity (Dense/Conv with "
                "activation=..., Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax), so there "
                "is nothing for ActivationStats to measure."
            )
        self.model = model
        self.sites = sites
        self.feature_model = feature_model
        self.tanh_threshold, self.sigmoid_low, self.sigmoid_high = thresholds
        self.histograms = histograms
        _check_probe_matches(model, probe_x)
        self.probe = tf.nest.map_structure(tf.convert_to_tensor, probe_x)
        self._function = tf.function(self._compute, reduce_retracing=True)

    @property
    def layer_names(self) -> list[str]:
        return [site.name for site in self.sites]

    @property
    def activation_names(self) -> list[str]:
        return [site.activation.kind.name for site in self.sites]

    def _site_statistics(self, site: _Site, source, activation):
        kind = site.activation.kind
        pre = _linear_part(site.layer, source) if site.activation.fused else source
        pre = tf.cast(pre, tf.float32)
        act = tf.cast(activation, tf.float32)
        nan = tf.constant(math.nan, tf.float32)
        if kind.has_dead_fraction:
            # A unit is one output channel/feature; reduce over every other axis.
            rank = act.shape.rank
            unit_axis = 1 if (site.activation.channels_first and rank > 2) else rank - 1
            other_axes = [axis for axis in range(rank) if axis != unit_axis]
            unit_max = tf.reduce_max(act, axis=other_axes)
            dead = tf.reduce_mean(tf.cast(unit_max <= 0.0, tf.float32))
        else:
            dead = nan
        if kind.family == "tanh":
            saturated = tf.reduce_mean(tf.cast(tf.abs(act) > self.tanh_threshold, tf.float32))
        elif kind.family == "sigmoid":
            outside = tf.logical_or(act < self.sigmoid_low, act > self.sigmoid_high)
            saturated = tf.reduce_mean(tf.cast(outside, tf.float32))
        else:
            saturated = nan
        stats = tf.stack(
            [
                tf.reduce_mean(pre),
                tf.math.reduce_std(pre),
                tf.reduce_mean(act),
                tf.math.reduce_std(act),
                dead,
                saturated,
            ]
        )
        return stats, act

    def _compute(self, x):
        outputs = self.feature_model(x, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        from keras_init_lab.callbacks.tensorboard import uniform_bucket_counts

        rows, counts, lows, highs = [], [], [], []
        for index, site in enumerate(self.sites):
            stats, act = self._site_statistics(site, outputs[2 * index], outputs[2 * index + 1])
            rows.append(stats)
            if self.histograms:
                # One bucketing per layer: measured 4x faster on CPU than one segmented call
                # over the concatenation (which must gather per-element edges).
                fixed = _FIXED_HISTOGRAM_RANGE.get(site.activation.kind.family)
                if fixed:
                    low, high = tf.constant(fixed[0]), tf.constant(fixed[1])
                else:
                    finite = tf.where(tf.math.is_finite(act), act, tf.zeros_like(act))
                    low, high = tf.reduce_min(finite), tf.reduce_max(finite)
                    # A constant layer (all zeros when every unit is dead) keeps low == high:
                    # zero-width buckets with every count in the last one, exactly what
                    # tf.summary.histogram writes for one-value data (TensorBoard 2.21,
                    # summary_v2._buckets, when_single_value), which the plugin displays.
                counts.append(
                    uniform_bucket_counts(_histogram_slice(act), low, high, HISTOGRAM_BUCKETS)
                )
                lows.append(low)
                highs.append(high)
        result = {"stats": tf.stack(rows)}
        if self.histograms:
            result["counts"] = tf.stack(counts)
            result["low"], result["high"] = tf.stack(lows), tf.stack(highs)
        return result

    def __call__(self) -> dict[str, np.ndarray]:
        """Run the probe once; return host numpy arrays (one device-to-host transfer)."""
        return {key: value.numpy() for key, value in self._function(self.probe).items()}


# ---------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; received {name}={value!r}.")


def _check_thresholds(tanh_threshold, sigmoid_low, sigmoid_high) -> tuple[float, float, float]:
    for name, value in (
        ("tanh_threshold", tanh_threshold),
        ("sigmoid_low", sigmoid_low),
        ("sigmoid_high", sigmoid_high),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{name} must be a number in (0, 1); received {name}={value!r}.")
        if not 0.0 < float(value) < 1.0:
            raise ValueError(
                f"{name} must lie strictly between 0 and 1 (tanh and sigmoid outputs are "
                f"bounded by 1); received {name}={value!r}."
            )
    if not sigmoid_low < sigmoid_high:
        raise ValueError(
            "sigmoid_low must be below sigmoid_high (saturated means a < low or a > high); "
            f"received sigmoid_low={sigmoid_low!r}, sigmoid_high={sigmoid_high!r}."
        )
    return float(tanh_threshold), float(sigmoid_low), float(sigmoid_high)


def _check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; received {type(model).__name__}: {model!r}.")


def _record(probe: _ActivationProbe) -> dict[str, Any]:
    values = probe()["stats"]
    record: dict[str, Any] = {
        stat: values[:, column].astype(np.float64) for column, stat in enumerate(STATISTICS)
    }
    record["layers"] = probe.layer_names
    record["activations"] = probe.activation_names
    return record


def activation_statistics(
    model: keras.Model,
    x,
    tanh_threshold: float = DEFAULT_TANH_THRESHOLD,
    sigmoid_low: float = DEFAULT_SIGMOID_LOW,
    sigmoid_high: float = DEFAULT_SIGMOID_HIGH,
    max_probe_samples: int = DEFAULT_MAX_PROBE_SAMPLES,
) -> dict[str, Any]:
    """Activation statistics of ``model`` on ``x``, one record, without ``fit``.

    Formula, per layer that applies a nonlinearity ``a = f(z)`` (``z`` = pre-activation):
    ``pre_mean = mean(z)``, ``pre_std = std(z)``, ``mean = mean(a)``, ``std = std(a)``
    (population std, over all samples, positions and units);
    ``dead_fraction = (1/U) * sum_u [max over samples and positions of a_u <= 0]`` for
    ReLU-family units (``u`` = output feature, or channel of a convolution);
    ``saturation_fraction`` = share of activation *values* with ``|a| > tanh_threshold``
    (tanh family) or ``a < sigmoid_low or a > sigmoid_high`` (sigmoid family). Statistics that
    do not apply to a layer's activation are NaN.

    Example:
        >>> record = activation_statistics(model, x_test[:256])
        >>> dict(zip(record["layers"], record["dead_fraction"]))
        {'dense': 0.03, 'dense_1': 0.0, 'dense_2': nan}

    Args:
        model: a built Functional or Sequential ``keras.Model`` (sub-models are searched).
        x: probe inputs; see :func:`prepare_probe` for what is accepted.
        tanh_threshold: ``|a|`` above which a tanh value is saturated, in (0, 1).
        sigmoid_low: sigmoid values below this are saturated, in (0, 1).
        sigmoid_high: sigmoid values above this are saturated, in (sigmoid_low, 1).
        max_probe_samples: cap on the samples taken from ``x``.

    Returns:
        ``{stat: np.ndarray (n_layers,) for stat in STATISTICS}`` plus ``"layers"`` (names,
        nested ones as ``"submodel/layer"``) and ``"activations"`` (activation name per layer).

    Raises:
        TypeError: if ``model`` is not a graph ``keras.Model`` or ``x`` has an unsupported type.
        ValueError: for an empty probe, bad thresholds, or a model without nonlinearities.

    Reference:
        Glorot & Bengio 2010, https://proceedings.mlr.press/v9/glorot10a.html.
    """
    _check_model(model)
    thresholds = _check_thresholds(tanh_threshold, sigmoid_low, sigmoid_high)
    probe_x = prepare_probe(x, max_probe_samples)
    return _record(_ActivationProbe(model, probe_x, thresholds, histograms=False))


class ActivationStats(keras.callbacks.Callback):
    """Record per-layer activation statistics on a fixed probe batch during ``fit``.

    Formula: as in :func:`activation_statistics` (dead fraction counts *units*, a unit being
    an output feature or a convolution channel over all positions and samples; saturation
    fraction counts *values*; see the module docstring for why).

    Records at train begin (epoch 0) and after every ``every_n_epochs``-th epoch (epoch
    ``e + 1`` after the ``e``-th, counting from 0). Epochs are counted by the callback across
    ``fit`` calls, so a second ``fit`` continues the numbering (a train-begin record is skipped
    when the same epoch is already recorded). The probe batch is fixed in ``__init__``; the
    feature model and its compiled function are built on first use and reused across epochs
    and ``fit`` calls of the same model (rebuilt only if the callback is attached to another
    model). One record costs one forward pass of the probe and one small device-to-host copy.

    Example:
        >>> stats = ActivationStats(x_train[:256], log_dir="logs/run1")
        >>> model.fit(x_train, y_train, epochs=10, callbacks=[stats])
        >>> stats.history["per_layer"]["dead_fraction"][-1]     # last record, per layer
        >>> keras_init_lab.plots.plot_activation_stats(stats.history, "activations.png")

    Args:
        probe_data: the probe inputs: array, dict/list of arrays, ``(x, y[, w])`` tuple, or a
            batched ``tf.data.Dataset`` (see :func:`prepare_probe`).
        every_n_epochs: record after every ``every_n_epochs`` epochs (positive int).
        log_dir: optional TensorBoard folder; scalars ``<layer>/activation/<stat>`` and
            histograms ``<layer>/activation/values`` go to its ``activations`` run
            (``log_dir/activations``) at step = epoch, with a custom-scalars layout that
            puts every layer's std, dead and saturation fraction on one chart each.
            Histogram edges are fixed for tanh ([-1, 1]) and sigmoid ([0, 1]) and the record's
            min..max otherwise, 30 buckets, counted on the device over the first probe
            samples holding at most ``HISTOGRAM_MAX_VALUES`` (2**18) values per layer.
        tanh_threshold: ``|a|`` above which a tanh value counts as saturated (default 0.97).
        sigmoid_low, sigmoid_high: sigmoid saturation band (defaults 0.03 and 0.97).
        max_probe_samples: cap on the probe size (default 256).

    Attributes:
        history: ``{"epoch": int64 (n_records,), "layers": [str], "activations": [str],
            "per_layer": {stat: float64 (n_records, n_layers)}}``.

    Raises:
        TypeError / ValueError: on a bad probe, thresholds, ``every_n_epochs`` or ``log_dir``.

    Reference:
        Glorot & Bengio 2010, https://proceedings.mlr.press/v9/glorot10a.html.
    """

    def __init__(
        self,
        probe_data,
        every_n_epochs: int = 1,
        log_dir: str | os.PathLike | None = None,
        tanh_threshold: float = DEFAULT_TANH_THRESHOLD,
        sigmoid_low: float = DEFAULT_SIGMOID_LOW,
        sigmoid_high: float = DEFAULT_SIGMOID_HIGH,
        max_probe_samples: int = DEFAULT_MAX_PROBE_SAMPLES,
    ):
        super().__init__()
        _check_positive_int("every_n_epochs", every_n_epochs)
        _check_positive_int("max_probe_samples", max_probe_samples)
        self.thresholds = _check_thresholds(tanh_threshold, sigmoid_low, sigmoid_high)
        self.tanh_threshold, self.sigmoid_low, self.sigmoid_high = self.thresholds
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(
                f"log_dir must be None or a path (str or os.PathLike); received log_dir={log_dir!r}."
            )
        if log_dir is not None and not str(log_dir):
            raise ValueError(
                "log_dir is an empty path; pass a folder such as 'logs/run1', or None for no "
                "TensorBoard output."
            )
        self.every_n_epochs = int(every_n_epochs)
        self.max_probe_samples = int(max_probe_samples)
        self.log_dir = log_dir
        self.probe_x = prepare_probe(probe_data, max_probe_samples)
        self._probe: _ActivationProbe | None = None
        self._writers = None
        self._epochs_done = 0
        self._epochs: list[int] = []
        self._rows: list[np.ndarray] = []
        self._layers: list[str] = []
        self._activations: list[str] = []

    # -- history ---------------------------------------------------------------------------

    @property
    def history(self) -> dict[str, Any]:
        """Recorded statistics as numpy arrays (see the class docstring for the layout)."""
        n_layers = len(self._layers)
        table = (
            np.stack(self._rows).astype(np.float64)
            if self._rows
            else np.zeros((0, n_layers, len(STATISTICS)))
        )
        return {
            "epoch": np.asarray(self._epochs, dtype=np.int64),
            "layers": list(self._layers),
            "activations": list(self._activations),
            "per_layer": {stat: table[:, :, column] for column, stat in enumerate(STATISTICS)},
        }

    # -- recording -------------------------------------------------------------------------

    def _probe_for_model(self) -> _ActivationProbe:
        if self._probe is None or self._probe.model is not self.model:
            probe = _ActivationProbe(
                self.model, self.probe_x, self.thresholds, histograms=self.log_dir is not None
            )
            if self._rows and probe.layer_names != self._layers:
                raise ValueError(
                    "ActivationStats was attached to a model with different layers "
                    f"({probe.layer_names}) than the one it recorded ({self._layers}); "
                    "use one callback per model."
                )
            self._probe = probe
            self._layers = probe.layer_names
            self._activations = probe.activation_names
        return self._probe

    def record(self, epoch: int) -> None:
        """Measure the model now and store the record under ``epoch`` (and in TensorBoard)."""
        probe = self._probe_for_model()
        result = probe()
        self._epochs.append(int(epoch))
        self._rows.append(result["stats"].astype(np.float64))
        if self.log_dir is not None:
            self._write(epoch, result)

    def _write(self, epoch: int, result: dict[str, np.ndarray]) -> None:
        from keras_init_lab.callbacks.tensorboard import SummaryWriters

        if self._writers is None:
            self._writers = SummaryWriters(self.log_dir)
            self._writers.custom_scalars_layout(
                {
                    "activations per layer": {
                        "activation std": [r".*/activation/std$"],
                        "dead fraction": [r".*/activation/dead_fraction$"],
                        "saturation fraction": [r".*/activation/saturation_fraction$"],
                    }
                },
                run=TENSORBOARD_RUN,
            )
        stats = result["stats"]
        scalars = {}
        for index, site in enumerate(self._probe.sites):
            kind = site.activation.kind
            for column, stat in enumerate(STATISTICS):
                if (stat == "dead_fraction" and not kind.has_dead_fraction) or (
                    stat == "saturation_fraction" and not kind.has_saturation_fraction
                ):
                    continue  # does not apply to this activation (NaN in the history)
                scalars[f"{site.name}/activation/{stat}"] = stats[index, column]
        edges = np.linspace(result["low"], result["high"], HISTOGRAM_BUCKETS + 1, axis=1)
        histograms = {
            f"{site.name}/activation/values": (
                edges[index, :-1], edges[index, 1:], result["counts"][index]
            )
            for index, site in enumerate(self._probe.sites)
        }
        # One compiled call for every scalar and histogram of the record (eager tf.summary
        # calls cost ~0.6 ms each here, ~20 ms for a 4-layer record).
        self._writers.write_batch(
            epoch, scalars=scalars, histograms=histograms, run=TENSORBOARD_RUN
        )
        self._writers.flush()  # a record is a few kB; flushing keeps it if training dies

    # -- Keras hooks -----------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not self._epochs or self._epochs[-1] != self._epochs_done:
            self.record(self._epochs_done)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done += 1
        if self._epochs_done % self.every_n_epochs == 0:
            self.record(self._epochs_done)

    def on_train_end(self, logs=None):
        if self._writers is not None:
            self._writers.close()
