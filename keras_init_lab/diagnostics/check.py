"""``check_model``: find initializer/activation mistakes in a Keras model before training it.

Assembled from small parts: :func:`~keras_init_lab._layers.walk_layers` flattens the model,
:mod:`.describe` reads each Dense/Conv layer, :mod:`.predict` predicts the signal layer by
layer, each rule of :mod:`.rules` reads both, and :func:`.report.group_findings` merges
identical findings over layers.

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((20,))]
    ...     + [keras.layers.Dense(64, activation="relu") for _ in range(8)]   # Glorot default
    ...     + [keras.layers.Dense(1, activation="sigmoid")])
    >>> result = check_model(model)
    >>> result.has_errors, len(result.warnings) > 0
    (False, True)

Reference:
    S. Prince, *Understanding Deep Learning* (2023), sec. 7.5, https://udlbook.github.io/udlbook/;
    Glorot & Bengio 2010, http://proceedings.mlr.press/v9/glorot10a.html;
    He et al. 2015, https://arxiv.org/abs/1502.01852.
"""

from __future__ import annotations

import keras

from keras_init_lab._layers import walk_layers
from keras_init_lab._validation import check_number
from keras_init_lab.diagnostics.describe import describe_layers
from keras_init_lab.diagnostics.predict import predict_signal
from keras_init_lab.diagnostics.report import (
    SEVERITIES,
    VARIANCE_BAND,
    ModelCheck,
    group_findings,
)
from keras_init_lab.diagnostics.rules import RULES, variance_band_rule

__all__ = ["check_model"]


def _check_band(band) -> tuple[float, float]:
    hint = f"band must be (low, high) with 0 < low < high; default {VARIANCE_BAND}."
    if isinstance(band, (str, bytes)) or not hasattr(band, "__len__"):
        raise TypeError(f"band must be (low, high) with 0 < low < high; received band={band!r}.")
    if len(band) != 2:
        raise ValueError(f"band must be (low, high) with 0 < low < high; received band={band!r}.")
    low = check_number("band[0]", band[0], positive=True, hint=hint)
    high = check_number("band[1]", band[1], positive=True, hint=hint)
    if not low < high:
        raise ValueError(
            f"band must be (low, high) with 0 < low < high; received band={band!r}. "
            f"Default: {VARIANCE_BAND}."
        )
    return low, high


def check_model(model, band: tuple[float, float] = VARIANCE_BAND) -> ModelCheck:
    """Check every Dense/Conv layer's kernel initializer and activation; predict the signal.

    Formula (the prediction): with standardized inputs ``E[x^2] = 1``, each Dense/Conv layer
    ``k`` gets ``Var(f_k) = fan_in_k * E[W_k^2] * E[h_{k-1}^2]`` (lecture 002, initialization;
    Prince UDL sec. 7.5) and hands on ``E[h_k^2] = E[a(f_k)^2]`` for ``f_k ~ N(0, Var(f_k))``
    (ReLU: ``Var/2``; leaky ReLU: ``Var (1 + alpha^2) / 2``; others by
    :func:`keras_init_lab.fans.gaussian_expectation`). Normalization resets the second moment
    to 1, ``Add`` sums it, ``Average`` divides the sum by ``n^2``. Biases are assumed zero.

    Rules (severity, rule id), one function each in :mod:`keras_init_lab.diagnostics.rules`:
    zero/constant kernel in a hidden layer of more than one unit (error, ``symmetric-init``);
    ReLU-family activation after Glorot in an unnormalized hidden stack whose predicted
    variance falls by more than ``SIGNAL_DROP`` (``DEEP_STACK_LAYERS`` layers when not built)
    (warning, ``relu-glorot``: the variance halves per layer; dead units are not the scale's
    doing); tanh/sigmoid with He
    (warning, ``saturating-he``, with the predicted growth, saturated fraction and backward
    gain); sigmoid in hidden layers (``sigmoid-deep``, a warning when the predicted gradient
    norm falls by more than ``GRADIENT_DROP``); softmax in a hidden layer
    (``hidden-softmax``); leaky ReLU with He for another slope (``leaky-gain``); a zero output
    kernel (info, ``zero-output-kernel``); the first layer whose predicted pre-activation
    variance leaves ``band`` (warning, ``variance-band``). Identical findings over several
    layers are merged into one naming the range.

    The check reads the *initializers*, so for a trained model it describes how it was
    initialized, not its current weights.

    Example:
        >>> result = check_model(model)
        >>> [f.rule for f in result.errors]
        ['symmetric-init']
        >>> print(result)

    Args:
        model: a Keras model (Sequential, Functional or subclassed; nested models are walked).
            Build it (give an ``Input``) for the prediction; an unbuilt model still gets the
            pairing rules.
        band: ``(low, high)`` accepted range of the predicted pre-activation variance.

    Returns:
        A :class:`~keras_init_lab.diagnostics.report.ModelCheck` (findings, per-layer
        predictions, readable ``str``).

    Raises:
        TypeError: if ``model`` is not a Keras model or layer, or ``band`` not a pair.
        ValueError: for a ``band`` whose values are not ``0 < low < high``.
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"check_model needs a Keras model; received {type(model).__name__}. To check a "
            "saved file use keras.saving.load_model(path) or `keras-init-lab check PATH.keras`."
        )
    band = _check_band(band)
    flat = walk_layers(model) if hasattr(model, "layers") else [model]
    entries = describe_layers(model, flat)
    predictions = predict_signal(model, flat, entries, band)
    findings = []
    for rule in RULES:
        findings.extend(rule(entries, predictions))
    findings.extend(variance_band_rule(entries, predictions, band))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings = sorted(group_findings(findings), key=lambda f: order[f.severity])
    return ModelCheck(model.name, findings, predictions, band)
