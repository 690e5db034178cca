"""Predict the forward signal (and the backward gain) layer by layer, from the configuration.

Formula (lecture 002, initialization; Prince, *Understanding Deep Learning*, sec. 7.5): with
standardized inputs ``E[x^2] = 1``, a Dense/Conv layer ``k`` gets the pre-activation variance
``Var(f_k) = fan_in_k * E[W_k^2] * E[h_{k-1}^2]`` and hands on ``E[h_k^2] = E[a(f_k)^2]`` with
``f_k ~ N(0, Var(f_k))``. On the way back each layer multiplies the gradient's second moment by
``fan_out_k * E[W_k^2] * E[a'(f_k)^2]``. Normalization resets ``E[h^2]`` to 1; ``Add`` sums
the branches' second moments (independent branches), ``Average`` divides that sum by ``n^2``,
``Multiply`` multiplies them, ``Concatenate`` averages them; other layers pass it on.

Example:
    >>> second_moment_after(ActivationInfo("relu", "relu", None), 2.0, None)
    1.0
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_init_lab import _keras_compat
from keras_init_lab.diagnostics.describe import (
    ACTIVATION_LAYERS,
    NORMALIZATION_LAYERS,
    ActivationInfo,
    LayerEntry,
    describe_activation,
    kernel_shape,
)
from keras_init_lab.diagnostics.report import LayerPrediction
from keras_init_lab.fans import compute_fans, gaussian_expectation

__all__ = [
    "INPUT_SECOND_MOMENT",
    "backward_gain",
    "merge_second_moment",
    "predict_signal",
    "second_moment_after",
]

#: Second moment of the model's inputs assumed by the prediction: standardized features
#: (``x' = (x - mu) / sigma``, lecture 004's z-score), so ``E[x^2] = 1``.
INPUT_SECOND_MOMENT = 1.0

#: Rows of the fixed Gaussian sample that estimates ``E[softmax(f)^2]`` (softmax is not
#: elementwise): 512 rows give the mean of the squared probabilities to about 1% relative.
_SOFTMAX_SAMPLES = 512


def second_moment_after(act: ActivationInfo, variance: float | None, units: int | None):
    """``E[a(f)^2]`` for ``f ~ N(0, variance)`` (per unit; softmax over ``units`` units).

    ReLU-family: exact ``variance (1 + alpha^2) / 2``; softmax: a fixed Gaussian sample;
    others: :func:`keras_init_lab.fans.gaussian_expectation` of ``a(f)^2``.
    """
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
        n_units = max(int(units or 10), 2)
        z = np.random.default_rng(0).normal(size=(_SOFTMAX_SAMPLES, n_units))
        return float(np.mean(act.function(z * math.sqrt(variance)) ** 2))
    return gaussian_expectation(lambda f: act.function(f) ** 2, std=math.sqrt(variance))


def backward_gain(act: ActivationInfo, variance: float | None, fan_out, weight_moment):
    """``fan_out * E[W^2] * E[a'(f)^2]`` for ``f ~ N(0, variance)``; None when unknown."""
    if None in (variance, fan_out, weight_moment) or not math.isfinite(variance):
        return None
    if act.family == "linear":
        slope_moment = 1.0
    elif act.name in ("relu", "leaky_relu", "prelu") and act.family == "relu":
        slope_moment = (1.0 + act.negative_slope**2) / 2.0
    elif act.derivative is None or act.family == "softmax":
        return None
    else:
        slope_moment = gaussian_expectation(
            lambda f: act.derivative(f) ** 2, std=math.sqrt(variance)
        )
    return float(fan_out * weight_moment * slope_moment)


def merge_second_moment(layer, moments: list) -> float | None:
    """``E[h^2]`` after a merge layer of independent zero-mean inputs with these moments."""
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


def _predict_kernel_layer(entry: LayerEntry, m_in, band) -> tuple[LayerPrediction, object]:
    layer = entry.layer
    shape = kernel_shape(layer)
    fan_in = fan_out = weight_moment = variance = None
    if shape is not None:
        fan_in, fan_out = compute_fans(shape)
        weight_moment = entry.init.second_moment(shape)
    if weight_moment is not None and m_in is not None:
        # Also right per unit for a constant kernel c: E[(c sum x_j)^2] = c^2 sum E[x_j^2]
        # for independent zero-mean inputs (the units are then all identical).
        variance = fan_in * weight_moment * m_in
    fused = getattr(layer, "activation", None)
    fused_act = describe_activation(fused) if fused is not None else None
    if fused_act is not None and fused_act.family != "linear":
        out = second_moment_after(fused_act, variance, entry.units)
    else:
        out = variance
    low, high = band
    prediction = LayerPrediction(
        layer=layer.name,
        layer_type=type(layer).__name__,
        initializer=entry.init.label,
        activation=entry.act.name,
        fan_in=fan_in,
        fan_out=fan_out,
        weight_variance=weight_moment,
        input_second_moment=m_in,
        pre_activation_variance=variance,
        in_band=None if variance is None else bool(low <= variance <= high),
        backward_gain=backward_gain(entry.act, variance, fan_out, weight_moment),
    )
    return prediction, out


def predict_signal(model, flat: list, entries: list[LayerEntry], band) -> list[LayerPrediction]:
    """Propagate ``E[h^2]`` through the graph (or the layer order); one prediction per entry.

    Args:
        model: the model (its top-level layers tell a model input from a nested one).
        flat: every layer, nested models expanded, in forward order.
        entries: the Dense/Conv layers of ``flat``, described.
        band: ``(low, high)`` accepted pre-activation variance.

    Returns:
        The :class:`LayerPrediction` of each entry, in the order of ``entries``.
    """
    by_layer = {id(e.layer): e for e in entries}
    top_level = {id(layer) for layer in getattr(model, "layers", [])}
    state: dict[int, float | None] = {}  # id(KerasTensor) -> E[h^2]
    previous: float | None = INPUT_SECOND_MOMENT
    predictions = {}
    for layer in flat:
        nodes = _keras_compat.inbound_nodes(layer)
        node = nodes[0] if nodes else None
        inputs = list(getattr(node, "input_tensors", []) or []) if node is not None else []
        if inputs:
            fallback = INPUT_SECOND_MOMENT if not state else previous
            moments = [state.get(id(t), fallback) for t in inputs]
        else:
            moments = [previous]
        if isinstance(layer, keras.layers.InputLayer):
            # A model input; the input layer of a nested model passes the outer signal on.
            out = INPUT_SECOND_MOMENT if id(layer) in top_level else previous
        elif id(layer) in by_layer:
            prediction, out = _predict_kernel_layer(by_layer[id(layer)], moments[0], band)
            predictions[id(layer)] = prediction
        elif isinstance(layer, NORMALIZATION_LAYERS):
            out = 1.0
        elif isinstance(layer, ACTIVATION_LAYERS):
            out = second_moment_after(describe_activation(layer), moments[0], None)
        else:
            out = merge_second_moment(layer, moments)
        outputs = list(getattr(node, "output_tensors", []) or []) if node is not None else []
        for tensor in outputs:
            state[id(tensor)] = out
        previous = out
    return [predictions[id(e.layer)] for e in entries]
