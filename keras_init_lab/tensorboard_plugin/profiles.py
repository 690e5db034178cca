"""Depth profiles from the scalars the callbacks write: which statistic, which layers, what order.

Pure logic, no web server: :mod:`keras_init_lab.tensorboard_plugin.plugin` feeds it what
TensorBoard's data provider returns and serves the result as JSON.

What a profile is: for one run and one per-layer statistic, the layers from the input to the
output and, for every recorded step, one value per layer (``None`` where a layer has no value
at that step or the value is not finite). The tags are the ones the callbacks write, named
in :mod:`keras_init_lab._tags` (``<layer>/details/gradient_norm``,
``<layer>/1_gradient_log10_norm``, ``<layer>/details/activation_std``, ...; see
:data:`STATISTICS`); a run written with the names of earlier versions
(``<layer>/gradient/norm``, ``<layer>/activation/std``, ...) is read through those
(:func:`suffix_of`), so profiles can be drawn from logs written before this module existed.

Layer order (the event files hold no explicit layer index):

1. **the run's custom-scalars layout**: ``GradientStats`` and ``ActivationStats`` write, once
   per run, a layout whose charts match ``^(?:<layer 1>|<layer 2>|...)/<suffix>$`` with the
   layers in the model's forward order (``history["layers"]``, the tag prefixes; groups of
   at most 10 layers, the groups in order); the names are read back from those regular
   expressions in the order they first appear;
2. **a sibling run's layout**: in logs of earlier versions ``ActivationStats``'s layout (run
   ``activations``, next to GradientStats's ``train`` run) named no layer; its layers are
   ordered by the sibling's layout when it names all of them;
3. **the names** otherwise (:func:`natural_key`: text, then numbers as numbers, so
   ``dense_2`` < ``dense_10``, and Keras's unnumbered first layer ``dense`` < ``dense_1``).
   This is a guess (``output`` sorts after ``dense_*`` by its letters, not by position), and
   the profile says so (``order["source"] == "names"``).

Example:
    >>> layout = layout_layer_order(layout_bytes)          # doctest: +SKIP
    >>> profile = build_profiles(tag_values, STATISTIC["gradient_norm"], layouts)  # doctest: +SKIP

Reference:
    TensorBoard's custom-scalars layout, ``tensorboard/plugins/custom_scalar/layout.proto``;
    X. Glorot & Y. Bengio (AISTATS 2010), per-layer gradient and activation statistics over
    depth, https://proceedings.mlr.press/v9/glorot10a.html.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from keras_init_lab import _tags
from keras_init_lab._names import unknown_name_error

__all__ = [
    "STATISTIC",
    "STATISTICS",
    "Statistic",
    "build_profiles",
    "depth_verdict",
    "layers_of",
    "layout_layer_order",
    "natural_key",
    "order_layers",
    "suffix_of",
]


@dataclasses.dataclass(frozen=True)
class Statistic:
    """One per-layer statistic the plugin can draw against the layer index.

    Attributes:
        key: the name used in the data route (``?stat=``).
        label: the axis label.
        suffix: the per-layer tag suffix the callbacks write (``<layer>/<suffix>``), from
            :mod:`keras_init_lab.callbacks._tags`.
        square: plot the square of the tag's value (the variance from a standard deviation).
        scale: ``"log"`` when the statistic spans decades over the depth, else ``"linear"``.
        log10_values: the values are already log10 of a quantity (the band is +-1, not x10).
        anchor: where the signal starts, for the band and the verdict: ``"first"`` (forward
            quantities: the input side), ``"last"`` (gradients: backprop starts at the
            output), or ``None`` (no band: fractions, which are not a multiplicative signal).
        meaning: one sentence on how to read the profile.
        legacy_suffixes: the suffixes of the same statistic in logs written by earlier
            versions of the callbacks (``gradient/norm``, ``activation/std``, ...), read when
            a run has none of the current ones.
    """

    key: str
    label: str
    suffix: str
    square: bool
    scale: str
    log10_values: bool
    anchor: str | None
    meaning: str
    legacy_suffixes: tuple[str, ...] = ()

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The current suffix, then the legacy ones."""
        return (self.suffix, *self.legacy_suffixes)


