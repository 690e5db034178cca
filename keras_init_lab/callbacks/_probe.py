"""The fixed probe batch and the one multi-output feature model that reads it.

Activation statistics are comparable across epochs only if every record sees the same
inputs, so the probe is chosen once (:func:`prepare_probe`, deterministic: evenly spaced
samples of an array, the first samples of a dataset) and goes through **one multi-output
feature model** built once per model (:class:`FeatureProbe`): for every layer that applies a
nonlinearity it outputs the layer's input and output, so epoch 3 and epoch 30 are measured
on the same inputs and differ only because the weights changed.

Pre-activations of fused layers (``Dense(64, activation="relu")``): the layer's own ``call``
is run on its input with ``activation`` switched to the identity for the duration of one
trace (``keras_init_lab._keras_compat.patched``, restored also when the call raises). This
reuses the layer's own kernel, bias, convolution, LoRA and quantization code instead of
re-implementing ``Dense`` and every ``Conv`` flavour, builds no twin layer (no second copy
of the weights) and never leaves the model changed. Standalone activation layers need
nothing of the kind: their input *is* the pre-activation.

The graph is read from the model's nodes (``keras_init_lab._keras_compat.nodes_by_depth``):
the public ``layer.input``/``layer.output`` only give a layer's *first* call, which for a
sub-model is not the call inside the outer graph; reading the nodes adds nothing to the
user's graph (``clone_model`` would add call nodes to every shared layer).

Example:
    >>> probe = FeatureProbe(model, prepare_probe(x_train, 256))
    >>> [site.name for site in probe.sites]
    ['dense', 'dense_1']

Reference:
    Glorot & Bengio 2010 (activation statistics per layer over training, on fixed data),
    https://proceedings.mlr.press/v9/glorot10a.html.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from keras_init_lab import _keras_compat
from keras_init_lab._backend import loaded_tensorflow
from keras_init_lab._validation import check_int
from keras_init_lab.callbacks._units import LayerActivation, describe_activation_layer

__all__ = ["DEFAULT_MAX_PROBE_SAMPLES", "FeatureProbe", "Site", "prepare_probe"]

#: Default probe size: "a few hundred samples". 256 samples make the dead-unit test
#: meaningful (a healthy ReLU unit with P(z > 0) = 1/2 looks dead on 256 samples with
#: probability 2**-256) while one forward pass stays far below an epoch's cost.
DEFAULT_MAX_PROBE_SAMPLES = 256

_PROBE_TYPES = (
    "a numpy array or tensor, a dict or list of them (multi-input models), "
    "an (x, y) or (x, y, sample_weight) tuple, or a batched tf.data.Dataset"
)


def _is_array_like(value) -> bool:
    tf = loaded_tensorflow()  # a TensorFlow tensor exists only where TensorFlow is loaded
    return (
        isinstance(value, np.ndarray)
        or (tf is not None and isinstance(value, tf.Tensor))
        or (hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__array__"))
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
    sizes = {int(leaf.shape[0]) for leaf in keras.tree.flatten(x)}
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
    return keras.tree.map_structure(lambda leaf: leaf[index], x)


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
    max_probe_samples = check_int("max_probe_samples", max_probe_samples, minimum=1)
    tf = loaded_tensorflow()  # a tf.data.Dataset exists only where TensorFlow is loaded
    if tf is not None and isinstance(probe_data, tf.data.Dataset):
        batches, collected = [], 0
        for element in probe_data:
            x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
            x = keras.tree.map_structure(np.asarray, x)
            if any(leaf.ndim == 0 for leaf in keras.tree.flatten(x)):
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
        x = keras.tree.map_structure(lambda *leaves: np.concatenate(leaves, axis=0), *batches)
        x = keras.tree.map_structure(lambda leaf: leaf[:max_probe_samples], x)
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
class Site:
    """One measured layer.

    Attributes:
        name: the layer's name, nested ones as ``"submodel/layer"``.
        layer: the layer object.
        activation: how it applies its nonlinearity (:class:`LayerActivation`).
    """

    name: str
    layer: keras.layers.Layer
    activation: LayerActivation


def _defined_inputs(model):
    """``model.inputs``, or None while a Sequential has none (Keras 3.3 raises ValueError)."""
    try:
        return model.inputs
    except (AttributeError, ValueError):
        return None


def _graph(model):
    """The Functional graph of ``model`` (a Sequential is viewed through one), or TypeError."""
    if isinstance(model, keras.Sequential):
        if not model.built or not _defined_inputs(model):
            raise ValueError(
                f"Sequential model {model.name!r} is not built; call it on data, build it with "
                "an input shape, or start it with keras.Input(shape) before measuring it."
            )
        return keras.Model(model.inputs, model.outputs)
    return model


def _graph_nodes(model) -> list:
    """The call nodes of a Functional/Sequential ``model``'s graph, inputs first.

    The order is the one Keras's own ``Functional._run_through_graph`` uses (deepest depth
    first), ties broken by ``model.layers`` order.
    """
    nodes_by_depth = _keras_compat.nodes_by_depth(_graph(model))
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
        isinstance(layer, keras.Model) and _keras_compat.nodes_by_depth(layer) is not None
    )


def _collect(model, prefix: str, seen: set):
    """Sites and their ``(layer input, layer output)`` symbolic tensors in ``model``'s graph.

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
        sites.append(Site(prefix + layer.name, layer, activation))
        tensors.extend([node.input_tensors[0], node.output_tensors[0]])
    return sites, tensors


