"""What a finished run's numbers say: learns, learns slowly, does not learn, or diverged, and why.

Two steps, both pure functions of recorded numbers (no model, no training), so every branch
can be tested on synthetic histories with known answers:

1. the readers turn what training recorded into a run's evidence:
   :func:`read_kernels` (the initial kernels: all constant, a symmetric start),
   :func:`read_curves` (Keras's ``History``: final accuracy, epochs to the target, the first
   non-finite loss), :func:`read_gradients` (``GradientStats``: the first/last kernel
   gradient-norm ratio per record, the median update/weight ratio) and
   :func:`read_activations` (``ActivationStats``: variances at initialization, dead and
   saturated fractions at the start and the end);
2. :func:`verdict` reads the evidence: ``diverged`` (the loss became NaN/inf), ``learns``
   (reached the target), ``slow`` (at least ``LEARNING_MARGIN`` over chance), ``stuck``
   (about chance); the text names the cause it can see: symmetric start, vanishing or
   exploding gradients (``_gradient_rules``), saturated or dead units, unscaled inputs.

Example:
    >>> read_curves({"val_accuracy": [0.5, 0.7, 0.92]}, target=0.9)["epochs_to_target"]
    3

Reference:
    X. Glorot & Y. Bengio (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    A. Karpathy, CS231n "Neural Networks Part 3", section "Ratio of weights:updates",
    https://cs231n.github.io/neural-networks-3/#ratio
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from keras_init_lab._gradient_rules import (
    EXPLODING_RATIO,
    VANISHING_RATIO,
    gradient_ratio_verdict,
)

__all__ = [
    "LEARNING_MARGIN",
    "UNIT_PROBLEM_FRACTION",
    "UNSCALED_INPUT_LIMIT",
    "VERDICT_KINDS",
    "kernel_columns",
    "median_update_ratio",
    "norm_ratio",
    "read_activations",
    "read_curves",
    "read_gradients",
    "read_kernels",
    "epoch_of",
    "update_ratio_reading",
    "verdict",
]

#: The four verdicts, from best to worst.
VERDICT_KINDS = ("learns", "slow", "stuck", "diverged")
#: More than half the hidden units dead / saturated is named as the cause of a failure.
UNIT_PROBLEM_FRACTION = 0.5
#: "Learns slowly" needs at least 10 accuracy points over chance; less is "does not learn".
LEARNING_MARGIN = 0.10
#: Inputs with a largest |x| above 10 count as unscaled when a run fails (pixels 0..16 or
#: 0..255): standardized features rarely exceed a few standard deviations (|x| > 10 has
#: probability 1.5e-23 for a Gaussian feature), so the verdict names the scaling as a cause.
UNSCALED_INPUT_LIMIT = 10.0


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def read_curves(curves: Mapping[str, Sequence[float]], target: float) -> dict:
    """Final values, the first epoch at the target and the first non-finite loss.

    Epochs count from 1, as Keras prints them: ``epochs_to_target`` is the first epoch whose
    validation accuracy is ``>= target``.

    Example:
        >>> curves = read_curves({"loss": [0.7, float("nan")], "val_accuracy": [0.6, 0.5]}, 0.9)
        >>> curves
        {'final_loss': None, 'final_accuracy': 0.5, 'train_accuracy': None, ...}
        >>> curves["epochs_to_target"], curves["first_nonfinite_epoch"]
        (None, 2)

    Args:
        curves: ``History.history`` (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
        target: validation accuracy that counts as "learned".

    Returns:
        ``final_loss, final_accuracy, train_accuracy`` (validation loss and accuracy and
        training accuracy after the last epoch; ``None`` when missing or not finite),
        ``epochs_to_target`` and ``first_nonfinite_epoch`` (``None``: never).
    """
    val_acc = list(curves.get("val_accuracy", []))
    reached = [epoch for epoch, acc in enumerate(val_acc, start=1) if acc >= target]
    nonfinite = [
        epoch
        for epoch, loss in enumerate(curves.get("loss", []), start=1)
        if not math.isfinite(loss)
    ]
    return {
        "final_loss": _finite_or_none(curves.get("val_loss", [math.nan])[-1]),
        "final_accuracy": _finite_or_none(val_acc[-1]) if val_acc else None,
        "train_accuracy": _finite_or_none(curves.get("accuracy", [math.nan])[-1]),
        "epochs_to_target": reached[0] if reached else None,
        "first_nonfinite_epoch": nonfinite[0] if nonfinite else None,
    }


def read_kernels(kernels) -> dict:
    """Whether the start is symmetric: every kernel's entries all equal (zeros, a constant).

    A layer whose kernel entries are all equal gives every unit the same output and the same
    gradient, so its units never become different; the run starts symmetric when every kernel
    layer does (one random layer already breaks the tie for the layers after it).

    Example:
        >>> read_kernels([np.zeros((2, 3)), np.full((3, 1), 0.5)])
        {'symmetric_start': True}

    Args:
        kernels: the initial kernel of every kernel layer, as arrays.

    Returns:
        ``{"symmetric_start": bool}``.
    """
    return {"symmetric_start": all(float(np.ptp(np.asarray(k))) == 0.0 for k in kernels)}


def kernel_columns(layers: Sequence[str], kernel_names: Sequence[str]) -> list[int]:
    """Indices of ``layers`` (GradientStats's layer paths) that are kernel layers.

    A path matches a kernel layer by its full text or its last component (a nested model's
    ``"inner/dense"`` is the layer ``"dense"``); BatchNormalization and other layers without a
    kernel are left out.
    """
    names = set(kernel_names)
    return [i for i, path in enumerate(layers) if path in names or path.rsplit("/", 1)[-1] in names]


def norm_ratio(norms) -> float | None:
    """``norms[0] / norms[-1]``: the first layer's gradient norm over the last layer's.

    Returns ``inf`` for a zero last norm under a non-zero first one, ``None`` when both are 0
    or there are none.
    """
    if not len(norms):
        return None
    first, last = float(norms[0]), float(norms[-1])
    if last > 0:
        return first / last
    return math.inf if first > 0 else None


def median_update_ratio(table, columns) -> tuple[float | None, list]:
    """Median update/weight ratio over recorded steps and the kernel layers in ``columns``.

    Formula: ``median_{t, l} ||w_l(t+1) - w_l(t)|| / ||w_l(t)||`` over GradientStats's
    per-layer ``update_ratio`` records (rows: records, columns: layers), only the columns
    listed; non-finite entries (a layer whose weights are all 0 gives ``inf``) are left out.

    Example:
        >>> median_update_ratio([[1e-3, 5.0, 3e-3], [2e-3, 7.0, 4e-3]], [0, 2])
        (0.0025, [0.0015, 0.0035])

    Returns:
        ``(overall, per-layer medians)``; ``None`` where no finite value exists.
    """
    values = np.asarray(table, dtype=np.float64)
    if values.ndim != 2 or not values.size:
        return None, []
    values = values[:, list(columns)]
    per_layer = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        per_layer.append(float(np.median(finite)) if finite.size else None)
    finite = values[np.isfinite(values)]
    return (float(np.median(finite)) if finite.size else None), per_layer


def epoch_of(epoch: int, history=None) -> str:
    """``"epoch 4 of 20"``, or ``"epoch 20 (the last)"`` when it is the run's last epoch.

    Said so that "reached 85% at epoch 20" and "final 88%" of a 20-epoch run read as the
    same moment, not two.

    Example:
        >>> epoch_of(20, {"val_accuracy": [0.5] * 20}), epoch_of(4, {"val_accuracy": [0.5] * 20})
        ('epoch 20 (the last)', 'epoch 4 of 20')

    Args:
        epoch: an epoch, counted from 1.
        history: the run's ``History.history`` (its ``val_accuracy`` or ``loss`` list gives
            the number of epochs), or ``None`` (then only ``"epoch 4"``).
    """
    history = history or {}
    epochs = len(history.get("val_accuracy") or history.get("loss") or [])
    if not epochs:
        return f"epoch {epoch}"
    return f"epoch {epoch} (the last)" if epoch == epochs else f"epoch {epoch} of {epochs}"


def update_ratio_reading(update: float | None, symmetric_start: bool = False) -> str | None:
    """One sentence on a run's median update/weight ratio, naming the cause where it can.

    ``lessons.optimizers.update_ratio_verdict`` reads the ratio against the ~1e-3 rule of
    thumb; a ratio below its band after a symmetric start (every kernel's entries equal:
    zeros or a constant) is the initialization's doing, not the learning rate's, and the
    sentence says so: the units of a layer get equal gradients and stay equal, and with
    zeros every hidden unit outputs ``a(0)`` (0 for tanh and ReLU), so the kernels'
    gradients are exactly 0.

    Example:
        >>> update_ratio_reading(0.0, symmetric_start=True)[:42]
        'update/weight 0.0e+00 is below 0.0001: the'

    Args:
        update: the median update/weight ratio, or ``None`` (not measured).
        symmetric_start: whether every kernel started with all its entries equal.

    Returns:
        The sentence, or ``None`` for ``None``.
    """
    from keras_init_lab.lessons.optimizers import UPDATE_RATIO_BAND, update_ratio_verdict

    if update is None:
        return None
    low = UPDATE_RATIO_BAND[0]
    if symmetric_start and update < low:
        return (
            f"update/weight {update:.1e} is below {low:g}: the kernels start with all their "
            "entries equal (a zero or constant initialization), so the units of each layer "
            "get equal gradients and never become different (symmetry), and with zeros the "
            "kernels' gradients are exactly 0; the cause is the initialization, not the "
            "learning rate."
        )
    return update_ratio_verdict(update)


def read_gradients(
    history: Mapping, kernel_names: Sequence[str], symmetric_start: bool = False
) -> dict:
    """The gradient evidence of a run from ``GradientStats.history``, kernel layers only.

    Args:
        history: ``GradientStats.history`` (``step``, ``layers``, ``per_layer`` with ``norm``
            and ``update_ratio`` tables of shape ``[records, layers]``).
        kernel_names: names of the model's kernel layers (``_layers.kernel_layers``).
        symmetric_start: whether every kernel started with all its entries equal
            (:func:`read_kernels`); the update reading then names the initialization.

    Returns:
        ``gradient_layers, gradient_norms_start`` (first record), ``grad_ratio_start``,
        ``grad_ratio_history`` and ``grad_ratio_steps`` (one per record), ``grad_ratio_end``
        (last record), ``hidden_gradients_zero`` (every kernel gradient but the output
        layer's exactly 0 at the first record), ``update_ratio`` and
        ``update_ratio_per_layer`` (:func:`median_update_ratio`) and
        ``update_ratio_verdict`` (:func:`update_ratio_reading`: the initialization named as
        the cause of a tiny ratio after a ``symmetric_start``).
    """
    columns = kernel_columns(history["layers"], kernel_names)
    norm_table = np.asarray(history["per_layer"]["norm"], dtype=np.float64)[:, columns]
    norms_start = norm_table[0]
    ratios = [norm_ratio(row) for row in norm_table]
    update, update_per_layer = median_update_ratio(history["per_layer"]["update_ratio"], columns)
    return {
        "gradient_layers": [history["layers"][i] for i in columns],
        "gradient_norms_start": [_finite_or_none(v) for v in norms_start],
        "grad_ratio_start": None if ratios[0] is None else float(ratios[0]),
        "grad_ratio_history": [None if r is None else float(r) for r in ratios],
        "grad_ratio_steps": [int(v) for v in np.asarray(history["step"])],
        "grad_ratio_end": None if ratios[-1] is None else float(ratios[-1]),
        "hidden_gradients_zero": bool(len(columns) > 1 and np.all(norms_start[:-1] == 0)),
        "update_ratio": update,
        "update_ratio_per_layer": update_per_layer,
        "update_ratio_verdict": update_ratio_reading(update, symmetric_start),
    }


def read_activations(history: Mapping) -> dict:
    """The unit evidence of a run from ``ActivationStats.history`` (first and last record).

    The first record is the state at initialization (before any step), the last the state
    after the final epoch. A fraction is the mean over hidden layers of the per-layer
    fraction (NaN, where the statistic does not apply, left out); ``None`` when no layer has
    one (no ReLU-family layer for ``dead``, no tanh/sigmoid layer for ``saturated``).

    Returns:
        ``activation_layers``; per hidden layer at initialization:
        ``activation_variance_start``, ``preactivation_variance_start`` (std squared),
        ``dead_fraction_start_per_layer``, ``saturated_fraction_start_per_layer``; at the end:
        ``saturated_fraction_end_per_layer``; and the means ``dead_fraction_start``,
        ``dead_fraction_end``, ``saturated_fraction_start``, ``saturated_fraction_end``.
    """
    table = history["per_layer"]

    def row(stat: str, index: int):
        return np.asarray(table[stat][index], dtype=np.float64) if len(table[stat]) else None

    def mean(stat: str, index: int):
        values = row(stat, index)
        values = values[np.isfinite(values)] if values is not None else []
        return float(np.mean(values)) if len(values) else None

    def per_layer(stat: str, index: int = 0) -> list:
        values = row(stat, index)
        return [] if values is None else [_finite_or_none(v) for v in values]

    return {
        "activation_layers": list(history["layers"]),
        "activation_variance_start": [None if v is None else v * v for v in per_layer("std")],
        "preactivation_variance_start": [
            None if v is None else v * v for v in per_layer("pre_std")
        ],
        "dead_fraction_start_per_layer": per_layer("dead_fraction"),
        "saturated_fraction_start_per_layer": per_layer("saturation_fraction"),
        "saturated_fraction_end_per_layer": per_layer("saturation_fraction", -1),
        "dead_fraction_start": mean("dead_fraction", 0),
        "dead_fraction_end": mean("dead_fraction", -1),
        "saturated_fraction_start": mean("saturation_fraction", 0),
        "saturated_fraction_end": mean("saturation_fraction", -1),
    }


def _reader(run):
    """``name -> value`` for a run given as a mapping or as an object with attributes."""
    if isinstance(run, Mapping):
        return run.get
    return lambda name: getattr(run, name, None)


def verdict(run, target: float, chance: float) -> tuple[str, str]:
    """One-line verdict ``(kind, text)`` for a finished run; the text names its evidence.

    Kinds (``VERDICT_KINDS``): ``diverged`` (the loss became NaN/inf), ``learns`` (reached
    ``target``), ``slow`` (at least ``LEARNING_MARGIN`` over chance), ``stuck`` (less). The
    causes it names: all kernels equal at the start (symmetry), the first/last gradient-norm
    ratio below ``VANISHING_RATIO`` or above ``EXPLODING_RATIO``, more than
    ``UNIT_PROBLEM_FRACTION`` of the units saturated or dead at the end, and unscaled inputs
    (largest ``|x|`` above ``UNSCALED_INPUT_LIMIT``) when the target was not reached.

    Example:
        >>> verdict({"first_nonfinite_epoch": None, "epochs_to_target": 4,
        ...          "final_accuracy": 0.95, "grad_ratio_start": 0.8,
        ...          "symmetric_start": False, "hidden_gradients_zero": False,
        ...          "dead_fraction_end": 0.1, "saturated_fraction_end": None}, 0.9, 0.5)
        ('learns', 'learns: reached 90% validation accuracy at epoch 4; final 95% (gradient ...)')

    Args:
        run: a ``RunResult``, or a mapping / object with its evidence fields
            (``first_nonfinite_epoch, epochs_to_target, final_accuracy, grad_ratio_start,
            symmetric_start, hidden_gradients_zero, dead_fraction_end,
            saturated_fraction_end``, optionally ``scaling`` and ``input_abs_max``).
        target: target validation accuracy.
        chance: accuracy of predicting the majority class.

    Returns:
        ``(kind, one-line text)``.
    """
    get = _reader(run)
    ratio, accuracy = get("grad_ratio_start"), get("final_accuracy")
    causes = []
    if get("symmetric_start"):
        cause = (
            "all weights start equal, so every unit of a layer computes the same thing "
            "and gets the same update: symmetry is never broken"
        )
        if get("hidden_gradients_zero"):
            cause += ", and hidden-layer gradients are exactly 0"
        causes.append(cause)
    elif gradient_ratio_verdict(ratio) == "vanishing":
        causes.append(
            f"vanishing gradients: first-layer gradient is {ratio:.1e} x the "
            f"output layer's at the start (below {VANISHING_RATIO:g})"
        )
    elif gradient_ratio_verdict(ratio) == "exploding":
        causes.append(
            f"exploding gradients: first-layer gradient is {ratio:.1e} x the "
            f"output layer's at the start (above {EXPLODING_RATIO:g})"
        )
    saturated, dead = get("saturated_fraction_end"), get("dead_fraction_end")
    if saturated is not None and saturated > UNIT_PROBLEM_FRACTION:
        causes.append(f"{saturated:.0%} of tanh/sigmoid outputs saturated")
    if dead is not None and dead > UNIT_PROBLEM_FRACTION:
        causes.append(f"{dead:.0%} of ReLU units dead")
    input_range = get("input_abs_max")
    if (
        get("scaling") == "none"
        and input_range is not None
        and input_range > UNSCALED_INPUT_LIMIT
        and get("epochs_to_target") is None
    ):
        causes.append(
            f"inputs are unscaled (largest |x| = {input_range:g}); scale them with "
            f"--scaling standardize (scalings='standardize')"
        )
    why = "; ".join(causes)
    if get("first_nonfinite_epoch") is not None:
        return "diverged", (
            f"diverged: loss became NaN/inf in epoch "
            f"{get('first_nonfinite_epoch')}" + (f" ({why})" if why else " (exploding updates)")
        )
    if get("epochs_to_target") is not None:
        note = why or (
            f"gradient first/last layer {ratio:.2g} at start" if ratio is not None else ""
        )
        final = "" if accuracy is None else f"; final {accuracy:.0%}"
        return "learns", (
            f"learns: reached {target:.0%} validation accuracy at "
            f"{epoch_of(get('epochs_to_target'), get('history'))}{final}"
            + (f" ({note})" if note else "")
        )
    if accuracy is not None and accuracy >= chance + LEARNING_MARGIN:
        gain = f"{100 * (accuracy - chance):.0f} points above chance {chance:.0%}"
        return "slow", (
            f"learns slowly: {accuracy:.0%} validation accuracy, target "
            f"{target:.0%} not reached ({gain}" + (f"; {why})" if why else ")")
        )
    shown = "n/a" if accuracy is None else f"{accuracy:.0%}"
    why = why or f"less than {100 * LEARNING_MARGIN:.0f} points above chance"
    return "stuck", (
        f"does not learn: {shown} validation accuracy, chance (majority-class "
        f"share of the validation split) is {chance:.0%} ({why})"
    )
