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
    "PRESERVED_TOLERANCE",
    "RULES",
    "SATURATED_SLOPE_FRACTION",
    "dead_relu_rule",
    "hidden_softmax_rule",
    "leaky_gain_rule",
    "output_kernel_rule",
    "saturating_he_rule",
    "sigmoid_depth_rule",
    "symmetry_rule",
    "variance_band_rule",
]

#: Hidden layers of one kind from which a stack counts as "deep": lecture 004, activation
#: functions ("with sigmoid or tanh it is hard to train more than 4-5 layers without extra
#: techniques"). With Glorot on square ReLU layers the variance halves per layer, so 5 layers
#: already lose a factor 2^5 = 32.
DEEP_STACK_LAYERS = 5

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
            + " (lecture 001, the perceptron and activations: all neurons predict the same)."
        )
        fix = (
            f"kernel_initializer='{e.act.recommended or 'glorot_uniform'}' "
            "(random; keep bias_initializer='zeros')."
        )
        found.append(_finding("error", e, message, fix, "symmetric-init"))
    return found


def dead_relu_rule(entries, predictions) -> list[Finding]:
    """ReLU-family units after Glorot kernels in a deep unnormalized hidden stack (warning)."""
    stack = [
        (e, p)
        for e, p in zip(entries, predictions)
        if not e.output and e.act.family == "relu" and e.init.kind == "glorot" and not e.normalized
    ]
    if len(stack) < DEEP_STACK_LAYERS:
        return []
    first = stack[0][0]
    n = len(stack)
    values = _variances([p for _, p in stack])
    measured = ""
    if values is not None:
        measured = (
            f"; predicted here: Var(pre-activation) {values[0]:.3g} at {first.name} -> "
            f"{values[-1]:.3g} at {stack[-1][0].name}"
        )
    message = (
        f"{first.act.text} after a Glorot/Xavier kernel in a stack of {n} such layers "
        f"({_names_list([e for e, _ in stack])}): Glorot keeps Var(f) only for a linear/tanh "
        "unit; ReLU zeroes half of it, so with fan_in = fan_out the variance halves at every "
        f"layer, 2^-{n} = {2.0**-n:.2g} over the stack{measured} (lecture 002, "
        "initialization: Xavier + ReLU is risky, dead neurons from a low variance)."
    )
    fix = (
        f"kernel_initializer='{first.act.recommended or 'he_normal'}' in these layers "
        "(He: Var(W) = 2/fan_in)."
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
    """Sigmoid in hidden layers: warning from :data:`DEEP_STACK_LAYERS` on, info below."""
    hidden = [e for e in entries if not e.output and e.act.family == "sigmoid"]
    if not hidden:
        return []
    n = len(hidden)
    message = (
        f"sigmoid in {n} hidden layer(s) ({_names_list(hidden)}): sigma'(z) <= 0.25, so the "
        f"gradient shrinks by at least 4x per layer, 0.25^{n} = {0.25**n:.2g} (lecture 004, "
        "activation functions: 0.25^20 ~ 9.1e-13, and sigmoid is hardly used in hidden "
        "layers today)."
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
    severity = "warning" if n >= DEEP_STACK_LAYERS else "info"
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
                "backpropagation and optimization: softmax is generally used in the last layer)."
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
