"""The rules of ``check_model``, one small function each.

Every rule takes the described layers (:class:`~keras_init_lab.diagnostics.describe.LayerEntry`)
and their predictions (:class:`~keras_init_lab.diagnostics.report.LayerPrediction`, same order)
and returns findings. Rules that speak about how the signal behaves read the same predicted
numbers the printed table shows, so a message never contradicts the table beside it. A fix
never proposes the initializer the layer already has.

Example:
    >>> [rule.__name__ for rule in RULES][:2]
    ['symmetry_rule', 'dead_relu_rule']
"""

from __future__ import annotations

import math

from keras_init_lab import initializers as kil_initializers
from keras_init_lab.diagnostics.describe import LayerEntry, describe_initializer
from keras_init_lab.diagnostics.report import Finding, LayerPrediction, format_factor
from keras_init_lab.fans import gaussian_expectation

__all__ = [
    "DEEP_STACK_LAYERS",
    "GRADIENT_DROP",
    "PRESERVED_TOLERANCE",
    "RULES",
    "SATURATED_SLOPE_FRACTION",
    "SIGNAL_DROP",
    "dead_relu_rule",
    "hidden_softmax_rule",
    "leaky_gain_rule",
    "output_kernel_rule",
    "saturating_he_rule",
    "sigmoid_depth_rule",
    "symmetry_rule",
    "variance_band_rule",
]

#: Glorot + ReLU layers from which a stack is flagged when the model is not built (no
#: predicted variances to read): lecture 002's recursion halves the variance at every square
#: Glorot + ReLU layer, so 5 layers lose 2^-4 = 1/16 from the first to the last, past
#: :data:`SIGNAL_DROP`. Depth alone is never the criterion when the prediction exists, and no
#: rule counts tanh layers: lecture 004's "with sigmoid or tanh it is hard to train more than
#: 4-5 layers" holds for the sigmoid (slope <= 0.25) but not for tanh with Xavier, whose
#: predicted gradient norm falls only 6.5x over 30 square layers (a 30-layer Xavier + tanh MLP
#: trains; see the course companion's errata).
DEEP_STACK_LAYERS = 5

#: A Glorot + ReLU stack is flagged when its predicted pre-activation variance at the last
#: layer is below this fraction of the first's (a decade lost; 5 square layers lose 1/16,
#: 4 lose 1/8).
SIGNAL_DROP = 0.1

#: A sigmoid stack is a warning (else info) when its predicted gradient norm at the first
#: sigmoid layer is below this fraction of the last's (two decades: with Xavier's square layers
#: each sigmoid layer divides the norm by about 4.2, so from 4 layers on); without a prediction
#: the slope bound 0.25 per layer stands in for it.
GRADIENT_DROP = 0.01

#: A per-layer variance factor within this distance of 1 is reported as preserved: 1% per
#: layer compounds to under 1.22x over 20 layers, well inside the variance band.
PRESERVED_TOLERANCE = 0.01

#: A unit counts as saturated where its slope is below this fraction of the activation's
#: largest slope (tanh: |z| > 1.82; sigmoid: |z| > 3.64): the gradient through it is cut by 10x.
SATURATED_SLOPE_FRACTION = 0.1

#: Compounded drift over a leaky stack above which the leaky-gain finding is a warning.
_LEAKY_DRIFT_WARNING = 1.1


def _finding(severity: str, entry: LayerEntry, message: str, fix: str, rule: str) -> Finding:
    return Finding(severity, entry.name, message, fix, rule, (entry.name,), (entry.number,))


def _names_list(entries: list[LayerEntry], limit: int = 4) -> str:
    names = [e.name for e in entries]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _already_has(entry: LayerEntry, name: str | None) -> bool:
    """Whether the layer's initializer is already of the family ``name`` belongs to."""
    if name is None:
        return False
    try:
        wanted = describe_initializer(kil_initializers.get(name))
    except (TypeError, ValueError):
        return False
    return wanted.kind == entry.init.kind and wanted.fan_mode == entry.init.fan_mode


