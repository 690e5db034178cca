"""Lecture 002's summary table of initializer + activation pairings, checked against runs.

Lecture 002 (initialization) ends with a summary ("Resumen"): Xavier + tanh and Kaiming (He)
+ ReLU are *ideal*, Xavier + ReLU and Kaiming + tanh are *risky*. Each row predicts an
effect on the signal at initialization, and a consequence for training:

* Xavier + tanh, "stable, balanced values": the variance stays within ``BALANCE_FACTOR``
  (10x) over the depth, forward and backward;
* He + ReLU, "good variance, few dead units": the same, for ReLU;
* Xavier + ReLU, "risk of dead units (variance too low)": the forward variance falls by more
  than 10x (He et al. 2015: it halves per layer);
* He + tanh, "can make gradients explode": the backward variance grows by more than 10x.

The dead units of the two ReLU rows are the course's mistake (:data:`DEAD_UNITS_ERRATUM`):
with zero biases, scaling every weight by ``c`` scales each layer's pre-activations by a
positive power of ``c`` and never changes a sign, so the same draws at He's and at Glorot's
scale have exactly the same dead units. What Xavier does to a ReLU stack is the variance
halving per layer. Marks here never rest on dead units.

Two markings:

* the demo's (:func:`demo_rows`): part 1 at initialization, on ``propagate``'s rows
  (:func:`initialization_mark`, ``propagate``'s bands); part 2 in training, each activation's
  two pairings over seeds, **relative to each other** (:func:`pair_outcome`: the ideal
  pairing ahead of the risky one by ``TRAINING_MARGIN`` or more in the median final
  accuracy, a tie within it, or the risky one ahead; :func:`training_mark`); the row's mark
  combines the two (:func:`combine_marks`);
* a comparison's (:func:`course_pairings`, ``compare``'s report): one run per pairing,
  balance at initialization from ``ActivationStats`` / ``GradientStats`` and whether it
  reached the target.

Every reason is built from the numbers it quotes.

Example:
    >>> outcome = pair_outcome("relu", "he_normal", [0.9, 0.88, 0.92],
    ...                        "glorot_uniform", [0.08, 0.08, 0.11])
    >>> outcome["outcome"], round(outcome["gap"], 2), training_mark(outcome)
    ('ideal ahead', 0.82, 'agrees')

Reference:
    X. Glorot & Y. Bengio (AISTATS 2010), https://proceedings.mlr.press/v9/glorot10a.html ;
    K. He et al. (ICCV 2015), https://arxiv.org/abs/1502.01852
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Mapping, Sequence

from keras_init_lab.experiments.propagation import STABLE_FACTOR
from keras_init_lab.experiments.training import RunResult
from keras_init_lab.experiments.verdicts import epoch_of

__all__ = [
    "BALANCE_FACTOR",
    "COURSE_PAIRINGS",
    "DEAD_UNITS_ERRATUM",
    "DEAD_UNITS_NOTE",
    "MARKS",
    "PAIR_OUTCOMES",
    "SATURATION_EXPLAINS",
    "TRAINING_MARGIN",
    "combine_marks",
    "course_pairings",
    "demo_rows",
    "initialization_mark",
    "pair_outcome",
    "training_mark",
    "training_text",
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
MARKS = ("agrees", "partly", "disagrees")
#: Where the course's dead-units mechanism is corrected (the course companion's errata).
DEAD_UNITS_ERRATUM = "erratum 22 in docs/course.md"
#: The sentence every ReLU row of the demo carries instead of a dead-unit mark.
DEAD_UNITS_NOTE = (
    "the course's dead units are not what separates He from Glorot: with zero biases the "
    "same draws at either scale have exactly the same dead units (scaling the weights "
    "never changes a sign); what Glorot's scale does to ReLU is halve the variance per "
    f"layer ({DEAD_UNITS_ERRATUM})"
)
#: How far apart (accuracy points, as a fraction) the median final validation accuracies of
#: an activation's two pairings must be for one to count as ahead: 30 points. In the demo's
#: settings the medians were 73-83 points apart in every variant measured (seeds 0-7;
#: oneDNN's kernels on, one thread, initial kernels scaled by 1 + 1e-6 noise, seeds 0-2).
#: One run can land anywhere its pairing's runs land (a float-level change acts like another
#: seed: Xavier + tanh ended at 8% once in 14 runs), so a median of 3 moves by a whole
#: seed-to-seed spread only when two runs of 3 go astray; 30 points is half the smallest gap
#: and twice the widest spread of the typical runs (He + tanh 8-18%, Glorot + ReLU 8-15%,
#: He + ReLU 87-93%, Xavier + tanh 80-95%). Within it the two are a tie.
TRAINING_MARGIN = 0.30
#: What a pair's training shows (:func:`pair_outcome`).
PAIR_OUTCOMES = ("ideal ahead", "tie", "risky ahead")


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
            f"learns: reached {target:.0%} validation accuracy at "
            f"{epoch_of(run.epochs_to_target, run.history)}; final {accuracy}"
        )
    if run.verdict_kind == "diverged":
        return f"diverges (loss NaN/inf in epoch {run.first_nonfinite_epoch})"
    if run.verdict_kind == "slow":
        return f"learns slowly: {accuracy} validation accuracy, target {target:.0%} not reached"
    return f"does not learn: {accuracy} validation accuracy"


def _dead_at_start(dead) -> str:
    """The dead fraction at initialization, said as information: the scale does not set it."""
    return (
        f"{_pct(dead)} of ReLU units dead at initialization (not a mark: the same draws at "
        f"He's or Glorot's scale have the same dead units, {DEAD_UNITS_ERRATUM})"
    )


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
            parts.append(_dead_at_start(dead))
        return holds, ", ".join(parts)
    if kind == "variance_low":
        holds = change is not None and change < 1 / BALANCE_FACTOR
        return holds, (
            f"{variance} ({'falls' if holds else 'does not fall'} by more than "
            f"{BALANCE_FACTOR:g}x), {_dead_at_start(dead)}"
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


# ------------------------------------------------------------------ the demo's marking rule

#: How far each of ``propagate``'s verdicts is from "stable", to find a setting's worse
#: direction (``propagation.VERDICTS`` order, folded: decaying and growing are one step off).
_DRIFT = {"stable": 0, "decaying": 1, "growing": 1, "vanishing": 2, "exploding": 2}


def _change_text(direction: Mapping, span: str) -> str:
    """``x0.0096 (mean field x0.0096, 0.91 per layer)`` for one direction of a setting."""
    change = direction.get("change")
    measured = f"x{_x(change)}" if change is not None else direction["verdict"]
    parts = []
    if direction.get("predicted_change") is not None:
        parts.append(f"mean field x{_x(direction['predicted_change'])}")
    if direction.get("gain_per_layer") is not None:
        parts.append(f"{direction['gain_per_layer']:.3g} per layer")
    return f"{measured} {span}" + (f" ({', '.join(parts)})" if parts else "")


def initialization_mark(kind: str, setting: Mapping) -> tuple[str, str]:
    """Mark what lecture 002 claims about the signal at initialization, on a ``propagate`` row.

    Formula, with ``propagate``'s end-to-end changes and verdicts (stable: within
    ``BALANCE_FACTOR`` = 10x; decaying / growing: 10x to 1000x; vanishing / exploding: beyond):

    * ``balanced`` / ``balanced_few_dead`` ("stable"): both directions stable -> agrees; the
      worse one decaying or growing -> partly; vanishing or exploding -> disagrees;
    * ``variance_low``: the forward variance falls by more than 10x -> agrees, else disagrees;
    * ``gradients_grow``: the backward variance grows by more than 10x -> agrees; it grows
      (gain per layer above 1) but stays within 10x at this depth -> partly; else disagrees.

    Example:
        >>> row = {"depth": 50, "forward": {"verdict": "vanishing", "change": 1.1e-15,
        ...        "predicted_change": 1.8e-15, "gain_per_layer": 0.496},
        ...        "backward": {"verdict": "vanishing", "change": 2e-15}}
        >>> initialization_mark("variance_low", row)[0]
        'agrees'

    Args:
        kind: the effect of a :data:`COURSE_PAIRINGS` row (its last field).
        setting: one of ``PropagationResult.settings`` (``depth``, ``forward`` and
            ``backward`` dicts with ``verdict``, ``change``, ``predicted_change``,
            ``gain_per_layer``).

    Returns:
        ``(mark, text)``: the mark and the measured numbers that earn it.

    Raises:
        ValueError: an unknown ``kind``.
    """
    kinds = {effect for *_, effect in COURSE_PAIRINGS}
    if kind not in kinds:
        raise ValueError(f"kind must be one of {', '.join(sorted(kinds))}; received kind={kind!r}.")
    depth = setting["depth"]
    forward, backward = setting["forward"], setting["backward"]
    fwd = "forward " + _change_text(forward, f"from layer 1 to {depth}")
    bwd = "backward " + _change_text(backward, f"from layer {depth} to 1")
    band = f"{BALANCE_FACTOR:g}x"
    if kind in ("balanced", "balanced_few_dead"):
        drift = max(_DRIFT[forward["verdict"]], _DRIFT[backward["verdict"]])
        if drift == 0:
            return "agrees", f"{fwd} and {bwd}: both within {band}"
        words = f"{forward['verdict']} forward, {backward['verdict']} backward"
        if drift == 1:
            return "partly", (
                f"{fwd} and {bwd}: neither vanishes nor explodes, but the signal drifts "
                f"beyond {band} ({words})"
            )
        return "disagrees", f"{fwd} and {bwd} ({words})"
    if kind == "variance_low":
        falls = forward["verdict"] in ("decaying", "vanishing")
        verb = "falls" if falls else "does not fall"
        return ("agrees" if falls else "disagrees"), f"{fwd}: it {verb} by more than {band}"
    # gradients_grow
    if backward["verdict"] in ("growing", "exploding"):
        return "agrees", f"{bwd}: it grows by more than {band}"
    gain = backward.get("gain_per_layer")
    if backward["verdict"] == "stable" and gain is not None and gain > 1:
        return "partly", f"{bwd}: it grows, but stays within {band} at {depth} layers"
    return "disagrees", f"{bwd}: it does not grow"


def _accuracies(name: str, values) -> list[float]:
    """Check a non-empty sequence of accuracies in [0, 1]; return it as floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of accuracies; received {name}={values!r}.")
    if not values:
        raise ValueError(f"{name} is empty; give the final accuracy of at least one seed.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must hold numbers; received {name}={values!r}.")
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"{name} must hold accuracies in [0, 1]; received {value!r} in {name}={values!r}."
            )
    return [float(v) for v in values]


