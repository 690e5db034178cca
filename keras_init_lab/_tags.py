"""The TensorBoard names of the package, in one place: tags, their order, the custom-scalars layout.

Every writer of the package's event files (the Keras callbacks through
:class:`~keras_init_lab.callbacks.tensorboard.SummaryWriters`, and any writer for another
backend) takes its tag names and its custom-scalars layout from here, so that logs read alike
in TensorBoard and in the "gradient flow" plugin whoever wrote them. Plain Python (``math``
and ``re`` only): the plugin, which TensorBoard loads at start, and a writer that runs
without TensorFlow import it without loading Keras or TensorFlow
(``keras_init_lab.callbacks._tags`` re-exports it for the callbacks' side).

How TensorBoard shows them (TensorBoard 2.x "Time Series" and "Scalars" dashboards): the
tags are grouped by the part before the first ``/``, one group per layer here, and sorted in
natural order within the group: digit runs compare as numbers, and a digit or ``/`` sorts
before any letter. So the few charts a learner reads first carry a leading digit and come
first in their layer's group; everything else sits under ``<layer>/details/``::

    dense_1/1_gradient_log10_norm      GradientStats, run "train"
    dense_1/2_update_ratio_log10       GradientStats, run "train"
    dense_1/3_dead_fraction            ActivationStats, run "activations" (ReLU family)
    dense_1/3_saturated_fraction       ActivationStats, run "activations" (tanh, sigmoid)
    dense_1/details/gradient_norm, .../update_ratio, .../weight_std, .../activation_std, ...
    dense_1/details/kernel/gradient_norm, .../kernel/gradient_log10_abs (histogram), ...

Runs: ``compare`` names each run's log folder with :func:`run_name`, the activation first
(``relu_03_zeros``, ``relu_07_he_normal``), so that TensorBoard, which lists runs in the
same natural order, puts the runs of one activation, the course's pairs, next to each other.

Units are chosen so that an axis reads: norms and update ratios spanning decades are also
written as log10 (``-3`` is ``1e-3``, a healthy update ratio), gradient histograms are over
``log10 |g|``, fractions are in ``[0, 1]``. Linear histograms of tiny values (a bias a few
steps after a zero initialization, the activations of a vanishing layer) are written in
units of ``10^k`` from their first record with a spread (:class:`HistogramUnits`), under
``<tag>_in_1e<k>``: the axis reads ``-2 .. 2`` instead of ``-0.0002 .. 0.0002``, whose long
labels TensorBoard prints on top of each other.

Custom scalars: one category per statistic, each chart at most :data:`MAX_LINES_PER_CHART`
layers (consecutive layers in forward order, in groups of near-equal size), and for deeper
models a last chart with evenly spaced layers across the depth. The regular expressions name
the layers literally, ``^(?:dense|dense_1|...)/1_gradient_log10_norm$``, in forward order:
the gradient-flow plugin reads the layer order back from them.

Example:
    >>> layer_tag("dense_1", GRADIENT_LOG10_NORM)
    'dense_1/1_gradient_log10_norm'
    >>> activation_tag("dense_1", "std")
    'dense_1/details/activation_std'
    >>> [len(group) for group in layer_groups([f"d{i}" for i in range(12)])]
    [6, 6]

Reference:
    TensorBoard's tag order and groups, ``compareTagNames`` and ``groupCardIdWithMetdata``
    in ``tensorboard/webapp/metrics/views/utils.ts`` (https://github.com/tensorflow/tensorboard;
    the same comparison is in the TensorBoard 2.21 frontend);
    custom scalars layout, ``tensorboard/plugins/custom_scalar/layout.proto``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "ACTIVATION_LAYOUT",
    "ACTIVATION_STD",
    "DEAD_FRACTION",
    "DETAILS",
    "EPOCH",
    "HistogramUnits",
    "GRADIENT_LAYOUT",
    "GRADIENT_LOG10_NORM",
    "GRADIENT_NORM",
    "GRADIENT_SCALARS",
    "HISTOGRAM_UNIT_BELOW",
    "MAX_LINES_PER_CHART",
    "SATURATED_FRACTION",
    "UPDATE_RATIO",
    "UPDATE_RATIO_LOG10",
    "WEIGHT_STD",
    "activation_tag",
    "gradient_histogram_description",
    "gradient_histogram_tag",
    "histogram_sample_note",
    "histogram_unit_note",
    "layer_groups",
    "layer_tag",
    "per_layer_layout",
    "run_name",
    "variable_tag",
    "weight_histogram_description",
    "weight_histogram_tag",
]

#: Most curves per run on one custom-scalars chart: 10, the size of the usual categorical
#: palettes (d3's ``schemeCategory10``, matplotlib's ``tab10``), past which colours repeat on
#: one chart and a learner can no longer tell the lines apart.
MAX_LINES_PER_CHART = 10

#: Prefix of every tag that is not among the first charts of a layer.
DETAILS = "details"

# --- per layer, read first (the leading digit sorts them first in the layer's group) -------
#: log10 of the layer's gradient norm (GradientStats).
GRADIENT_LOG10_NORM = "1_gradient_log10_norm"
#: log10 of ||w_after - w_before|| / ||w_before|| (GradientStats).
UPDATE_RATIO_LOG10 = "2_update_ratio_log10"
#: Share of ReLU-family units that never fire on the probe batch (ActivationStats).
DEAD_FRACTION = "3_dead_fraction"
#: Share of tanh/sigmoid values in the flat tails (ActivationStats).
SATURATED_FRACTION = "3_saturated_fraction"

# --- per layer, details ---------------------------------------------------------------------
GRADIENT_NORM = f"{DETAILS}/gradient_norm"
UPDATE_RATIO = f"{DETAILS}/update_ratio"
WEIGHT_STD = f"{DETAILS}/weight_std"
ACTIVATION_STD = f"{DETAILS}/activation_std"

#: The epoch (epochs finished) at a global step, written by ActivationStats beside its
#: statistics, which are written at global steps like the gradient statistics.
EPOCH = "epoch"

#: GradientStats's scalars: ``(statistic, per-layer tag name, per-variable tag name or None,
#: what it is and how to read it)``. ``statistic`` is a key of ``history["per_layer"]`` or
#: a derived one (``log10_norm``, ``update_ratio_log10``, ``zero_count``).
GRADIENT_SCALARS = (
    (
        "log10_norm",
        GRADIENT_LOG10_NORM,
        "gradient_log10_norm",
        "log10 of the L2 norm of this step's gradient, log10 ||g|| (-3 means 1e-3). Compare "
        "layers: a first layer several units below the last one means vanishing gradients; "
        "a falling line, a gradient that vanishes during training (-inf when it is exactly 0).",
    ),
    (
        "update_ratio_log10",
        UPDATE_RATIO_LOG10,
        None,
        "log10 of ||w_after - w_before|| / ||w_before||, the size of the step the optimizer "
        "took relative to the weights (-3 means 1e-3, the classic healthy value; -inf when "
        "nothing moved).",
    ),
    (
        "norm",
        GRADIENT_NORM,
        "gradient_norm",
        "L2 norm of this step's gradient ||g||. Compare layers: a first layer orders of "
        "magnitude below the last one means vanishing gradients.",
    ),
    (
        "zero_count",
        f"{DETAILS}/gradient_zero_count",
        "gradient_zero_count",
        "Number of gradient entries exactly 0 (dead ReLUs, unused embedding rows). The "
        "histograms put them in their first bucket together with magnitudes below 2^-34.",
    ),
    (
        "nonfinite_count",
        f"{DETAILS}/gradient_nonfinite_count",
        "gradient_nonfinite_count",
        "Number of NaN or Inf gradient entries: anything above 0 is a bug to fix.",
    ),
    (
        "weight_std",
        WEIGHT_STD,
        "weight_std",
        "Standard deviation of the weights (not of the gradient): compare with the "
        "initializer's target std.",
    ),
    (
        "update_ratio",
        UPDATE_RATIO,
        "update_ratio",
        "||w_after - w_before|| / ||w_before||: size of the step the optimizer took relative "
        "to the weights; about 1e-3 per step is the classic healthy value.",
    ),
)

#: GradientStats's custom-scalars categories: ``(title, per-layer tag name)``.
GRADIENT_LAYOUT = (
    ("Gradient norm per layer, log10 (-3 is 1e-3)", GRADIENT_LOG10_NORM),
    ("Update / weight ratio per layer, log10 (-3 is 1e-3)", UPDATE_RATIO_LOG10),
    ("Weight std per layer (of the weights themselves)", WEIGHT_STD),
)

#: ActivationStats's custom-scalars categories: ``(title, per-layer tag name)``; a layer
#: appears only in the charts of the statistics its activation has.
ACTIVATION_LAYOUT = (
    ("Activation std per layer (probe batch)", ACTIVATION_STD),
    ("Dead fraction per layer (ReLU-family units)", DEAD_FRACTION),
    ("Saturated fraction per layer (tanh/sigmoid values)", SATURATED_FRACTION),
)

#: Group charts from which a category also gets an "across the depth" chart: with two groups
#: (up to 20 layers) the sampled chart would hold nearly every layer again.
_OVERVIEW_FROM_CHARTS = 3

#: ActivationStats statistic -> tag name under the layer (``values``: the histogram).
_ACTIVATION_NAMES = {
    "dead_fraction": DEAD_FRACTION,
    "saturation_fraction": SATURATED_FRACTION,
    "values": f"{DETAILS}/activation_values",
}


def layer_tag(layer: str, name: str) -> str:
    """The tag of ``name`` (a constant of this module) for ``layer``: ``<layer>/<name>``."""
    return f"{layer}/{name}"


def variable_tag(layer: str, variable: str, name: str) -> str:
    """A per-variable scalar: ``<layer>/details/<variable>/<name>``.

    Example:
        >>> variable_tag("dense", "kernel", "gradient_norm")
        'dense/details/kernel/gradient_norm'
    """
    return f"{layer}/{DETAILS}/{variable}/{name}"


def gradient_histogram_tag(layer: str, variable: str) -> str:
    """The histogram of ``log10 |g|``: ``<layer>/details/<variable>/gradient_log10_abs``."""
    return variable_tag(layer, variable, "gradient_log10_abs")


def weight_histogram_tag(layer: str, variable: str) -> str:
    """The histogram of the weights: ``<layer>/details/<variable>/weights``."""
    return variable_tag(layer, variable, "weights")


def histogram_sample_note(size: int, sample_size: int | None) -> str:
    """The sentence of a histogram's description that says which elements were counted.

    Formula: a variable of ``n > S`` elements is histogrammed from a systematic sample of
    ``S`` of them (every ``s``-th element from a start that moves at each record,
    ``keras_init_lab.callbacks.histograms.sample_plan``), so each bucket's share of the
    sample is within one binomial standard error ``sqrt(p (1 - p) / S) <= 0.5 / sqrt(S)``
    of its exact share, as for ``S`` independent draws (less where rows or columns differ,
    which the sample covers evenly; more only for values that repeat with the period of
    ``s``); with ``S = None`` or ``n <= S`` every element is counted.

    Example:
        >>> histogram_sample_note(1_177_500, 16384)[:56]
        ' Counted from a sample of 16,384 of its 1,177,500 elemen'
        >>> histogram_sample_note(7, 16384)
        ' Counted over all 7 elements.'

    Args:
        size: ``n``, the variable's number of elements.
        sample_size: ``S``, the elements histogrammed per variable, or None (all of them).

    Returns:
        A sentence with a leading space.
    """
    if not sample_size or size <= sample_size:
        return f" Counted over all {size:,} elements."
    error = 100 * 0.5 / math.sqrt(sample_size)
    return (
        f" Counted from a sample of {sample_size:,} of its {size:,} elements (evenly "
        "spaced through the variable, every column of a kernel taken equally often, from "
        f"a start that moves at each record): the counts sum to {sample_size:,}, and each "
        f"bucket's share of them is within about {error:.1f} percentage points of the "
        "share among all elements (one binomial standard error of as many independent "
        "draws at most, unless the values repeat with the period of the spacing)."
    )


def gradient_histogram_description(
    size: int, sample_size: int | None, min_exponent: int, floor: float
) -> str:
    """Description of the ``gradient_log10_abs`` histogram of one variable.

    Example:
        >>> gradient_histogram_description(7, None, -34, 2.0**-34)[:40]
        "log10 |g| of this variable's gradient, o"

    Args:
        size: the variable's number of elements.
        sample_size: elements histogrammed per variable (None: all).
        min_exponent: ``e0``, the first edge is ``2^e0``.
        floor: ``2^e0``.

    Returns:
        The description TensorBoard shows.
    """
    return (
        "log10 |g| of this variable's gradient, one bucket per power of two, counted on the "
        f"device.{histogram_sample_note(size, sample_size)} Magnitudes below "
        f"2^{min_exponent} ~ {floor:.1e} (exact zeros included) are in the first bucket; "
        "the scalar gradient_zero_count is the exact number of zeros among all elements. "
        "NaN is not counted (see gradient_nonfinite_count)."
    )


def weight_histogram_description(size: int, sample_size: int | None) -> str:
    """Description of the ``weights`` histogram of one variable (before any unit note).

    Example:
        >>> weight_histogram_description(7, None)[:40]
        'Weights of this variable after this step'

    Args:
        size: the variable's number of elements.
        sample_size: elements histogrammed per variable (None: all).

    Returns:
        The description TensorBoard shows.
    """
    return (
        "Weights of this variable after this step's update: equal-width buckets between "
        "their exact min and max (taken over every weight), counted on the device."
        + histogram_sample_note(size, sample_size)
    )


def activation_tag(layer: str, stat: str) -> str:
    """The tag of ActivationStats's statistic ``stat`` of ``layer``.

    ``dead_fraction`` and ``saturation_fraction`` are among the first charts
    (:data:`DEAD_FRACTION`, :data:`SATURATED_FRACTION`); the moments go to
    ``<layer>/details/activation_<stat>``, the histogram (``stat="values"``) to
    ``<layer>/details/activation_values``.

    Example:
        >>> activation_tag("dense", "dead_fraction"), activation_tag("dense", "pre_std")
        ('dense/3_dead_fraction', 'dense/details/activation_pre_std')
    """
    return layer_tag(layer, _ACTIVATION_NAMES.get(stat, f"{DETAILS}/activation_{stat}"))


def layer_groups(layers: Sequence[str], size: int = MAX_LINES_PER_CHART) -> list[list[str]]:
    """Consecutive groups of at most ``size`` layers, of near-equal sizes, in the given order.

    Formula: ``k = ceil(n / size)`` groups; the first ``n mod k`` hold ``ceil(n / k)``
    layers, the others ``floor(n / k)`` (12 layers: 6 + 6 rather than 10 + 2).

    Example:
        >>> layer_groups(["a", "b", "c", "d", "e"], size=2)
        [['a', 'b'], ['c', 'd'], ['e']]

    Args:
        layers: layer names in forward order.
        size: most layers per group (>= 1).

    Returns:
        The groups (an empty list for no layers).
    """
    n = len(layers)
    if n == 0:
        return []
    count = math.ceil(n / size)
    base, extra = divmod(n, count)
    groups, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        groups.append(list(layers[start:stop]))
        start = stop
    return groups


def _regex(layers: Sequence[str], name: str) -> str:
    alternatives = "|".join(re.escape(layer) for layer in layers)
    return rf"^(?:{alternatives})/{re.escape(name)}$"


def per_layer_layout(
    categories: Sequence[tuple[str, str]],
    layers: Sequence[str],
    has_tag=None,
    size: int = MAX_LINES_PER_CHART,
) -> dict[str, dict[str, list[str]]]:
    """A custom-scalars layout: per statistic, charts of at most ``size`` layers each.

    Each category ``(title, name)`` gets the charts ``"layers i-j of n: <first> ... <last>"``
    (consecutive layers, :func:`layer_groups`) and, when they take three charts or more
    (over ``2 * size`` layers), a last chart ``"across the depth: ..."`` with ``size`` evenly
    spaced layers (the first and the last included). The layer names in a chart's title keep
    the charts of two models apart when TensorBoard merges the layouts of several runs.

    Example:
        >>> layout = per_layer_layout([("norms", "x")], ["a", "b"])
        >>> layout
        {'norms': {'layers 1-2 of 2: a ... b': ['^(?:a|b)/x$']}}

    Args:
        categories: ``(category title, per-layer tag name)`` pairs.
        layers: the layer names (tag prefixes) in forward order.
        has_tag: optional ``has_tag(layer, name) -> bool``; layers without the tag are left
            out of that category (a tanh layer has no dead fraction).
        size: most layers per chart.

    Returns:
        ``{category title: {chart title: [tag regex]}}`` for
        :meth:`~keras_init_lab.callbacks.tensorboard.SummaryWriters.custom_scalars_layout`;
        categories with no layer are left out.
    """
    layout: dict[str, dict[str, list[str]]] = {}
    for title, name in categories:
        chosen = [layer for layer in layers if has_tag is None or has_tag(layer, name)]
        if not chosen:
            continue
        n = len(chosen)
        charts, start = {}, 1
        for group in layer_groups(chosen, size):
            stop = start + len(group) - 1
            span = group[0] if len(group) == 1 else f"{group[0]} ... {group[-1]}"
            charts[f"layers {start}-{stop} of {n}: {span}"] = [_regex(group, name)]
            start = stop + 1
        if len(charts) >= _OVERVIEW_FROM_CHARTS and size >= 2:
            picks = sorted({round(i * (n - 1) / (size - 1)) for i in range(size)})
            sampled = [chosen[i] for i in picks]
            numbers = ", ".join(str(i + 1) for i in picks)
            charts[f"across the depth: layers {numbers} of {n}"] = [_regex(sampled, name)]
        layout[title] = charts
    return layout


#: Characters kept in a run folder's name; any other run of characters becomes one ``-``.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def run_name(point) -> str:
    """The TensorBoard run (log folder) of one ``compare`` grid point: activation first.

    Formula: ``<activation>_<NN>_<initializer>[_<other axes>]`` from the point's label
    (``"he_normal + relu + depth 2"`` -> ``relu_03_he_normal_depth-2``), characters other
    than letters, digits and ``_.+-`` replaced by ``-``. TensorBoard lists runs in natural
    order, so the runs of one activation (He + ReLU beside Xavier + ReLU) sit together, in
    grid order within it.

    Example:
        >>> from types import SimpleNamespace
        >>> run_name(SimpleNamespace(activation="relu", initializer="he_normal", index=3,
        ...                          label="he_normal + relu + depth 2"))
        'relu_03_he_normal_depth-2'

    Args:
        point: an ``experiments.grid.GridPoint`` (its ``activation``, ``initializer``,
            ``index`` and ``label`` are read).

    Returns:
        A plain folder name.
    """
    parts = point.label.split(" + ") if point.label else []
    extras = parts[2:] if parts[:2] == [point.initializer, point.activation] else []
    name = "_".join([point.activation, f"{point.index:02d}", point.initializer, *extras])
    return _UNSAFE.sub("-", name).strip("-")


#: Largest magnitude below which a linear histogram (weights, activation values) is written
#: in units of ``10^k``: from 0.01 down, the labels of a histogram axis have three or more
#: leading zeros (``-0.0025``, ``0.005``) and TensorBoard, which puts a tick every 20 px or
#: so, prints them on top of each other.
HISTOGRAM_UNIT_BELOW = 0.01


def _decade(value: float) -> int:
    """``k`` with ``10^k <= value < 10^(k+1)``, exact where ``log10`` rounds (0.00999... has
    ``log10`` -2.0 in float64, but its decade is -3)."""
    exponent = math.floor(math.log10(value))
    if 10.0**exponent > value:
        exponent -= 1
    elif 10.0 ** (exponent + 1) <= value:
        exponent += 1
    return exponent


class HistogramUnits:
    """The unit of each linear histogram tag, chosen once: ``10^k`` for tiny values, else 1.

    Formula: at the first record of ``tag`` whose values are not all 0, with
    ``m = max(|low|, |high|)``: ``k = floor(log10 m)`` when ``m < HISTOGRAM_UNIT_BELOW``,
    else ``k = 0``. The unit is kept for the tag from then on (one axis for every step of
    the run: a bias that grows a hundredfold reads ``200`` in units of ``1e-4``). With
    ``k != 0`` the edges are divided by ``10^k`` and written under ``<tag>_in_1e<k>``, so
    the unit is in the chart's title; records before the choice (all values 0, one bucket
    at 0 in any unit) stay under ``tag``.

    Example:
        >>> units = HistogramUnits()
        >>> units.scale("b/weights", 0.0, 0.0)
        ('b/weights', 1.0)
        >>> units.scale("b/weights", -2.4e-4, 1.9e-4)
        ('b/weights_in_1e-4', 0.0001)
        >>> units.scale("b/weights", -0.03, 0.05)      # kept: 500 units of 1e-4
        ('b/weights_in_1e-4', 0.0001)
        >>> units.scale("w/weights", -0.3, 0.2)
        ('w/weights', 1.0)
    """

    def __init__(self):
        self._exponent: dict[str, int] = {}

    def scale(self, tag: str, low: float, high: float) -> tuple[str, float]:
        """``(tag to write under, unit)``: divide the edges by ``unit``.

        Args:
            tag: the histogram's tag.
            low, high: the smallest and largest value of this record.

        Returns:
            The tag (with ``_in_1e<k>`` when the unit is ``10^k``, ``k != 0``) and the unit.
        """
        exponent = self._exponent.get(tag)
        if exponent is None:
            largest = max(abs(float(low)), abs(float(high)))
            if not math.isfinite(largest) or largest == 0.0:
                return tag, 1.0
            exponent = _decade(largest) if largest < HISTOGRAM_UNIT_BELOW else 0
            self._exponent[tag] = exponent
        if exponent == 0:
            return tag, 1.0
        return f"{tag}_in_1e{exponent}", 10.0**exponent


def histogram_unit_note(unit: float) -> str:
    """A sentence for a histogram's description saying its unit (empty for a unit of 1).

    Example:
        >>> histogram_unit_note(1e-4)
        ' The x axis is in units of 1e-04 (the tag ends in _in_1e-4): 2 means 2e-04.'
    """
    if unit == 1.0:
        return ""
    exponent = round(math.log10(unit))
    return (
        f" The x axis is in units of {unit:.0e} (the tag ends in _in_1e{exponent}): "
        f"2 means {2 * unit:.0e}."
    )
