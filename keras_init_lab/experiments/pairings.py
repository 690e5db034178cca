"""Lecture 002's summary table of initializer + activation pairings, checked against a run.

Lecture 002 (initialization) ends with a summary ("Resumen"): Xavier + tanh and Kaiming (He)
+ ReLU are *ideal*, Xavier + ReLU and Kaiming + tanh are *risky*. Each row predicts an
effect a student can measure at initialization, and a consequence for training:

* Xavier + tanh, "stable, balanced values": the activation variance and the first/last
  layer gradient-norm ratio stay within ``BALANCE_FACTOR`` (10x) over the depth;
* He + ReLU, "good variance, few dead units": the same balance, and at most
  ``FEW_DEAD_FRACTION`` of the ReLU units dead at initialization;
* Xavier + ReLU, "risk of dead units (variance too low)": the activation variance falls by
  more than 10x from the first to the last hidden layer (He et al. 2015: it halves per
  layer);
* He + tanh, "can make gradients explode": the first-layer gradient norm is more than 10x the
  last layer's at initialization, or the loss diverges.

:func:`course_pairings` puts *course says* next to *measured* with a mark:

* ideal pairings: **agrees** when the predicted balance is measured and the run learns
  (reaches the target), **partly** when only one of the two holds, **disagrees** otherwise;
* risky pairings: **agrees** when the predicted effect is measured and training suffers (the
  run does not reach the target, or reaches it later than the ideal pairing with the same
  activation), **partly** when only one holds, **disagrees** when neither does.

Every reason is a sentence built from the run's numbers.

Example:
    >>> rows = course_pairings(result.runs, depth=20)                 # doctest: +SKIP
    >>> [(row["pairing"], row["mark"]) for row in rows]                # doctest: +SKIP

Reference:
    X. Glorot & Y. Bengio (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    K. He et al. (ICCV 2015), https://arxiv.org/abs/1502.01852
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_init_lab.experiments.propagation import STABLE_FACTOR
from keras_init_lab.experiments.training import RunResult

__all__ = [
    "BALANCE_FACTOR",
    "SATURATION_EXPLAINS",
    "COURSE_PAIRINGS",
    "FEW_DEAD_FRACTION",
    "MARKS",
    "course_pairings",
]

#: Lecture 002's summary: (initializer, activation, grade, what the course says, the effect).
COURSE_PAIRINGS = (
    ("glorot_uniform", "tanh", "ideal", "stable, balanced values", "balanced"),
    ("he_normal", "relu", "ideal", "good variance, few dead units", "balanced_few_dead"),
    ("glorot_uniform", "relu", "risky", "risk of dead units (variance too low)", "variance_low"),
    ("he_normal", "tanh", "risky", "can make gradients explode", "gradients_grow"),
)
#: "Balanced" and "grows/falls" use ``propagate``'s stable band: within 10x end to end.
BALANCE_FACTOR = STABLE_FACTOR
#: "Few dead units": at most 10% of the ReLU units output 0 for every probe sample at
#: initialization (a unit is dead for ActivationStats when it is 0 on the whole probe batch).
FEW_DEAD_FRACTION = 0.10
MARKS = ("agrees", "partly", "disagrees")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _x(value) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.2g}"


def _mean(values) -> float | None:
    values = [v for v in values or [] if v is not None]
    return sum(values) / len(values) if values else None


def _training(run: RunResult, target: float) -> str:
    accuracy = _pct(run.final_accuracy)
    if run.verdict_kind == "learns":
        return (
            f"learns: {target:.0%} validation accuracy at epoch {run.epochs_to_target} "
            f"(final {accuracy})"
        )
    if run.verdict_kind == "diverged":
        return f"diverges (loss NaN/inf in epoch {run.first_nonfinite_epoch})"
    if run.verdict_kind == "slow":
        return f"learns slowly: {accuracy} validation accuracy, target {target:.0%} not reached"
    return f"does not learn: {accuracy} validation accuracy"


def _in_band(value) -> bool:
    """Within ``BALANCE_FACTOR`` of 1 either way."""
    return value is not None and 1 / BALANCE_FACTOR <= value <= BALANCE_FACTOR


def _effect(kind: str, run: RunResult, depth: int) -> tuple[bool, str]:
    """Whether the course's predicted effect is measured, and the sentence that says so."""
    change = run.variance_change
    ratio = run.grad_ratio_start
    dead = _mean(run.dead_fraction_start_per_layer)
    variance = f"activation variance x{_x(change)} from hidden layer 1 to {depth} at initialization"
    gradient = f"gradient norm first/last layer {_x(ratio)} at initialization"
    if kind in ("balanced", "balanced_few_dead"):
        band = f"{BALANCE_FACTOR:g}x"
        parts = [
            f"{variance} ({'within' if _in_band(change) else 'outside'} {band})",
            f"{gradient} ({'within' if _in_band(ratio) else 'outside'} {band})",
        ]
        holds = _in_band(change) and _in_band(ratio)
        if kind == "balanced_few_dead":
            few = dead is not None and dead <= FEW_DEAD_FRACTION
            holds = holds and few
            limit = f"{FEW_DEAD_FRACTION:.0%}"
            parts.append(
                f"{_pct(dead)} of ReLU units dead ({'at most' if few else 'more than'} {limit})"
            )
        return holds, ", ".join(parts)
    if kind == "variance_low":
        holds = change is not None and change < 1 / BALANCE_FACTOR
        return holds, (
            f"{variance} ({'falls' if holds else 'does not fall'} by more than "
            f"{BALANCE_FACTOR:g}x), {_pct(dead)} of ReLU units dead"
        )
    # gradients_grow
    diverged = run.verdict_kind == "diverged"
    holds = diverged or (ratio is not None and ratio > BALANCE_FACTOR)
    saturation = run.saturated_fraction_start_per_layer or []
    first_sat = saturation[0] if saturation else None
    return holds, (
        f"{gradient} ({'above' if holds else 'not above'} {BALANCE_FACTOR:g}x), "
        f"saturation {_pct(first_sat)} at layer 1"
    )