def pair_outcome(
    activation: str,
    ideal: str,
    ideal_accuracies: Sequence[float],
    risky: str,
    risky_accuracies: Sequence[float],
    margin: float = TRAINING_MARGIN,
) -> dict:
    """What training shows for one activation's two pairings, over seeds.

    Formula: ``gap = median(ideal) - median(risky)`` of the final validation accuracies;
    ``gap >= margin``: "ideal ahead"; ``gap <= -margin``: "risky ahead"; otherwise "tie".
    The spread of each pairing (its lowest and highest seed) is kept to be shown.

    Example:
        >>> out = pair_outcome("tanh", "glorot_uniform", [0.92, 0.93, 0.95],
        ...                    "he_normal", [0.09, 0.33, 0.18])
        >>> out["outcome"], round(out["gap"], 2), out["risky_range"]
        ('ideal ahead', 0.75, (0.09, 0.33))

    Args:
        activation: the activation both pairings use.
        ideal, risky: the two initializers (the course's ideal and risky pairing).
        ideal_accuracies, risky_accuracies: final validation accuracy of each seed.
        margin: the gap that counts as ahead (default :data:`TRAINING_MARGIN`).

    Returns:
        A dict: ``activation, ideal, risky, ideal_accuracies, risky_accuracies,
        ideal_median, risky_median, ideal_range, risky_range, gap, margin, outcome``.

    Raises:
        TypeError / ValueError: accuracies that are not numbers in [0, 1], an empty list, or a
            margin outside (0, 1].
    """
    ideal_values = _accuracies("ideal_accuracies", ideal_accuracies)
    risky_values = _accuracies("risky_accuracies", risky_accuracies)
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise TypeError(f"margin must be a number; received margin={margin!r}.")
    if not 0.0 < margin <= 1.0:
        raise ValueError(f"margin must be in (0, 1] (accuracy points); received margin={margin!r}.")
    ideal_median = statistics.median(ideal_values)
    risky_median = statistics.median(risky_values)
    gap = ideal_median - risky_median
    if gap >= margin:
        outcome = "ideal ahead"
    elif gap <= -margin:
        outcome = "risky ahead"
    else:
        outcome = "tie"
    return {
        "activation": activation,
        "ideal": ideal,
        "risky": risky,
        "ideal_accuracies": ideal_values,
        "risky_accuracies": risky_values,
        "ideal_median": ideal_median,
        "risky_median": risky_median,
        "ideal_range": (min(ideal_values), max(ideal_values)),
        "risky_range": (min(risky_values), max(risky_values)),
        "gap": gap,
        "margin": float(margin),
        "outcome": outcome,
    }