def _feature_model(model, prefix: str = "", seen: set | None = None):
    """``(sites, keras.Model)`` whose outputs are ``[input_1, output_1, input_2, ...]``."""
    sites, tensors = _collect(model, prefix, set() if seen is None else seen)
    if not sites:
        return sites, None
    return sites, keras.Model(model.inputs, tensors, name=f"{model.name}_activation_features")


def linear_part(layer: keras.layers.Layer, inputs):
    """The output of a fused layer without its activation: its own call with the identity.

    Formula: ``z = layer.call(x)`` with ``layer.activation = keras.activations.linear`` for
    the duration of the call (restored afterwards, also when the call raises).

    Example:
        >>> dense = keras.layers.Dense(3, activation="relu")
        >>> z = linear_part(dense, x)          # x @ kernel + bias, negative values kept

    Args:
        layer: a ``Dense``/``Conv``-like layer that applies ``self.activation`` last.
        inputs: the layer's input tensor.

    Returns:
        The pre-activation tensor.
    """
    with _keras_compat.patched(layer, "activation", keras.activations.linear):
        return layer(inputs)


def _check_probe_matches(model, probe_x) -> None:
    """Compare the probe's shapes with the model's inputs (catches an unbatched dataset)."""
    expected = keras.tree.flatten(model.inputs)
    given = keras.tree.flatten(probe_x)
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


class FeatureProbe:
    """A model's measured layers, its feature model, and the fixed probe batch as tensors.

    Built once per model: finds every layer that applies a nonlinearity (nested Functional
    and Sequential models included, in forward order), builds one ``keras.Model`` whose
    outputs are each such layer's input and output, and converts the probe to tensors.
    Calling :meth:`pairs` (inside a ``tf.function`` on TensorFlow, eagerly on the other
    backends) gives every site's pre-activation and activation; the statistics are computed
    by the caller.

    Example:
        >>> probe = FeatureProbe(model, prepare_probe(x_test, 256))
        >>> pre, act = probe.pairs(probe.probe)[0]

    Args:
        model: a Functional or Sequential ``keras.Model`` (a Sequential without
            ``keras.Input`` is built by one call on a probe sample, as ``fit`` would).
        probe_x: the probe batch from :func:`prepare_probe`.

    Raises:
        TypeError: for a subclassed model without a graph of layers.
        ValueError: for a model without nonlinearities or a probe of the wrong shape.
    """

    def __init__(self, model: keras.Model, probe_x):
        if isinstance(model, keras.Sequential) and not _defined_inputs(model):
            # A Sequential without keras.Input has no graph until it first sees data (fit
            # builds it inside the first train step, after on_train_begin); one call on a
            # probe sample builds it exactly as fit would.
            model(keras.tree.map_structure(lambda leaf: leaf[:1], probe_x))
        sites, feature_model = _feature_model(model)
        if not sites:
            raise ValueError(
                f"Model {model.name!r} has no layer that applies a nonlinearity (Dense/Conv with "
                "activation=..., Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax), so there "
                "is nothing for ActivationStats to measure."
            )
        _check_probe_matches(model, probe_x)
        self.model = model
        self.sites: list[Site] = sites
        self.feature_model = feature_model
        self.probe = keras.tree.map_structure(keras.ops.convert_to_tensor, probe_x)

    @property
    def layer_names(self) -> list[str]:
        """Names of the measured layers, in forward order."""
        return [site.name for site in self.sites]

    @property
    def activation_names(self) -> list[str]:
        """Activation name of each measured layer."""
        return [site.activation.kind.name for site in self.sites]

    def pairs(self, x) -> list[tuple]:
        """``[(pre-activation, activation), ...]`` per site, as float32 tensors.

        Traced inside a ``tf.function`` on TensorFlow (the activation switch of fused layers
        happens at trace time only), run eagerly elsewhere (the switch then lasts one call).
        Inference mode (``training=False``).
        """
        outputs = self.feature_model(x, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        result = []
        for index, site in enumerate(self.sites):
            source, activation = outputs[2 * index], outputs[2 * index + 1]
            pre = linear_part(site.layer, source) if site.activation.fused else source
            result.append((keras.ops.cast(pre, "float32"), keras.ops.cast(activation, "float32")))
        return result