def _variances(predictions: list[LayerPrediction]) -> list[float] | None:
    values = [p.pre_activation_variance for p in predictions]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return values


def _per_layer_factor(values: list[float]) -> float | None:
    """Geometric-mean ratio of consecutive predicted variances over a stack."""
    if len(values) < 2 or values[0] <= 0:
        return None
    return (values[-1] / values[0]) ** (1.0 / (len(values) - 1))


# --------------------------------------------------------------------------- the rules


def symmetry_rule(entries, predictions) -> list[Finding]:
    """Zero or constant kernel in a hidden layer of more than one unit (error).

    Every unit gets the same weights, computes the same output and receives the same
    gradient, so the units never become different (lecture 001, the perceptron and
    activations: "all neurons predict the same").
    """
    found = []
    for e in entries:
        if e.init.kind != "constant" or e.output or (e.units or 2) <= 1:
            continue
        zeros = e.init.constant == 0
        message = (
            f"kernel initializer {e.init.label} gives every one of its {e.units} units the same "
            "weights, so they compute the same output and receive the same gradient: the "
            "symmetry is never broken"
            + (" and with zeros the gradient to earlier layers is 0" if zeros else "")
            + " (lecture 001, parameter initialization: all neurons predict the same)."
        )
        fix = (
            f"kernel_initializer='{e.act.recommended or 'glorot_uniform'}' "
            "(random; keep bias_initializer='zeros')."
        )
        found.append(_finding("error", e, message, fix, "symmetric-init"))
    return found


def dead_relu_rule(entries, predictions) -> list[Finding]:
    """ReLU-family units after Glorot kernels whose predicted variance falls (warning).

    Fires when the predicted pre-activation variance of the unnormalized hidden Glorot + ReLU
    stack falls below :data:`SIGNAL_DROP` of its first layer's (without a prediction: from
    :data:`DEEP_STACK_LAYERS` layers on). The message names the variance loss, not dead units:
    with zero biases the same draws at He scale have exactly the same dead units (ReLU is
    positively homogeneous, so scaling the kernels changes no sign).
    """
    stack = [
        (e, p)
        for e, p in zip(entries, predictions)
        if not e.output and e.act.family == "relu" and e.init.kind == "glorot" and not e.normalized
    ]
    if not stack:
        return []
    first = stack[0][0]
    n = len(stack)
    values = _variances([p for _, p in stack])
    if values is None or values[0] <= 0:
        if n < DEEP_STACK_LAYERS:
            return []
        measured = ""
    else:
        if n < 2 or values[-1] >= SIGNAL_DROP * values[0]:
            return []
        measured = (
            f"; predicted here: Var(pre-activation) {values[0]:.3g} at {first.name} -> "
            f"{values[-1]:.3g} at {stack[-1][0].name}"
        )
    message = (
        f"{first.act.text} after a Glorot/Xavier kernel in a stack of {n} such layers "
        f"({_names_list([e for e, _ in stack])}): Glorot keeps Var(f) only for a linear/tanh "
        "unit; ReLU zeroes half of it, so with fan_in = fan_out the variance halves at every "
        f"layer, 2^-{n} = {2.0**-n:.2g} over the stack{measured}. Lecture 002, "
        "initialization, calls Xavier + ReLU risky for dead neurons; the risk is this "
        "shrinking signal, not dead units: with zero biases the same draws at He scale have "
        "exactly the same dead units (scaling a ReLU layer's kernel changes no sign). Dead "
        "units come from depth and the signs of the draws, or from a learning-rate blow-up "
        "in training; a leaky slope or BatchNorm before the activation removes them."
    )
    fix = (
        f"kernel_initializer='{first.act.recommended or 'he_normal'}' in these layers "
        "(He: Var(W) = 2/fan_in keeps the variance)."
    )
    return [_finding("warning", first, message, fix, "relu-glorot")]


def _saturated_fraction(entry: LayerEntry, variance: float) -> float | None:
    act = entry.act
    if act.derivative is None or not act.max_slope:
        return None
    limit = SATURATED_SLOPE_FRACTION * act.max_slope
    return gaussian_expectation(
        lambda f: (act.derivative(f) < limit).astype(float), std=math.sqrt(variance)
    )