def training_mark(outcome: Mapping) -> str:
    """The course's ideal/risky grading against a pair's training: the same mark for both rows.

    "ideal ahead" -> agrees; "tie" -> partly (no difference shown at this depth);
    "risky ahead" -> disagrees.

    Example:
        >>> training_mark({"outcome": "tie"})
        'partly'
    """
    marks = dict(zip(PAIR_OUTCOMES, MARKS))
    if outcome.get("outcome") not in marks:
        raise ValueError(
            f"outcome must be one of {', '.join(PAIR_OUTCOMES)}; received "
            f"outcome={outcome.get('outcome')!r}."
        )
    return marks[outcome["outcome"]]


def combine_marks(*marks: str) -> str:
    """One mark from the marks of a row's parts: the same mark when all agree, else partly.

    Example:
        >>> combine_marks("agrees", "agrees"), combine_marks("agrees", "disagrees")
        ('agrees', 'partly')
    """
    if not marks:
        raise ValueError("combine_marks needs at least one mark.")
    for mark in marks:
        if mark not in MARKS:
            raise ValueError(f"marks must be among {', '.join(MARKS)}; received {mark!r}.")
    return marks[0] if len(set(marks)) == 1 else "partly"


def _points(fraction: float) -> str:
    return f"{100 * fraction:.0f}"


