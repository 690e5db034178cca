"""What ``check_model`` returns: findings, per-layer predictions and the printed report.

Identical findings about several layers (same rule, severity, message and fix) are merged
into one :class:`Finding` that names the range of layers, so a 20-layer model with zero
kernels prints one error paragraph, not twenty.

Example:
    >>> a = Finding("error", "d1", "same weights", "use he_normal", "symmetric-init",
    ...             layers=("d1",), positions=(1,))
    >>> b = Finding("error", "d2", "same weights", "use he_normal", "symmetric-init",
    ...             layers=("d2",), positions=(2,))
    >>> (merged,) = group_findings([a, b])
    >>> merged.where
    'd1 .. d2 (Dense/Conv layers 1-2)'
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

__all__ = [
    "SEVERITIES",
    "VARIANCE_BAND",
    "Finding",
    "LayerPrediction",
    "ModelCheck",
    "format_factor",
    "group_findings",
    "layer_ranges",
]

#: The three severities, most serious first (the order of the printed report).
SEVERITIES = ("error", "warning", "info")

#: Accepted range of the predicted pre-activation variance, relative to standardized inputs
#: (variance 1): two orders of magnitude either way, i.e. a standard deviation between 0.1 and
#: 10. Below it the signal has shrunk to a tenth of the input's scale (the vanishing
#: sigma^2 = 0.001 and 0.01 curves of lecture 002, initialization); above it tanh and sigmoid
#: saturate (|z| > 5 gives sigmoid'(z) < 0.007) and softmax logits overflow quickly.
VARIANCE_BAND = (1e-2, 1e2)


@dataclass(frozen=True)
class Finding:
    """One problem (or remark) about one layer, a stack of layers, or a range of them.

    Attributes:
        severity: ``"error"`` (the model cannot learn as configured), ``"warning"`` (it will
            learn badly or slowly) or ``"info"``.
        layer: the name of the (first) layer concerned.
        message: what is wrong and why, with the numbers and the course's lesson.
        fix: one line saying what to change (never what the layer already has).
        rule: short identifier of the rule (``"symmetric-init"``, ``"relu-glorot"``...).
        layers: every layer this finding was merged from (see :func:`group_findings`); a
            finding about a stack names the stack in its message and keeps ``(layer,)``.
        positions: 1-based positions of ``layers`` among the model's Dense/Conv layers.
    """

    severity: str
    layer: str
    message: str
    fix: str
    rule: str
    layers: tuple[str, ...] = ()
    positions: tuple[int, ...] = ()

    @property
    def where(self) -> str:
        """The layer's name, or ``"first .. last (Dense/Conv layers 1-5, 8)"`` for a group."""
        if len(self.layers) <= 1:
            return self.layer
        return (
            f"{self.layers[0]} .. {self.layers[-1]} "
            f"(Dense/Conv layers {layer_ranges(self.positions)})"
        )

    def __str__(self) -> str:
        return f"{self.severity.upper():<7} {self.where}: {self.message}\n        fix: {self.fix}"


def layer_ranges(positions) -> str:
    """Compress sorted 1-based positions into ranges: ``(1, 2, 3, 7)`` -> ``"1-3, 7"``."""
    parts: list[str] = []
    run: list[int] = []
    for position in sorted(positions):
        if run and position == run[-1] + 1:
            run.append(position)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [position]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ", ".join(parts)


def group_findings(findings: list[Finding]) -> list[Finding]:
    """Merge findings that differ only by their layer into one finding naming every layer.

    Two findings merge when rule, severity, message and fix are equal: the message then says
    the same thing about each layer, so printing it once per layer only buries the others.
    The merged finding keeps the first layer's position in the list.
    """
    merged: dict[tuple, Finding] = {}
    for finding in findings:
        key = (finding.rule, finding.severity, finding.message, finding.fix)
        if key not in merged:
            merged[key] = finding
            continue
        first = merged[key]
        merged[key] = replace(
            first,
            layers=first.layers + finding.layers,
            positions=first.positions + finding.positions,
        )
    return list(merged.values())


def format_factor(factor: float, tolerance: float | None = None) -> str:
    """A factor with enough digits to differ from 1 (``1.0001``, never ``1``).

    The factor is printed with as many decimals as it takes for its distance from 1 to show;
    within ``tolerance`` of 1 (when given) it is called preserved.

    Example:
        >>> format_factor(1.0401, 1e-3), format_factor(1.0001, 1e-3), format_factor(0.5)
        ('1.04', 'preserved (1.0001, within 0.1% of 1)', '0.5')
    """
    distance = abs(factor - 1.0)
    if not 0.01 <= abs(factor) < 1e4 or distance == 0:
        text = f"{factor:.3g}"
    else:  # two significant digits of the distance from 1, at least two decimals
        digits = max(2, math.ceil(-math.log10(distance)) + 1)
        text = f"{factor:.{digits}f}".rstrip("0").rstrip(".")
    if tolerance is not None and distance <= tolerance:
        return f"preserved ({text}, within {tolerance:.1%} of 1)".replace(".0%", "%")
    return text


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
        backward_gain: predicted factor by which this layer multiplies the gradient's
            second moment on its way back, ``fan_out * E[W^2] * E[a'(f)^2]`` (None if unknown).
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
    backward_gain: float | None = None


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
            lines.extend(_prediction_table(self.predictions, self.band))
        return "\n".join(lines)


def _prediction_table(predictions: list[LayerPrediction], band: tuple[float, float]) -> list:
    low, high = band
    lines = [
        f"\nPredicted forward signal (standardized inputs, E[x^2] = 1; sane band "
        f"{low:g} <= Var(pre-activation) <= {high:g}; 'back' = fan_out E[W^2] E[a'(f)^2], "
        "the per-layer factor on the gradient's second moment):",
        f"  {'layer':<20} {'initializer':<26} {'activation':<12} {'fan_in':>6} "
        f"{'E[W^2]':>9} {'Var(pre-act)':>12} {'back':>7}",
    ]
    for p in predictions:
        lines.append(
            f"  {p.layer:<20} {p.initializer[:26]:<26} {p.activation[:12]:<12} "
            f"{_fmt_int(p.fan_in):>6} {_fmt(p.weight_variance):>9} "
            f"{_fmt(p.pre_activation_variance):>12} {_fmt(p.backward_gain):>7}" + _band_mark(p)
        )
    return lines


def _band_mark(p: LayerPrediction) -> str:
    if p.in_band in (None, True):
        return ""
    return "  <- zero signal" if p.pre_activation_variance == 0 else "  <- outside band"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _fmt_int(value: int | None) -> str:
    return "?" if value is None else str(value)