def _lesson(act_family: str, gain: float | None, n: int) -> str:
    if act_family == "sigmoid":
        return (
            "lecture 004, activation functions: sigmoid'(z) <= 0.25, so each sigmoid layer cuts "
            "the gradient even before it saturates"
        )
    if gain is not None and gain < 1:
        return (
            "lecture 002, initialization, warns that Kaiming + tanh can make the gradients "
            f"explode; with these numbers they shrink instead ({gain**n:.3g} over {n} layers)"
        )
    return "lecture 002, initialization: Kaiming + tanh is risky, the gradients can explode"


def saturating_he_rule(entries, predictions) -> list[Finding]:
    """tanh/sigmoid after He kernels, not normalized (warning), described by the prediction."""
    stack = [
        (e, p)
        for e, p in zip(entries, predictions)
        if e.act.family in ("tanh", "sigmoid")
        and e.init.kind in ("he", "leaky_he")
        and not e.normalized
    ]
    found = []
    for family in ("tanh", "sigmoid"):
        group = [(e, p) for e, p in stack if e.act.family == family]
        if group:
            found.append(_saturating_he_finding(group))
    return found


def _saturating_he_finding(group) -> Finding:
    first, n = group[0][0], len(group)
    act = first.act.name
    values = _variances([p for _, p in group])
    gains = [p.backward_gain for _, p in group]
    head = (
        f"{first.act.text} with He initialization ({first.init.label}) in {n} layer(s) "
        f"({_names_list([e for e, _ in group])}): He's Var(W) = 2/fan makes up for ReLU zeroing "
        f"half of its inputs, and {act} zeroes none."
    )
    if values is None or any(g is None for g in gains):
        body = (
            " The model is not built, so the size of the effect is not predicted (give it an "
            f"Input); {_lesson(first.act.family, None, n)}."
        )
    else:
        sat = _saturated_fraction(first, values[-1])
        sat_text = (
            ""
            if sat is None
            else (
                f", {sat:.1%} of the units where {act}' < "
                f"{SATURATED_SLOPE_FRACTION:.0%} of its peak"
            )
        )
        if values[-1] > 2.0 * values[0] or (sat is not None and sat > 0.1):
            forward = (
                f" The predicted Var(pre-activation) grows from {values[0]:.3g} to "
                f"{values[-1]:.3g}{sat_text}: the units are pushed into saturation."
            )
        else:
            forward = (
                f" The predicted Var(pre-activation) does not grow ({values[0]:.3g} at "
                f"{first.name} -> {values[-1]:.3g}{sat_text}), so saturation is not the "
                "problem here."
            )
        gain = math.exp(sum(math.log(g) for g in gains) / n) if min(gains) > 0 else 0.0
        body = forward + (
            f" On the way back each layer multiplies the gradient's second moment by "
            f"{gain:.3g} (fan_out E[W^2] E[{act}'(f)^2]), {gain**n:.3g} over the {n} layer(s) "
            f"({_lesson(first.act.family, gain, n)})."
        )
    recommended = first.act.recommended or "glorot_uniform"
    fix = (
        f"kernel_initializer='{recommended}' (Xavier: Var(W) = 2/(fan_in + fan_out), the "
        f"course's pairing for {act}), or BatchNormalization before the activation."
    )
    return _finding("warning", first, head + body, fix, "saturating-he")