def training_text(outcome: Mapping, epochs: int | None = None, depth: int | None = None) -> str:
    """One clause on a pair's training: who is ahead, the medians, the spread and the margin.

    Example:
        >>> out = pair_outcome("relu", "he_normal", [0.9, 0.88, 0.92],
        ...                    "glorot_uniform", [0.08, 0.08, 0.11])
        >>> training_text(out, epochs=20, depth=30)[:58]
        'ideal ahead: he_normal + relu 90% vs glorot_uniform + relu'
    """
    act = outcome["activation"]
    lo_i, hi_i = outcome["ideal_range"]
    lo_r, hi_r = outcome["risky_range"]
    seeds = len(outcome["ideal_accuracies"])
    when = "at the end" + (f" of {epochs} epochs" if epochs else "")
    where = f" at {depth} layers" if depth else ""
    gap, margin = outcome["gap"], outcome["margin"]
    if outcome["outcome"] == "tie":
        verdict = f"{_points(abs(gap))} points apart, within the {_points(margin)}-point margin"
    else:
        verdict = f"{_points(abs(gap))} points apart, beyond the {_points(margin)}-point margin"
    return (
        f"{outcome['outcome']}: {outcome['ideal']} + {act} {_pct(outcome['ideal_median'])} vs "
        f"{outcome['risky']} + {act} {_pct(outcome['risky_median'])} validation accuracy "
        f"{when}{where} (median of {seeds} seeds; ranges {_points(lo_i)}-{_points(hi_i)}% and "
        f"{_points(lo_r)}-{_points(hi_r)}%), {verdict}"
    )


def demo_rows(
    settings: Sequence[Mapping],
    pairs: Mapping[str, Mapping] | None = None,
    epochs: Mapping[str, int] | None = None,
    depths: Mapping[str, int] | None = None,
) -> list[dict]:
    """Lecture 002's four rows, marked at initialization and (where trained) in training.

    Each row's mark is :func:`combine_marks` of its initialization mark
    (:func:`initialization_mark` on the ``propagate`` row of the same initializer and
    activation) and its training mark (:func:`training_mark` of the pair with its
    activation); without a trained pair (``demo --quick`` trains one) the row has no overall
    mark. The two ReLU rows carry :data:`DEAD_UNITS_NOTE` instead of any dead-unit mark.

    Example:
        >>> rows = demo_rows(result.initialization.settings, pairs)        # doctest: +SKIP

    Args:
        settings: ``PropagationResult.settings`` holding the four pairings.
        pairs: :func:`pair_outcome` dicts keyed by activation (``"relu"``, ``"tanh"``).
        epochs, depths: each trained pair's epochs and hidden layers, by activation, quoted
            in the sentences.

    Returns:
        One dict per row of :data:`COURSE_PAIRINGS`: ``pairing, initializer, activation,
        course_grade, course_says, initialization_mark, initialization, training_mark,
        training, mark, reason, erratum`` (``None`` where a part was not run).

    Raises:
        ValueError: a pairing of :data:`COURSE_PAIRINGS` missing from ``settings``.
    """
    pairs, epochs, depths = pairs or {}, epochs or {}, depths or {}
    by_key = {(row.get("initializer"), row.get("activation")): row for row in settings}
    rows = []
    for init, act, grade, says, kind in COURSE_PAIRINGS:
        setting = by_key.get((init, act))
        if setting is None:
            raise ValueError(
                f"the propagation has no {init} + {act} setting; run propagate with "
                f"initializers=['glorot_uniform', 'he_normal'], activations=['tanh', 'relu']."
            )
        init_mark, init_text = initialization_mark(kind, setting)
        outcome = pairs.get(act)
        train_mark = train_text = mark = None
        if outcome is not None:
            train_mark = training_mark(outcome)
            train_text = training_text(outcome, epochs.get(act), depths.get(act))
            mark = combine_marks(init_mark, train_mark)
        pairing = f"{init} + {act}"
        reason = f"At initialization, {init_text}"
        reason += f"; in training, {train_text}." if train_text else "; not trained in this run."
        rows.append(
            {
                "pairing": pairing,
                "initializer": init,
                "activation": act,
                "course_grade": grade,
                "course_says": says,
                "initialization_mark": init_mark,
                "initialization": init_text,
                "training_mark": train_mark,
                "training": train_text,
                "mark": mark,
                "reason": reason,
                "erratum": DEAD_UNITS_NOTE if act == "relu" else None,
            }
        )
    return rows