#: The statistics, in the order of the plugin's menu. The tag suffixes are the names of
#: ``callbacks/_tags.py``, which both callbacks write; the legacy ones are the tags the
#: callbacks wrote before it (``<layer>/gradient/norm``, ``<layer>/activation/std``, ...).
#: The activation variance is the square of the ``std`` the callback writes (no variance
#: tag exists).
STATISTICS = (
    Statistic(
        "gradient_norm",
        "gradient norm ||g|| of the layer",
        _tags.GRADIENT_NORM,
        False,
        "log",
        False,
        "last",
        "Backprop runs from the output (right) to the input (left): a line falling to the left "
        "is a vanishing gradient, rising to the left an exploding one.",
        ("gradient/norm",),
    ),
    Statistic(
        "gradient_log10_norm",
        "log10 of the gradient norm",
        _tags.GRADIENT_LOG10_NORM,
        False,
        "linear",
        True,
        "last",
        "The same profile in decades: one unit is a factor 10.",
        ("gradient/log10_norm",),
    ),
    Statistic(
        "activation_variance",
        "activation variance (std^2 on the probe batch)",
        _tags.ACTIVATION_STD,
        True,
        "log",
        False,
        "first",
        "The forward signal: a line falling to the right vanishes, rising to the right explodes.",
        ("activation/std",),
    ),
    Statistic(
        "update_ratio",
        "update / weight ratio ||dw|| / ||w||",
        _tags.UPDATE_RATIO,
        False,
        "log",
        False,
        "last",
        "How fast each layer learns: about 1e-3 per step is the classic healthy value; layers "
        "orders of magnitude apart learn at different speeds.",
        ("update/ratio",),
    ),
    Statistic(
        "weight_std",
        "weight standard deviation",
        _tags.WEIGHT_STD,
        False,
        "log",
        False,
        None,
        "Compare with the initializer's target std (e.g. sqrt(2 / fan_in) for He).",
        ("weight/std",),
    ),
    Statistic(
        "dead_fraction",
        "dead fraction (ReLU-family units never > 0 on the probe)",
        _tags.DEAD_FRACTION,
        False,
        "linear",
        False,
        None,
        "0 is healthy; a dead unit gets no gradient from any probe sample.",
        ("activation/dead_fraction",),
    ),
    Statistic(
        "saturation_fraction",
        "saturated fraction (tanh/sigmoid values in the flat tails)",
        _tags.SATURATED_FRACTION,
        False,
        "linear",
        False,
        None,
        "That share of the values passes almost no gradient back; above ~0.5 the layer is "
        "mostly saturated.",
        ("activation/saturation_fraction",),
    ),
)
#: ``{key: Statistic}``.
STATISTIC = {statistic.key: statistic for statistic in STATISTICS}

_NUMBER = re.compile(r"(\d+)")
#: A layout regex naming layers literally: ``^(?:a|b|c)/suffix$`` (what GradientStats writes,
#: names passed through ``re.escape``) or ``^a/suffix$``.
_ALTERNATION = re.compile(r"^\^\(\?:(?P<names>.*)\)/(?P<suffix>[^()|]+)\$$")
_SINGLE = re.compile(r"^\^(?P<names>(?:[^\\()|]|\\.)+?)/(?P<suffix>[^()|]+)\$$")
#: Characters that make a regex more than an escaped literal name.
_REGEX_SYNTAX = set(".^$*+?{}[]()|")


def natural_key(name: str) -> tuple:
    """Sort key that reads the numbers in a name as numbers.

    Formula: ``name`` split into text and digit runs, digits as ints: ``"dense_10"`` ->
    ``("dense_", 10, "")``, so ``dense`` < ``dense_1`` < ``dense_2`` < ``dense_10``.

    Example:
        >>> sorted(["dense_10", "dense_2", "dense"], key=natural_key)
        ['dense', 'dense_2', 'dense_10']

    Args:
        name: a layer name.

    Returns:
        A tuple usable as a sort key (text parts compare with text, numbers with numbers).
    """
    parts = _NUMBER.split(name)
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def _literal_alternatives(text: str) -> list[str] | None:
    """Split ``a|b\\|c`` on unescaped bars and drop the escapes; ``None`` if not literal."""
    names, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index + 1])
            index += 2
            continue
        if char == "|":
            names.append("".join(current))
            current = []
        elif char in _REGEX_SYNTAX:
            return None
        else:
            current.append(char)
        index += 1
    names.append("".join(current))
    return names if all(names) else None


