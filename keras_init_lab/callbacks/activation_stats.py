"""Dead and saturated units: activation statistics on a fixed probe batch.

What is measured: for every layer that applies a nonlinearity, the mean and standard
deviation of its pre-activations ``z`` and activations ``a = f(z)``, the **dead fraction**
(ReLU-family units that never output a positive value on the probe batch) and the
**saturation fraction** (tanh values with ``|a| > 0.97``, sigmoid values with ``a < 0.03`` or
``a > 0.97``). When: on an injected epoch schedule, ``EveryEpochs(n)`` (once before training,
epoch 0, and after every ``n``-th epoch). How it is shown: ``callback.history`` (plain
numpy arrays for :func:`keras_init_lab.plots.plot_activation_stats`) and, with a ``log_dir``,
TensorBoard scalars and histograms written through :mod:`keras_init_lab.callbacks.tensorboard`.

This module only computes. Which layers are measured and how their activation is recognised
(by function object, never by config string) lives in ``callbacks._units``; the fixed probe
batch and the one multi-output feature model that reads it live in ``callbacks._probe``;
counting epochs and fits, and asking the schedule, lives in ``callbacks._scheduled``.

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
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_init_lab import _tags
from keras_init_lab._backend import tensorflow as tf  # imported at first use (TensorFlow only)
from keras_init_lab._event_writer import EventWriters
from keras_init_lab._validation import check_int, check_log_dir, check_number
from keras_init_lab.callbacks._chief import writes_files
from keras_init_lab.callbacks._probe import (
    DEFAULT_MAX_PROBE_SAMPLES,
    FeatureProbe,
    Site,
    prepare_probe,
)
from keras_init_lab.callbacks._scheduled import EveryEpochs, ScheduledCallback, resolve_schedule
from keras_init_lab.callbacks._units import (
    ActivationKind,
    LayerActivation,
    classify_activation,
    describe_activation_layer,
)

__all__ = [
    "DEFAULT_MAX_PROBE_SAMPLES",
    "DEFAULT_SIGMOID_HIGH",
    "DEFAULT_SIGMOID_LOW",
    "DEFAULT_TANH_THRESHOLD",
    "EPOCH_DESCRIPTION",
    "HISTOGRAM_BUCKETS",
    "HISTOGRAM_MAX_VALUES",
    "STATISTICS",
    "TAG_DESCRIPTIONS",
    "TENSORBOARD_RUN",
    "ActivationKind",
    "ActivationStats",
    "LayerActivation",
    "activation_statistics",
    "classify_activation",
    "describe_activation_layer",
    "prepare_probe",
    "tensorboard_tag",
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

#: Buckets per activation histogram: TensorBoard's own default (``DEFAULT_BUCKET_COUNT`` in
#: ``tensorboard/plugins/histogram/summary_v2.py``).
HISTOGRAM_BUCKETS = 30

#: Values bucketed per layer and record. The statistics use every value; the picture needs
#: fewer: with 2**18 values a bucket holding a share p of the mass is estimated with relative
#: standard error sqrt((1 - p) / (p * 2**18)), below 2% for every p >= 1e-2, while bucketing
#: all values of a convolutional probe (millions) would cost as much as the rest of a record.
#: A 256-image probe through a 28x28x16 conv (12,544 values per image) is histogrammed on its
#: first 20 images.
HISTOGRAM_MAX_VALUES = 2**18

#: Run (subfolder of ``log_dir``) that receives this callback's events. Its own run, not
#: ``train``: TensorBoard's custom-scalars plugin reads a single layout event per run
#: (``layout_impl`` in ``custom_scalars_plugin.py``, ``downsample=1``) and merges across
#: runs, so sharing ``train`` with GradientStats would hide one of the two layouts.
TENSORBOARD_RUN = "activations"

#: Description of the ``epoch`` scalar written beside every record.
EPOCH_DESCRIPTION = (
    "Epochs finished at this global step. The activation statistics are written at global "
    "training steps, the x axis of the gradient statistics, so that both line up; this "
    "scalar tells which epoch a step belongs to."
)

#: Families whose output range is bounded get fixed histogram edges (comparable across
#: epochs); the others use the record's own min..max, as ``tf.summary.histogram`` does.
_FIXED_HISTOGRAM_RANGE = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}

#: What each TensorBoard tag holds and how to read it (shown by TensorBoard as the tag's
#: description). ``{tanh}``, ``{low}``, ``{high}`` are the callback's thresholds.
TAG_DESCRIPTIONS = {
    "pre_mean": (
        "Mean of the pre-activations z = W x + b of this layer (before the nonlinearity) over "
        "the fixed probe batch. Read: near 0 is the usual start; a drift far from 0 pushes the "
        "units to one side of the nonlinearity (ReLU units off, tanh/sigmoid units into a tail)."
    ),
    "pre_std": (
        "Standard deviation of the pre-activations z over the probe batch (all samples, "
        "positions and units). Read: shrinking layer after layer means the forward signal "
        "vanishes; for tanh/sigmoid a value well above ~2 puts many inputs in the flat tails."
    ),
    "mean": (
        "Mean of the activations a = f(z) over the probe batch. Read: ReLU outputs have a "
        "positive mean (about 0.4 std(z) for centred z); 0 exactly for a ReLU layer means every "
        "unit is dead."
    ),
    "std": (
        "Standard deviation of the activations a = f(z) over the probe batch. Read: similar "
        "values from the first to the last layer mean the initialization preserves the signal; "
        "a steady decrease or increase with depth is a vanishing or exploding forward signal."
    ),
    "dead_fraction": (
        "Share of this layer's units (output features, or channels of a convolution) whose "
        "activation is never > 0 on any probe sample. Read: 0 is healthy; a dead ReLU unit gets "
        "no gradient from any sample, so a curve that rises during training means units die "
        "and do not come back (a learning-rate blow-up that drives weights or biases negative "
        "is the usual cause). At initialization the share grows with depth and follows the "
        "signs of the drawn weights; with zero biases the initializer's scale does not change "
        "it (He and Glorot on the same draws have the same dead units), a nonzero bias does, "
        "and BatchNorm before the activation removes it. A leaky ReLU or ELU unit counted "
        "here is off, not dead: it still passes its negative-side slope."
    ),
    "saturation_fraction": (
        "Share of activation values in the flat tails: |a| > {tanh} for tanh-like units, "
        "a < {low} or a > {high} for sigmoid-like units, where the local slope is below about "
        "6% (tanh) or 12% (sigmoid) of its maximum. Read: that share of the values passes "
        "almost no gradient back; above ~0.5 the layer is mostly saturated."
    ),
    "values": (
        "Histogram of the activations a = f(z) on the first probe samples (at most "
        f"{HISTOGRAM_MAX_VALUES} values), {HISTOGRAM_BUCKETS} equal buckets on [-1, 1] for "
        "tanh, [0, 1] for sigmoid, else the record's min..max. Read: mass piling up at the "
        "ends of the tanh/sigmoid range is saturation; for ReLU a spike at 0 is the inactive "
        "half of the inputs, all the mass at 0 a dead layer."
    ),
}


def tensorboard_tag(layer: str, stat: str) -> str:
    """The TensorBoard tag of statistic ``stat`` of layer ``layer`` (:func:`_tags.activation_tag`).

    The layer's name comes first, so TensorBoard groups one layer's activation tags with its
    gradient tags; no model-name prefix. The dead and saturated fractions are among the
    layer's first charts (``<layer>/3_dead_fraction``, ``<layer>/3_saturated_fraction``), the
    moments and the histogram (``stat="values"``) under ``<layer>/details/activation_<stat>``.

    Example:
        >>> tensorboard_tag("dense_1", "dead_fraction")
        'dense_1/3_dead_fraction'
        >>> tensorboard_tag("dense_1", "std")
        'dense_1/details/activation_std'
    """
    return _tags.activation_tag(layer, stat)


# ---------------------------------------------------------------------------------------
# The statistics of one layer
# ---------------------------------------------------------------------------------------


def _layer_statistics(site: Site, pre, act, thresholds):
    """The six :data:`STATISTICS` of one layer as a float32 ``[6]`` tensor (NaN: not applicable).

    Formula: ``mean``/``std`` (population std) of ``pre`` and ``act`` over every value;
    dead fraction ``(1/U) sum_u [max over all other axes of act_u <= 0]`` with ``u`` on the
    unit axis (last, or 1 for channels_first); saturation fraction = mean of the indicator
    ``|act| > tanh`` (tanh family) or ``act < low or act > high`` (sigmoid family).
    ``keras.ops`` throughout: the same code on every backend.
    """
    tanh_threshold, sigmoid_low, sigmoid_high = thresholds
    kind = site.activation.kind
    nan = ops.convert_to_tensor(math.nan, "float32")
    if kind.has_dead_fraction:
        # A unit is one output channel/feature; reduce over every other axis.
        rank = len(act.shape)
        unit_axis = 1 if (site.activation.channels_first and rank > 2) else rank - 1
        other_axes = tuple(axis for axis in range(rank) if axis != unit_axis)
        unit_max = ops.max(act, axis=other_axes)
        dead = ops.mean(ops.cast(ops.less_equal(unit_max, 0.0), "float32"))
    else:
        dead = nan
    if kind.family == "tanh":
        saturated = ops.mean(ops.cast(ops.greater(ops.abs(act), tanh_threshold), "float32"))
    elif kind.family == "sigmoid":
        outside = ops.logical_or(ops.less(act, sigmoid_low), ops.greater(act, sigmoid_high))
        saturated = ops.mean(ops.cast(outside, "float32"))
    else:
        saturated = nan
    return ops.stack([ops.mean(pre), ops.std(pre), ops.mean(act), ops.std(act), dead, saturated])


def _histogram_slice(act):
    """The first probe samples of ``act`` holding at most ``HISTOGRAM_MAX_VALUES`` values.

    Whole samples (all units and positions), so every channel stays represented.
    """
    per_sample = int(np.prod(act.shape[1:])) if len(act.shape) > 1 else 1
    batch = act.shape[0]
    keep = max(1, HISTOGRAM_MAX_VALUES // max(per_sample, 1))
    if batch is not None and keep >= batch:
        return act
    return act[:keep]


def _host_bucket_counts(values, low, high, num_buckets: int) -> np.ndarray:
    """:func:`~keras_init_lab.callbacks.histograms.uniform_bucket_counts` in NumPy, float32.

    The same formula in the same precision, ``i = clip(floor(x * k / (high - low) - low * k /
    (high - low)), 0, k - 1)``, every value in the last bucket when ``high == low``, NaN not
    counted; used where the device bucketing (TensorFlow ops) is not available, on the at
    most :data:`HISTOGRAM_MAX_VALUES` values of a record.

    Example:
        >>> _host_bucket_counts([0.0, 0.1, 0.9, 1.0], 0.0, 1.0, 2).tolist()
        [2, 2]
    """
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    low, high = np.float32(low), np.float32(high)
    values = values[~np.isnan(values)]
    width = high - low
    if width > 0:
        scale = np.float32(num_buckets) / width
        position = values * scale + (-low * scale)
    else:  # every value in the last bucket, as in TensorBoard (+-Inf too)
        position = np.full(values.shape, np.float32(num_buckets))
    position = np.clip(position, 0.0, np.float32(num_buckets - 1))
    return np.bincount(position.astype(np.int64), minlength=num_buckets).astype(np.int64)


def _histogram(site: Site, act):
    """``(counts [HISTOGRAM_BUCKETS], low, high)`` of one layer's activations.

    Counted on the device on TensorFlow (inside the probe's ``tf.function``), on the host
    elsewhere (:func:`_host_bucket_counts`, the same buckets).
    """
    fixed = _FIXED_HISTOGRAM_RANGE.get(site.activation.kind.family)
    if fixed:
        low = ops.convert_to_tensor(fixed[0], "float32")
        high = ops.convert_to_tensor(fixed[1], "float32")
    else:
        finite = ops.where(ops.isfinite(act), act, ops.zeros_like(act))
        low, high = ops.min(finite), ops.max(finite)
        # A constant layer (all zeros when every unit is dead) keeps low == high: zero-width
        # buckets with every count in the last one, exactly what tf.summary.histogram writes
        # for one-value data (summary_v2._buckets, when_single_value), which TensorBoard shows.
    values = _histogram_slice(act)
    if keras.backend.backend() == "tensorflow":
        from keras_init_lab.callbacks.histograms import uniform_bucket_counts

        counts = uniform_bucket_counts(values, low, high, HISTOGRAM_BUCKETS)
    else:
        counts = _host_bucket_counts(
            ops.convert_to_numpy(values),
            ops.convert_to_numpy(low),
            ops.convert_to_numpy(high),
            HISTOGRAM_BUCKETS,
        )
    return counts, low, high


class _Measure:
    """One function: probe -> feature model -> every layer's statistics (+ histograms).

    Built once per model; one call is one forward pass of the probe batch and one small
    device-to-host copy of the results. On TensorFlow the function is a ``tf.function``
    (traced once, the activation switch of fused layers at trace time). On the other
    backends it runs eagerly: a jitted function would capture the weights of the moment it
    is traced as constants (JAX), and a record is one probe pass per scheduled epoch.
    """

    def __init__(self, model, probe_x, thresholds, histograms: bool):
        self.features = FeatureProbe(model, probe_x)
        self.model = model
        self.thresholds = thresholds
        self.histograms = histograms
        if keras.backend.backend() == "tensorflow":
            self._function = tf.function(self._compute, reduce_retracing=True)
        else:
            self._function = self._compute

    @property
    def sites(self) -> list[Site]:
        return self.features.sites

    @property
    def layer_names(self) -> list[str]:
        return self.features.layer_names

    @property
    def activation_names(self) -> list[str]:
        return self.features.activation_names

    def _compute(self, x):
        rows, counts, lows, highs = [], [], [], []
        for site, (pre, act) in zip(self.sites, self.features.pairs(x)):
            rows.append(_layer_statistics(site, pre, act, self.thresholds))
            if self.histograms:
                # One bucketing per layer, with scalar edges: a single segmented call over the
                # concatenation would have to gather per-element edges, a pass more per value.
                count, low, high = _histogram(site, act)
                counts.append(count)
                lows.append(low)
                highs.append(high)
        result = {"stats": ops.stack(rows)}
        if self.histograms:
            result["counts"] = ops.stack(counts)
            result["low"], result["high"] = ops.stack(lows), ops.stack(highs)
        return result

    def __call__(self) -> dict[str, np.ndarray]:
        """Run the probe once; return host numpy arrays (one device-to-host transfer)."""
        result = self._function(self.features.probe)
        return {key: np.asarray(ops.convert_to_numpy(value)) for key, value in result.items()}


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _check_thresholds(tanh_threshold, sigmoid_low, sigmoid_high) -> tuple[float, float, float]:
    checked = []
    for name, value in (
        ("tanh_threshold", tanh_threshold),
        ("sigmoid_low", sigmoid_low),
        ("sigmoid_high", sigmoid_high),
    ):
        value = check_number(name, value, hint="Give a number strictly between 0 and 1.")
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"{name} must lie strictly between 0 and 1 (tanh and sigmoid outputs are "
                f"bounded by 1); received {name}={value!r}."
            )
        checked.append(value)
    tanh_threshold, sigmoid_low, sigmoid_high = checked
    if not sigmoid_low < sigmoid_high:
        raise ValueError(
            "sigmoid_low must be below sigmoid_high (saturated means a < low or a > high); "
            f"received sigmoid_low={sigmoid_low!r}, sigmoid_high={sigmoid_high!r}."
        )
    return tanh_threshold, sigmoid_low, sigmoid_high


def _check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; received {type(model).__name__}: {model!r}.")


def _record(measure: _Measure) -> dict[str, Any]:
    values = measure()["stats"]
    record: dict[str, Any] = {
        stat: values[:, column].astype(np.float64) for column, stat in enumerate(STATISTICS)
    }
    record["layers"] = measure.layer_names
    record["activations"] = measure.activation_names
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
    return _record(_Measure(model, probe_x, thresholds, histograms=False))


class ActivationStats(ScheduledCallback):
    """Record per-layer activation statistics on a fixed probe batch during ``fit``.

    Formula: as in :func:`activation_statistics` (dead fraction counts *units*, a unit being
    an output feature or a convolution channel over all positions and samples; saturation
    fraction counts *values*; see the module docstring for why).

    When: on an injected schedule, ``schedule=EveryEpochs(n)`` (or the older
    ``every_n_epochs=n``). The record at epoch ``e`` is the state after ``e`` epochs, ``e``
    being the global epoch: epochs finished in all the ``fit`` calls this callback took part
    in. Records at the start of every ``fit`` (epoch 0 first; skipped when that epoch
    already has a record) and at the end of every epoch ``e`` with ``e % n == 0``; a second
    ``fit`` continues the numbering (``EveryEpochs(2)``, 5 epochs then 3: 0, 2, 4, 5, 6, 8).
    The counting and the asking are done by
    :class:`~keras_init_lab.callbacks._scheduled.ScheduledCallback`; this class only
    computes (``_record_epoch``) and writes. The probe batch is fixed in
    ``__init__``; the feature model and its compiled function are built on first use and
    reused across epochs and ``fit`` calls of the same model (rebuilt only if the callback is
    attached to another model). One record costs one forward pass of the probe and one small
    device-to-host copy.

    Example:
        >>> stats = ActivationStats(x_train[:256], log_dir="logs/run1")
        >>> model.fit(x_train, y_train, epochs=10, callbacks=[stats])
        >>> stats.history["per_layer"]["dead_fraction"][-1]     # last record, per layer
        >>> keras_init_lab.plots.plot_activation_stats(stats.history, "activations.png")

    Args:
        probe_data: the probe inputs: array, dict/list of arrays, ``(x, y[, w])`` tuple, or a
            batched ``tf.data.Dataset`` (see :func:`prepare_probe`).
        every_n_epochs: record after every this many epochs, the same as
            ``schedule=EveryEpochs(every_n_epochs)``; ``None`` (default) with no ``schedule``
            means every epoch (``EveryEpochs(1)``).
        log_dir: optional TensorBoard folder; scalars (tags from :func:`tensorboard_tag`:
            ``<layer>/3_dead_fraction``, ``<layer>/3_saturated_fraction`` first in the
            layer's group, ``<layer>/details/activation_<stat>`` for the moments) and
            histograms ``<layer>/details/activation_values`` (values below 0.01 in
            magnitude in units of ``10^k``, under ``activation_values_in_1e<k>``) go to its
            ``activations`` run
            (``log_dir/activations``) at the global step (steps finished, the x axis of
            GradientStats) with an ``epoch`` scalar beside them, each with a description
            saying what it is and how to read it (:data:`TAG_DESCRIPTIONS`), and a
            custom-scalars layout with one category for the std, the dead and the saturated
            fraction, at most 10 layers a chart. Under ``MultiWorkerMirroredStrategy`` only
            the chief writes them (:func:`keras_init_lab.callbacks._chief.is_chief`); every
            worker keeps the same ``history``.
            Histogram edges are fixed for tanh ([-1, 1]) and sigmoid ([0, 1]) and the record's
            min..max otherwise, 30 buckets, counted on the device over the first probe
            samples holding at most ``HISTOGRAM_MAX_VALUES`` (2**18) values per layer.
        tanh_threshold: ``|a|`` above which a tanh value counts as saturated (default 0.97).
        sigmoid_low, sigmoid_high: sigmoid saturation band (defaults 0.03 and 0.97).
        max_probe_samples: cap on the probe size (default 256).
        schedule: an :class:`~keras_init_lab.callbacks.EveryEpochs`; give ``schedule`` or
            ``every_n_epochs``, not both.

    Attributes:
        history: ``{"epoch": int64 (n_records,), "step": int64 (n_records,) (the global
            step of each record), "layers": [str], "activations": [str],
            "per_layer": {stat: float64 (n_records, n_layers)}}``.

    Raises:
        TypeError: an argument of the wrong type (``every_n_epochs=1.5``, ``log_dir=3``,
            a string threshold, a probe that is not numeric data, ``schedule=EverySteps(2)``).
        ValueError: a value out of range (``every_n_epochs=0``, a threshold outside (0, 1),
            ``sigmoid_low >= sigmoid_high``, an empty probe or an empty ``log_dir``), or both
            ``every_n_epochs`` and ``schedule``.

    Reference:
        Glorot & Bengio 2010, https://proceedings.mlr.press/v9/glorot10a.html.
    """

    schedule_types = (EveryEpochs,)

    def __init__(
        self,
        probe_data,
        every_n_epochs: int | None = None,
        log_dir: str | os.PathLike | None = None,
        tanh_threshold: float = DEFAULT_TANH_THRESHOLD,
        sigmoid_low: float = DEFAULT_SIGMOID_LOW,
        sigmoid_high: float = DEFAULT_SIGMOID_HIGH,
        max_probe_samples: int = DEFAULT_MAX_PROBE_SAMPLES,
        schedule: EveryEpochs | None = None,
    ):
        super().__init__(
            resolve_schedule(EveryEpochs, schedule, "every_n_epochs", every_n_epochs, default=1)
        )
        self.max_probe_samples = check_int("max_probe_samples", max_probe_samples, minimum=1)
        self.thresholds = _check_thresholds(tanh_threshold, sigmoid_low, sigmoid_high)
        self.tanh_threshold, self.sigmoid_low, self.sigmoid_high = self.thresholds
        self.log_dir = check_log_dir("log_dir", log_dir)
        self.probe_x = prepare_probe(probe_data, self.max_probe_samples)
        self._probe: _Measure | None = None
        self._writers = None
        # The unit of each layer's histogram, chosen at its first record with a spread.
        self._histogram_units = _tags.HistogramUnits()
        self._epochs: list[int] = []
        self._steps: list[int] = []
        self._rows: list[np.ndarray] = []
        self._layers: list[str] = []
        self._activations: list[str] = []

    @property
    def every_n_epochs(self) -> int:
        """``schedule.n``: record after every this many epochs."""
        return self.schedule.n

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
            "step": np.asarray(self._steps, dtype=np.int64),
            "layers": list(self._layers),
            "activations": list(self._activations),
            "per_layer": {stat: table[:, :, column] for column, stat in enumerate(STATISTICS)},
        }

    # -- recording -------------------------------------------------------------------------

    def _probe_for_model(self) -> _Measure:
        if self._probe is None or self._probe.model is not self.model:
            probe = _Measure(
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

    def record(self, epoch: int, step: int | None = None) -> None:
        """Measure the model now and store the record under ``epoch`` and ``step``.

        Args:
            epoch: the global epoch (epochs finished).
            step: the global step (training steps finished, the step axis of GradientStats);
                ``None`` means :attr:`global_step`, the steps this callback saw run.
        """
        step = self.global_step if step is None else check_int("step", step, minimum=0)
        probe = self._probe_for_model()
        result = probe()
        self._epochs.append(int(epoch))
        self._steps.append(int(step))
        self._rows.append(result["stats"].astype(np.float64))
        if self.log_dir is not None and writes_files(self.model):
            self._write(epoch, step, result)

    # -- TensorBoard -----------------------------------------------------------------------

    def _description(self, stat: str) -> str:
        return TAG_DESCRIPTIONS[stat].format(
            tanh=self.tanh_threshold, low=self.sigmoid_low, high=self.sigmoid_high
        )

    def _tables(self, result: dict[str, np.ndarray]) -> tuple[dict, dict, dict]:
        """``(scalars, histograms, descriptions)`` of one record, keyed by tag."""
        stats = result["stats"]
        scalars, descriptions = {}, {}
        for index, site in enumerate(self._probe.sites):
            kind = site.activation.kind
            for column, stat in enumerate(STATISTICS):
                if (stat == "dead_fraction" and not kind.has_dead_fraction) or (
                    stat == "saturation_fraction" and not kind.has_saturation_fraction
                ):
                    continue  # does not apply to this activation (NaN in the history)
                tag = tensorboard_tag(site.name, stat)
                scalars[tag] = stats[index, column]
                descriptions[tag] = self._description(stat)
        edges = np.linspace(result["low"], result["high"], HISTOGRAM_BUCKETS + 1, axis=1)
        histograms = {}
        for index, site in enumerate(self._probe.sites):
            tag, unit = self._histogram_units.scale(
                tensorboard_tag(site.name, "values"), result["low"][index], result["high"][index]
            )
            scaled = edges[index] / unit
            histograms[tag] = (scaled[:-1], scaled[1:], result["counts"][index])
            descriptions[tag] = self._description("values") + _tags.histogram_unit_note(unit)
        return scalars, histograms, descriptions

    def _layout(self) -> dict:
        """The custom-scalars layout: std, dead and saturated fraction, <= 10 layers a chart."""
        tags = {_tags.layer_tag(site.name, _tags.ACTIVATION_STD) for site in self._probe.sites}
        for site in self._probe.sites:
            if site.activation.kind.has_dead_fraction:
                tags.add(tensorboard_tag(site.name, "dead_fraction"))
            if site.activation.kind.has_saturation_fraction:
                tags.add(tensorboard_tag(site.name, "saturation_fraction"))
        return _tags.per_layer_layout(
            _tags.ACTIVATION_LAYOUT,
            self._probe.layer_names,
            has_tag=lambda layer, name: _tags.layer_tag(layer, name) in tags,
        )

    def _write(self, epoch: int, step: int, result: dict[str, np.ndarray]) -> None:
        if self._writers is None:
            # The TensorFlow-free event-file writer on every backend, as GradientStats.
            self._writers = EventWriters(self.log_dir)
            self._writers.custom_scalars_layout(self._layout(), run=TENSORBOARD_RUN)
        scalars, histograms, descriptions = self._tables(result)
        scalars[_tags.EPOCH] = epoch
        descriptions[_tags.EPOCH] = EPOCH_DESCRIPTION
        # One event per record, at the global step (the x axis of the gradient statistics);
        # TensorBoard keeps a tag's metadata (and so its description) from the tag's first
        # event in a file, and write_batch sends it there.
        self._writers.write_batch(
            step,
            scalars=scalars,
            histograms=histograms,
            run=TENSORBOARD_RUN,
            descriptions=descriptions,
        )
        # Flushed on a time basis (every record would be one file write); the records of
        # epoch ends are flushed at once in on_epoch_end, the rest at close or exit.
        self._writers.flush_if_due()

    # -- schedule hooks (counting and asking the schedule live in ScheduledCallback) -------

    def _record_epoch(self, epoch: int) -> None:
        self.record(epoch)

    def _epoch_end(self, epoch: int) -> None:
        if self._writers is not None:
            self._writers.flush()

    def _fit_end(self) -> None:
        if self._writers is not None:
            self._writers.close()