def sigmoid_depth_rule(entries, predictions) -> list[Finding]:
    """Sigmoid in hidden layers: warning when the predicted gradient norm falls below
    :data:`GRADIENT_DROP` of its size over the stack, info otherwise.

    Formula: the predicted gradient-norm factor is ``sqrt(prod_k g_k)`` with ``g_k`` each
    sigmoid layer's backward gain ``fan_out E[W^2] E[sigma'(f)^2]``; without a prediction,
    the slope bound ``0.25^n``.
    """
    pairs = [
        (e, p) for e, p in zip(entries, predictions) if not e.output and e.act.family == "sigmoid"
    ]
    if not pairs:
        return []
    hidden = [e for e, _ in pairs]
    n = len(hidden)
    gains = [p.backward_gain for _, p in pairs]
    if all(g is not None and math.isfinite(g) and g > 0 for g in gains):
        factor = math.sqrt(math.prod(gains))
        per_layer = math.exp(sum(math.log(g) for g in gains) / n)
        predicted = (
            f"; predicted here: each layer multiplies the gradient's second moment by "
            f"{per_layer:.3g} (fan_out E[W^2] E[sigma'(f)^2]), so across the {n} layer(s) "
            f"the gradient's norm is multiplied by {factor:.2g}"
        )
    else:
        factor = 0.25**n
        predicted = " (not built: the slope bound stands in for the prediction)"
    message = (
        f"sigmoid in {n} hidden layer(s) ({_names_list(hidden)}): sigma'(z) <= 0.25 caps every "
        f"layer's slope, 0.25^{n} = {0.25**n:.2g} (lecture 004, activation functions: "
        f"0.25^20 ~ 9.1e-13, and sigmoid is hardly used in hidden layers today){predicted}; "
        f"a warning below {GRADIENT_DROP:g}."
    )
    if all(_already_has(e, "he_normal") for e in hidden):
        fix = (
            "activation='relu' in hidden layers (their He initialization is already ReLU's "
            "pairing; keep sigmoid for a binary output)."
        )
    else:
        fix = (
            "activation='relu' with kernel_initializer='he_normal' in hidden layers (keep "
            "sigmoid for a binary output)."
        )
    severity = "warning" if factor < GRADIENT_DROP else "info"
    return [_finding(severity, hidden[0], message, fix, "sigmoid-deep")]


def _describe_he(entry: LayerEntry) -> str:
    if entry.init.kind == "leaky_he":
        return f"leaky He for slope {entry.init.negative_slope:g}"
    if entry.init.fan_mode == "fan_avg":
        return (
            "He with the fan average (Var(W) = 2/fan_avg = 4/(fan_in + fan_out), gain sqrt(2) "
            "computed for ReLU)"
        )
    return "plain He (Var(W) = 2/fan_in, gain sqrt(2) computed for ReLU)"


def leaky_gain_rule(entries, predictions) -> list[Finding]:
    """Leaky ReLU with He computed for another slope (warning if the drift compounds, else info).

    Formula: the leaky gain is ``sqrt(2 / (1 + alpha^2))``; with He's ``sqrt(2)`` each layer
    multiplies the variance by ``(1 + alpha^2) / (1 + alpha_init^2)`` (square layers).
    """
    stack = []
    for e, p in zip(entries, predictions):
        if e.output or e.act.negative_slope <= 0 or e.init.kind not in ("he", "leaky_he"):
            continue
        expected = e.init.negative_slope if e.init.kind == "leaky_he" else 0.0
        if not math.isclose(e.act.negative_slope, expected, rel_tol=1e-6, abs_tol=1e-12):
            stack.append((e, p, expected))
    if not stack:
        return []
    first, _, expected = stack[0]
    alpha, n = first.act.negative_slope, len(stack)
    values = _variances([p for _, p, _ in stack])
    factor = _per_layer_factor(values) if values is not None else None
    source = "predicted over the stack"
    if factor is None:
        factor = (1 + alpha**2) / (1 + expected**2)
        source = f"(1 + {alpha:g}^2)/(1 + {expected:g}^2), for square layers"
    drift = factor**n
    shown = format_factor(factor, PRESERVED_TOLERANCE)
    if shown.startswith("preserved"):
        per_layer = f"the variance is {shown} per layer ({source})"
    else:
        per_layer = f"the variance changes by a factor {shown} per layer ({source})"
    names = _names_list([e for e, _, _ in stack])
    message = (
        f"{first.act.text} with slope {alpha:g} in {n} layer(s) ({names}) initialized with "
        f"{_describe_he(first)}: the leaky gain is sqrt(2/(1+alpha^2)) = "
        f"{math.sqrt(2 / (1 + alpha**2)):.4f}, so {per_layer}, "
        f"{format_factor(factor)}^{n} = {format_factor(drift)} over {n} layer(s)."
    )
    fix = f"kernel_initializer=keras_init_lab.initializers.LeakyHeNormal(negative_slope={alpha:g})."
    worst = max(drift, 1.0 / drift) if drift > 0 else math.inf
    severity = "warning" if worst > _LEAKY_DRIFT_WARNING else "info"
    return [_finding(severity, first, message, fix, "leaky-gain")]