def layout_layer_order(layout_bytes: bytes) -> list[str]:
    """Layer names in the order a custom-scalars layout lists them (first appearance).

    Only regular expressions that name layers literally count (``^(?:a|b)/gradient/norm$``,
    as ``GradientStats`` writes them in the model's forward order); patterns such as
    ``.*/activation/std$`` name none.

    Example:
        >>> from tensorboard.plugins.custom_scalar import layout_pb2
        >>> layout = layout_pb2.Layout()
        >>> chart = layout.category.add(title="g").chart.add(title="norm")
        >>> chart.multiline.tag.append(r"^(?:dense_2|dense_1)/gradient/norm$")
        >>> layout_layer_order(layout.SerializeToString())
        ['dense_2', 'dense_1']

    Args:
        layout_bytes: a serialized ``tensorboard.plugins.custom_scalar.layout_pb2.Layout``.

    Returns:
        The names, each once.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    layout = layout_pb2.Layout()
    layout.ParseFromString(layout_bytes)
    order: list[str] = []
    for category in layout.category:
        for chart in category.chart:
            patterns = list(chart.multiline.tag) or list(chart.margin.series)
            for pattern in patterns:
                pattern = pattern if isinstance(pattern, str) else pattern.value
                match = _ALTERNATION.match(pattern) or _SINGLE.match(pattern)
                names = _literal_alternatives(match.group("names")) if match else None
                for name in names or ():
                    if name not in order:
                        order.append(name)
    return order


def suffix_of(tags: Iterable[str], statistic: Statistic) -> str | None:
    """The suffix of ``statistic`` that ``tags`` (one run's) use: the current one, else a legacy.

    Example:
        >>> suffix_of(["dense/gradient/norm"], STATISTIC["gradient_norm"])
        'gradient/norm'
        >>> suffix_of(["dense/details/gradient_norm"], STATISTIC["gradient_norm"])
        'details/gradient_norm'

    Returns:
        The first of ``statistic.suffixes`` that some tag ``<layer>/<suffix>`` has, or None.
    """
    tags = list(tags)
    for suffix in statistic.suffixes:
        tail = "/" + suffix
        if any(tag.endswith(tail) and len(tag) > len(tail) for tag in tags):
            return suffix
    return None


def layers_of(tags: Iterable[str], statistic: Statistic) -> list[str]:
    """The layer names of the tags ``<layer>/<suffix>`` among ``tags`` (unordered).

    ``suffix`` is :func:`suffix_of` the tags: logs written with the current names and logs
    written before them (legacy names) both work; one run uses one of them.

    Example:
        >>> layers_of(["dense/details/gradient_norm", "dense/details/kernel/gradient_norm"],
        ...           STATISTIC["gradient_norm"])
        ['dense']
    """
    tags = list(tags)
    suffix = suffix_of(tags, statistic)
    if suffix is None:
        return []
    tail = "/" + suffix
    return [tag[: -len(tail)] for tag in tags if tag.endswith(tail) and len(tag) > len(tail)]


def _parent(run: str) -> str:
    return run.rsplit("/", 1)[0] if "/" in run else ""


def order_layers(
    run: str, layers: Sequence[str], layouts: Mapping[str, Sequence[str]]
) -> tuple[list[str], dict]:
    """Order ``layers`` of ``run`` from the input to the output (see the module docstring).

    Example:
        >>> order_layers("exp/activations", ["b", "a"], {"exp/train": ["a", "b", "out"]})
        (['a', 'b'], {'source': 'sibling_layout', 'run': 'exp/train'})
        >>> order_layers("r", ["dense_10", "dense_2"], {})
        (['dense_2', 'dense_10'], {'source': 'names', 'run': None})

    Args:
        run: the run's name.
        layers: its layer names.
        layouts: ``{run: layer order read from its layout}`` (:func:`layout_layer_order`).

    Returns:
        ``(ordered layers, {"source": "layout" | "sibling_layout" | "names", "run": the run
        whose layout gave the order, or None})``.
    """
    wanted = set(layers)
    parent = _parent(run)
    candidates = [(run, "layout")] + [
        (other, "sibling_layout")
        for other in sorted(layouts)
        if other != run and _parent(other) == parent
    ]
    for source_run, source in candidates:
        order = layouts.get(source_run) or ()
        if wanted and wanted <= set(order):
            return [name for name in order if name in wanted], {"source": source, "run": source_run}
    return sorted(wanted, key=natural_key), {"source": "names", "run": None}


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def build_profiles(
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    statistic: Statistic,
    layouts: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """The depth profile of ``statistic`` for every run that has its tags.

    Formula: for run ``r`` with ordered layers ``l_1..l_L`` and steps ``s_1 < ... < s_T`` (every
    step at which any layer has a value), ``values[t][i]`` is the value of tag
    ``<l_i>/<suffix>`` at step ``s_t`` (squared when ``statistic.square``), ``None`` when that
    layer has no value at ``s_t`` or it is not finite (JSON has no NaN or inf).

    Example:
        >>> series = {"train": {"b/gradient/norm": [(0, 2.0)], "a/gradient/norm": [(0, 1.0)]}}
        >>> build_profiles(series, STATISTIC["gradient_norm"], {"train": ["a", "b"]})["train"]
        {'layers': ['a', 'b'], 'order': {'source': 'layout', 'run': 'train'}, 'steps': [0], \
'values': [[1.0, 2.0]]}

    Args:
        series: ``{run: {tag: [(step, value), ...]}}`` (other tags are ignored).
        statistic: a :class:`Statistic`.
        layouts: ``{run: layer order}`` from the runs' custom-scalars layouts.

    Returns:
        ``{run: {"layers", "order", "steps", "values"}}`` for the runs that have the statistic.
    """
    layouts = layouts or {}
    result = {}
    for run in sorted(series):
        tags = series[run]
        layers, order = order_layers(run, layers_of(tags, statistic), layouts)
        if not layers:
            continue
        suffix = suffix_of(tags, statistic)
        by_layer = []
        for layer in layers:
            points = {}
            for step, value in tags[f"{layer}/{suffix}"]:
                value = float(value)
                points[int(step)] = value * value if statistic.square else value
            by_layer.append(points)
        steps = sorted(set().union(*by_layer))
        values = [
            [_finite(points[step]) if step in points else None for points in by_layer]
            for step in steps
        ]
        result[run] = {"layers": layers, "order": order, "steps": steps, "values": values}
    return result


def get_statistic(key) -> Statistic:
    """The :class:`Statistic` named ``key``.

    Raises:
        TypeError: ``key`` is not a string.
        ValueError: an unknown key (the message lists the closest valid ones).
    """
    if not isinstance(key, str):
        raise TypeError(f"stat must be a string such as 'gradient_norm'; received stat={key!r}.")
    if key not in STATISTIC:
        raise unknown_name_error("statistic", key, STATISTIC)
    return STATISTIC[key]


def depth_verdict(change: float | None, stable: float, extreme: float) -> str:
    """The verdict word of an end-to-end change over the depth, in ``propagate``'s words.

    Formula: ``change = end / start`` (start at the anchor layer); below ``1 / extreme``
    "vanishing", below ``1 / stable`` "decaying", up to ``stable`` "stable", up to ``extreme``
    "growing", beyond "exploding"; ``0`` or ``None`` (nothing left to divide) "vanishing",
    ``inf`` "exploding". The thresholds are ``propagation.STABLE_FACTOR`` (10) and
    ``EXTREME_FACTOR`` (1000).

    Example:
        >>> depth_verdict(0.5 ** 29, 10.0, 1000.0)
        'vanishing'
        >>> depth_verdict(3.0, 10.0, 1000.0)
        'stable'

    Args:
        change: ``end / start``.
        stable: the factor within which the change is "stable".
        extreme: the factor beyond which it is "vanishing" / "exploding".

    Returns:
        One of ``propagation.VERDICTS``.
    """
    if change is None or change <= 0:
        return "vanishing"
    if change < 1.0 / extreme:
        return "vanishing"
    if change < 1.0 / stable:
        return "decaying"
    if change <= stable:
        return "stable"
    if change <= extreme:
        return "growing"
    return "exploding"