def course_pairings(
    runs: Sequence[RunResult | dict], depth: int | None = None, target: float = 0.9
) -> list[dict]:
    """Compare each of lecture 002's four pairings found in ``runs`` with what was measured.

    Example:
        >>> run = {"initializer": "he_normal", "activation": "relu", "verdict_kind": "learns",
        ...        "epochs_to_target": 3, "final_accuracy": 0.95, "grad_ratio_start": 1.2,
        ...        "activation_variance_start": [1.0, 0.9],
        ...        "dead_fraction_start_per_layer": [0.0, 0.02]}
        >>> course_pairings([run], depth=2)[0]["mark"]
        'agrees'

    Args:
        runs: ``CompareResult.runs`` (``RunResult`` objects, or mappings of their fields, as
            in ``results.json``); runs of other pairings are ignored.
        depth: hidden layers, quoted in the sentences (default: the run's ``depth``).
        target: the target validation accuracy of the comparison.

    Returns:
        One dict per pairing present: ``pairing, initializer, activation, course_grade,
        course_says, effect_measured, trains, measured, mark, reason``.
    """
    runs = [RunResult.from_dict(run) for run in runs]
    by_pair = {(run.initializer, run.activation): run for run in runs}
    rows = []
    for init, act, grade, says, kind in COURSE_PAIRINGS:
        run = by_pair.get((init, act))
        if run is None:
            continue
        layers = depth or run.depth or len(run.activation_variance_start or [])
        effect, effect_text = _effect(kind, run, layers)
        trains = run.verdict_kind == "learns"
        training = _training(run, target)
        if grade == "ideal":
            good = effect and trains
            mark = "agrees" if good else ("partly" if effect or trains else "disagrees")
            hurt = not trains
        else:
            partner = by_pair.get(("he_normal" if act == "relu" else "glorot_uniform", act))
            later = (
                trains
                and partner is not None
                and partner.epochs_to_target is not None
                and run.epochs_to_target > partner.epochs_to_target
            )
            hurt = not trains or bool(later)
            mark = "agrees" if effect and hurt else ("partly" if effect or hurt else "disagrees")
            if later:
                training += (
                    f", {run.epochs_to_target - partner.epochs_to_target} "
                    f"epoch(s) after {partner.initializer} + {act}"
                )
        reason = _reason(kind, grade, mark, effect_text, training, run)
        rows.append(
            {
                "pairing": f"{init} + {act}",
                "initializer": init,
                "activation": act,
                "course_grade": grade,
                "course_says": says,
                "effect_measured": effect,
                "trains": trains,
                "training_hurt": hurt,
                "measured": f"{effect_text}; {training}",
                "mark": mark,
                "reason": reason,
            }
        )
    return rows


#: Saturation at layer 1 from which "tanh saturates instead of exploding" is the explanation:
#: a fifth of the units passing < 6% of the gradient (ActivationStats' |a| > 0.97) visibly
#: caps the growth the mean field predicts.
SATURATION_EXPLAINS = 0.20


def _reason(kind, grade, mark, effect_text, training, run) -> str:
    """One sentence: the mark, and the measured numbers that earn it."""
    name = f"{run.initializer} + {run.activation}"
    trains = run.verdict_kind == "learns"
    if grade == "ideal":
        if mark == "agrees":
            return f"{name} {training} with {effect_text}, as the course predicts."
        if mark == "partly" and not trains:
            return f"{name} has the balance the course predicts ({effect_text}), but it {training}."
        if mark == "partly":
            return (
                f"{name} {training}, but not all the course predicts holds at "
                f"initialization: {effect_text}."
            )
        return f"{name} {training}, and {effect_text}."
    if mark == "agrees":
        return f"{name} {training}, with the effect the course predicts: {effect_text}."
    if kind == "gradients_grow" and trains:
        sat = (run.saturated_fraction_start_per_layer or [None])[0]
        if sat is not None and sat >= SATURATION_EXPLAINS:
            return f"{name} {training} because tanh saturates instead of exploding: {effect_text}."
        return f"{name} {training}: no explosion at this depth and width, {effect_text}."
    if kind == "variance_low" and trains:
        return (
            f"{name} {training} although {effect_text}: at this depth the shrinking "
            f"signal still reaches the output."
        )
    if mark == "partly":
        return f"{name} {training}, but not through the predicted effect: {effect_text}."
    return f"{name} {training}, and {effect_text}."