def hidden_softmax_rule(entries, predictions) -> list[Finding]:
    """Softmax in a hidden layer (warning): it couples the units into one probability vector."""
    found = []
    for e in entries:
        if e.act.family == "softmax" and not e.output:
            message = (
                f"softmax in a hidden layer: it turns the {e.units} units into one probability "
                "vector that sums to 1, coupling them and shrinking each to ~1/n (lecture 003, "
                "fundamentals of deep neural networks: softmax is generally used in the last "
                "layer)."
            )
            fix = "use relu (or tanh) here and keep softmax for the multiclass output layer."
            found.append(_finding("warning", e, message, fix, "hidden-softmax"))
    return found


def output_kernel_rule(entries, predictions) -> list[Finding]:
    """Zero output kernel (info): output units learn, but earlier layers get no first gradient."""
    found = []
    for e in entries:
        if e.output and e.init.kind == "constant" and e.init.constant == 0:
            message = (
                f"output kernel starts at zeros ({e.init.label}): the output units still learn "
                "(each gets its own error signal), but the first step sends no gradient to "
                "earlier layers."
            )
            fix = (
                "fine for a linear read-out; use kernel_initializer='glorot_uniform' to train "
                "every layer from the first step."
            )
            found.append(_finding("info", e, message, fix, "zero-output-kernel"))
    return found


def variance_band_rule(entries, predictions, band) -> list[Finding]:
    """First layer whose predicted pre-activation variance leaves ``band`` (warning)."""
    low, high = band
    for index, (e, p) in enumerate(zip(entries, predictions)):
        if e.init.kind == "constant":
            if e.init.constant == 0:
                return []  # everything after a zero kernel is 0: symmetry_rule says why
            continue
        if p.in_band is not False:
            continue
        variance = p.pre_activation_variance
        direction = "vanished" if variance < low else "exploded"
        message = (
            f"predicted pre-activation variance {variance:.3g} is outside the band "
            f"[{low:g}, {high:g}]: the signal has {direction} by this layer (inputs assumed "
            "standardized). Each layer multiplies it by fan_in E[W^2] E[a(f)^2]/Var(f) "
            "(lecture 002, initialization: sigma_f'^2 = D_h sigma_W^2 sigma_f^2 / 2 for ReLU)."
        )
        recommended = e.act.recommended
        before = entries[:index]
        if _already_has(e, recommended) or recommended is None:
            where = "the output layer" if e.output else "this layer"
            fix = (
                f"{where}'s own {e.init.label} is not the cause"
                + (f" (it is the course's pairing for {e.act.name})" if recommended else "")
                + "; the drift comes from the layers before it"
                + (f" ({before[0].name} .. {before[-1].name})" if before else "")
                + ": fix their initializers (see the findings above), add "
                "BatchNormalization, or run keras_init_lab.lsuv(model, x_batch)."
            )
        else:
            fix = (
                f"kernel_initializer='{recommended}' for {e.act.name}, or add "
                "BatchNormalization, or run keras_init_lab.lsuv(model, x_batch)."
            )
        return [_finding("warning", e, message, fix, "variance-band")]
    return []


#: The rules that need only the layers and predictions, in report order.
RULES = (
    symmetry_rule,
    dead_relu_rule,
    saturating_he_rule,
    sigmoid_depth_rule,
    hidden_softmax_rule,
    leaky_gain_rule,
    output_kernel_rule,
)
