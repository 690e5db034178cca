"""Tests for experiments.pairings: lecture 002's summary table next to the measurement.

Hand-made runs and propagation rows (no training) pin each mark rule with a known answer:
for a comparison's runs (``course_pairings``), ideal pairings agree only when the balance is
measured and the run learns, risky pairings only when the predicted effect is measured and
training suffers; for the demo, every branch of ``initialization_mark``, ``pair_outcome``
(boundaries included), ``training_mark``, ``combine_marks`` and ``demo_rows``. Every reason
quotes the numbers it rests on, and no mark rests on dead units (erratum 22).
"""

import math

import pytest

from keras_init_lab.experiments.pairings import (
    BALANCE_FACTOR,
    COURSE_PAIRINGS,
    DEAD_UNITS_ERRATUM,
    DEAD_UNITS_NOTE,
    MARKS,
    PAIR_OUTCOMES,
    TRAINING_MARGIN,
    combine_marks,
    course_pairings,
    demo_rows,
    initialization_mark,
    pair_outcome,
    training_mark,
    training_text,
)
from keras_init_lab.report import COURSE_EXPECTATIONS, format_pairings


def _run(init, act, **overrides):
    run = {
        "initializer": init,
        "activation": act,
        "depth": 20,
        "verdict_kind": "learns",
        "epochs_to_target": 5,
        "final_accuracy": 0.93,
        "first_nonfinite_epoch": None,
        "grad_ratio_start": 1.5,
        "activation_variance_start": [1.0] + [0.8] * 19,
        "dead_fraction_start_per_layer": [0.0] * 20,
        "saturated_fraction_start_per_layer": [0.05] * 20,
    }
    run.update(overrides)
    return run


def _rows(*runs):
    return {row["pairing"]: row for row in course_pairings(list(runs), target=0.9)}


def test_course_table_is_lecture_002s_four_pairings():
    assert [(i, a, g) for i, a, g, *_ in COURSE_PAIRINGS] == [
        ("glorot_uniform", "tanh", "ideal"),
        ("he_normal", "relu", "ideal"),
        ("glorot_uniform", "relu", "risky"),
        ("he_normal", "tanh", "risky"),
    ]
    assert [row[:3] for row in COURSE_EXPECTATIONS] == [p[:3] for p in COURSE_PAIRINGS]
    assert BALANCE_FACTOR == 10.0 and TRAINING_MARGIN == 0.30
    assert MARKS == ("agrees", "partly", "disagrees")


def test_ideal_pairing_marks():
    good = _rows(_run("he_normal", "relu"))["he_normal + relu"]
    assert good["mark"] == "agrees" and good["effect_measured"] and good["trains"]
    assert "x0.8" in good["reason"] and "epoch 5" in good["reason"]
    # Balanced but does not reach the target: partly, and the reason says so.
    slow = _rows(
        _run(
            "glorot_uniform", "tanh", verdict_kind="slow", epochs_to_target=None, final_accuracy=0.7
        )
    )["glorot_uniform + tanh"]
    assert slow["mark"] == "partly" and "learns slowly: 70%" in slow["reason"]
    assert "has the balance the course predicts" in slow["reason"]
    # Dead units are reported, never marked: the same draws at He's or Glorot's scale have
    # the same dead units (erratum 22), so 30% of them changes nothing.
    dead = _rows(_run("he_normal", "relu", dead_fraction_start_per_layer=[0.3] * 20))
    assert dead["he_normal + relu"]["mark"] == "agrees"
    assert (
        "30% of ReLU units dead at initialization (not a mark"
        in dead["he_normal + relu"]["measured"]
    )
    assert DEAD_UNITS_ERRATUM in dead["he_normal + relu"]["measured"]
    # Neither balanced (variance x1e-4) nor learning: disagrees.
    bad = _rows(
        _run(
            "glorot_uniform",
            "tanh",
            verdict_kind="stuck",
            epochs_to_target=None,
            final_accuracy=0.5,
            activation_variance_start=[1.0, 1e-4],
        )
    )
    assert bad["glorot_uniform + tanh"]["mark"] == "disagrees"


def test_risky_pairing_marks():
    partner = _run("he_normal", "relu", epochs_to_target=3)
    low = _run("glorot_uniform", "relu", activation_variance_start=[1.0, 2e-6], epochs_to_target=7)
    row = _rows(partner, low)["glorot_uniform + relu"]
    # The variance falls 5e5x and it reaches the target 4 epochs after He: agrees.
    assert row["mark"] == "agrees" and row["effect_measured"] and row["training_hurt"]
    assert "x2e-06" in row["reason"] and "4 epoch(s) after he_normal + relu" in row["reason"]
    # Same fall, but as fast as He: partly, and the reason says it learns anyway.
    same = _rows(partner, {**low, "epochs_to_target": 3})["glorot_uniform + relu"]
    assert same["mark"] == "partly" and "although" in same["reason"]
    # He + tanh learning with a balanced gradient: the explosion is not there.
    calm = _rows(
        _run(
            "he_normal",
            "tanh",
            grad_ratio_start=2.0,
            saturated_fraction_start_per_layer=[0.31] + [0.2] * 19,
        ),
        _run("glorot_uniform", "tanh", epochs_to_target=5),
    )["he_normal + tanh"]
    assert calm["mark"] == "disagrees"
    assert "because tanh saturates instead of exploding" in calm["reason"]
    assert "saturation 31% at layer 1" in calm["reason"]
    # With little saturation, saturation is not offered as the explanation.
    unsaturated = _rows(
        _run(
            "he_normal",
            "tanh",
            grad_ratio_start=0.23,
            saturated_fraction_start_per_layer=[0.03] * 20,
        ),
        _run("glorot_uniform", "tanh", epochs_to_target=5),
    )["he_normal + tanh"]
    assert "saturates" not in unsaturated["reason"]
    assert "no explosion at this depth and width" in unsaturated["reason"]
    # A gradient 40x larger at the first layer and a run that does not learn: agrees.
    wild = _rows(
        _run(
            "he_normal",
            "tanh",
            grad_ratio_start=40.0,
            verdict_kind="stuck",
            epochs_to_target=None,
            final_accuracy=0.5,
        )
    )["he_normal + tanh"]
    assert wild["mark"] == "agrees" and "40" in wild["reason"]


def test_a_variance_that_does_not_fall_tenfold_is_not_the_predicted_effect():
    """ "Variance too low" needs a fall beyond 1 / BALANCE_FACTOR: x2 (grows) and x0.5 (a
    twofold fall, inside the band) are not it, x0.099 is."""
    stuck = dict(verdict_kind="stuck", epochs_to_target=None, final_accuracy=0.5)
    for change, effect in ((2.0, False), (0.5, False), (0.099, True), (1 / BALANCE_FACTOR, False)):
        row = _rows(
            _run("glorot_uniform", "relu", activation_variance_start=[1.0, change], **stuck)
        )
        row = row["glorot_uniform + relu"]
        assert row["effect_measured"] is effect, change
        assert row["mark"] == ("agrees" if effect else "partly"), change
        assert ("does not fall" in row["reason"]) is not effect


def test_a_diverged_run_is_the_explosion_even_with_a_balanced_gradient():
    """He + tanh's "can make gradients explode": a loss that became NaN is the effect, whatever
    the gradient ratio at the first step."""
    run = _run(
        "he_normal",
        "tanh",
        grad_ratio_start=2.0,
        verdict_kind="diverged",
        epochs_to_target=None,
        first_nonfinite_epoch=3,
        final_accuracy=None,
    )
    row = _rows(run)["he_normal + tanh"]
    assert row["effect_measured"] and row["mark"] == "agrees"
    assert "diverges (loss NaN/inf in epoch 3)" in row["reason"]
    calm = _rows({**run, "verdict_kind": "stuck", "first_nonfinite_epoch": None})
    assert not calm["he_normal + tanh"]["effect_measured"]


def test_balance_band_includes_both_ends():
    """Within BALANCE_FACTOR either way, ends included: x0.1 and x10 are balanced."""
    for change, balanced in ((0.1, True), (10.0, True), (0.0999, False), (10.01, False)):
        row = _rows(_run("glorot_uniform", "tanh", activation_variance_start=[1.0, change]))
        assert row["glorot_uniform + tanh"]["effect_measured"] is balanced, change


# ---------------------------------------------------------------- the demo's marking rule


def _direction(verdict, change, predicted=None, gain=None):
    return {
        "verdict": verdict,
        "change": change,
        "predicted_change": predicted,
        "gain_per_layer": gain,
    }


def _setting(init, act, forward, backward, depth=50):
    return {
        "initializer": init,
        "activation": act,
        "depth": depth,
        "forward": _direction(*forward),
        "backward": _direction(*backward),
    }


#: The four pairings as lecture 002's 50 x 100 net measures them (rounded), mean field beside.
FOUR = [
    _setting("glorot_uniform", "tanh", ("decaying", 0.0096, 0.0096, 0.91), ("decaying", 0.015)),
    _setting("glorot_uniform", "relu", ("vanishing", 1.1e-15, 1.8e-15, 0.5), ("vanishing", 2e-15)),
    _setting("he_normal", "tanh", ("stable", 0.3, 0.31, 0.976), ("growing", 73.0, 59.0, 1.09)),
    _setting("he_normal", "relu", ("stable", 0.92, 1.0, 0.998), ("stable", 0.94, 1.0, 0.999)),
]


@pytest.mark.parametrize(
    "forward, backward, mark",
    [
        ("stable", "stable", "agrees"),
        ("decaying", "stable", "partly"),
        ("stable", "growing", "partly"),
        ("vanishing", "stable", "disagrees"),
        ("stable", "exploding", "disagrees"),
        ("decaying", "exploding", "disagrees"),
    ],
)
@pytest.mark.parametrize("kind", ["balanced", "balanced_few_dead"])
def test_initialization_mark_of_a_stable_claim_is_its_worse_direction(
    kind, forward, backward, mark
):
    setting = _setting("x", "y", (forward, 0.5), (backward, 2.0))
    got, text = initialization_mark(kind, setting)
    assert got == mark
    assert "forward x0.5 from layer 1 to 50" in text and "backward x2 from layer 50 to 1" in text


@pytest.mark.parametrize(
    "forward, mark",
    [
        ("vanishing", "agrees"),
        ("decaying", "agrees"),
        ("stable", "disagrees"),
        ("growing", "disagrees"),
        ("exploding", "disagrees"),
    ],
)
def test_initialization_mark_of_variance_too_low_reads_the_forward_direction(forward, mark):
    got, text = initialization_mark(
        "variance_low", _setting("x", "y", (forward, 0.01), ("stable", 1))
    )
    assert got == mark
    assert ("does not fall" in text) is (mark == "disagrees")
    assert "backward" not in text


@pytest.mark.parametrize(
    "backward, gain, mark",
    [
        ("growing", 1.09, "agrees"),
        ("exploding", 1.2, "agrees"),
        ("stable", 1.02, "partly"),
        ("stable", 0.99, "disagrees"),
        ("stable", 1.0, "disagrees"),  # a gain of exactly 1 does not grow
        ("stable", None, "disagrees"),
        ("decaying", 0.9, "disagrees"),
        ("vanishing", 0.5, "disagrees"),
    ],
)
def test_initialization_mark_of_growing_gradients_reads_the_backward_direction(
    backward, gain, mark
):
    setting = _setting("x", "y", ("stable", 0.3), (backward, 3.0, None, gain))
    got, text = initialization_mark("gradients_grow", setting)
    assert got == mark
    assert text.startswith("backward x3 from layer 50 to 1")
    if mark == "partly":
        assert "stays within 10x at 50 layers" in text


def test_initialization_mark_quotes_mean_field_and_gain_and_refuses_unknown_kinds():
    _, text = initialization_mark("variance_low", FOUR[1])
    assert "forward x1.1e-15 from layer 1 to 50 (mean field x1.8e-15, 0.5 per layer)" in text
    unmeasured = _setting("x", "y", ("exploding", None), ("exploding", None))
    assert initialization_mark("balanced", unmeasured) == (
        "disagrees",
        "forward exploding from layer 1 to 50 and backward exploding from layer 50 to 1 "
        "(exploding forward, exploding backward)",
    )
    with pytest.raises(ValueError, match="kind must be one of .*received kind='stable'"):
        initialization_mark("stable", FOUR[0])


@pytest.mark.parametrize(
    "ideal, risky, outcome",
    [
        ([0.9, 0.9, 0.9], [0.6, 0.6, 0.6], "ideal ahead"),  # gap the margin (+ 1 ulp)
        ([0.9, 0.9, 0.9], [0.61, 0.61, 0.61], "tie"),  # just inside it
        ([0.6, 0.6, 0.6], [0.9, 0.9, 0.9], "risky ahead"),  # minus the margin (- 1 ulp)
        ([0.61, 0.61, 0.61], [0.9, 0.9, 0.9], "tie"),
        ([0.95, 0.10, 0.90], [0.10, 0.10, 0.92], "ideal ahead"),  # medians 0.90 vs 0.10
        (
            [0.95, 0.10, 0.12],
            [0.10, 0.10, 0.92],
            "tie",
        ),  # means would say 0.39 vs 0.37, medians 0.12 vs 0.10
        ([0.9, 0.8], [0.1, 0.2], "ideal ahead"),  # even count: medians 0.85 vs 0.15
    ],
)
def test_pair_outcome_is_the_gap_of_the_medians_against_the_margin(ideal, risky, outcome):
    got = pair_outcome("relu", "he_normal", ideal, "glorot_uniform", risky)
    assert got["outcome"] == outcome
    # The medians are of 2 or 3 decimals: a float difference within a few ulps of the exact one.
    exact = sorted(ideal)[len(ideal) // 2] if len(ideal) % 2 else sum(sorted(ideal)[:2]) / 2
    assert got["ideal_median"] == pytest.approx(exact, abs=1e-12)
    assert got["ideal_range"] == (min(ideal), max(ideal))
    assert got["risky_range"] == (min(risky), max(risky))
    assert got["margin"] == TRAINING_MARGIN


def test_pair_outcome_boundaries_are_ahead_exactly_at_the_margin():
    """A gap of exactly the margin is "ahead" (>=), either way. Dyadic accuracies (0.75, 0.5
    and a margin of 0.25) are exact in binary, so the gap is exactly the margin; with the
    default margin, 0.5 - 0.2 is exactly the double nearest 0.3, TRAINING_MARGIN itself."""
    exact = pair_outcome("relu", "he_normal", [0.75], "glorot_uniform", [0.5], margin=0.25)
    assert exact["gap"] == 0.25 and exact["outcome"] == "ideal ahead"
    behind = pair_outcome("relu", "he_normal", [0.5], "glorot_uniform", [0.75], margin=0.25)
    assert behind["gap"] == -0.25 and behind["outcome"] == "risky ahead"
    at_default = pair_outcome("relu", "he_normal", [0.5] * 3, "glorot_uniform", [0.2] * 3)
    assert at_default["gap"] == TRAINING_MARGIN and at_default["outcome"] == "ideal ahead"
    reverse = pair_outcome("relu", "he_normal", [0.2] * 3, "glorot_uniform", [0.5] * 3)
    assert reverse["gap"] == -TRAINING_MARGIN and reverse["outcome"] == "risky ahead"


def test_pair_outcome_margin_and_bad_input():
    wide = pair_outcome("tanh", "glorot_uniform", [0.9], "he_normal", [0.7], margin=0.1)
    assert wide["outcome"] == "ideal ahead" and math.isclose(wide["gap"], 0.2)
    assert pair_outcome("tanh", "glorot_uniform", [0.9], "he_normal", [0.7])["outcome"] == "tie"
    for bad, error in (
        ([], ValueError),
        ([1.2], ValueError),
        ([-0.1], ValueError),
        (["0.9"], TypeError),
        ([True], TypeError),
        ("0.9", TypeError),
        (0.9, TypeError),
    ):
        with pytest.raises(error, match="ideal_accuracies"):
            pair_outcome("relu", "he_normal", bad, "glorot_uniform", [0.1])
    with pytest.raises(ValueError, match="margin must be in"):
        pair_outcome("relu", "he_normal", [0.9], "glorot_uniform", [0.1], margin=0)
    with pytest.raises(TypeError, match="margin must be a number"):
        pair_outcome("relu", "he_normal", [0.9], "glorot_uniform", [0.1], margin="0.3")


def test_training_mark_and_combine_marks():
    assert [training_mark({"outcome": o}) for o in PAIR_OUTCOMES] == [
        "agrees",
        "partly",
        "disagrees",
    ]
    with pytest.raises(ValueError, match="outcome must be one of"):
        training_mark({"outcome": "ahead"})
    for mark in MARKS:
        assert combine_marks(mark) == mark and combine_marks(mark, mark) == mark
    assert combine_marks("agrees", "partly") == "partly"
    assert combine_marks("agrees", "disagrees") == "partly"
    assert combine_marks("disagrees", "partly") == "partly"
    with pytest.raises(ValueError):
        combine_marks()
    with pytest.raises(ValueError, match="received 'AGREES'"):
        combine_marks("AGREES")


def test_training_text_says_who_is_ahead_with_medians_ranges_and_margin():
    ahead = pair_outcome(
        "relu", "he_normal", [0.9, 0.88, 0.92], "glorot_uniform", [0.08, 0.08, 0.11]
    )
    text = training_text(ahead, epochs=20, depth=30)
    assert text == (
        "ideal ahead: he_normal + relu 90% vs glorot_uniform + relu 8% validation accuracy at "
        "the end of 20 epochs at 30 layers (median of 3 seeds; ranges 88-92% and 8-11%), 82 "
        "points apart, beyond the 30-point margin"
    )
    tie = pair_outcome("tanh", "glorot_uniform", [0.95], "he_normal", [0.89])
    assert "tie:" in training_text(tie) and "6 points apart, within the 30-point margin" in (
        training_text(tie)
    )
    behind = pair_outcome("tanh", "glorot_uniform", [0.2], "he_normal", [0.9])
    assert training_text(behind).startswith("risky ahead:") and "70 points apart" in (
        training_text(behind)
    )


def _outcome(act, ideal, risky, gap_kind):
    values = {"ahead": ([0.9] * 3, [0.1] * 3), "tie": ([0.9] * 3, [0.85] * 3)}[gap_kind]
    return pair_outcome(act, ideal, values[0], risky, values[1])


def test_demo_rows_mark_every_row_from_both_parts():
    pairs = {
        "relu": _outcome("relu", "he_normal", "glorot_uniform", "ahead"),
        "tanh": _outcome("tanh", "glorot_uniform", "he_normal", "ahead"),
    }
    rows = {r["pairing"]: r for r in demo_rows(FOUR, pairs, {"relu": 20}, {"relu": 30})}
    assert list(rows) == [f"{i} + {a}" for i, a, *_ in COURSE_PAIRINGS]
    expected = {
        "glorot_uniform + tanh": ("partly", "agrees", "partly"),
        "he_normal + relu": ("agrees", "agrees", "agrees"),
        "glorot_uniform + relu": ("agrees", "agrees", "agrees"),
        "he_normal + tanh": ("agrees", "agrees", "agrees"),
    }
    for name, (init, train, mark) in expected.items():
        row = rows[name]
        assert (row["initialization_mark"], row["training_mark"], row["mark"]) == (
            init,
            train,
            mark,
        )
        assert row["reason"].startswith("At initialization, ") and row["reason"].endswith(".")
        assert "\n" not in row["reason"]
    assert "at the end of 20 epochs at 30 layers" in rows["he_normal + relu"]["reason"]
    assert "backward x73 from layer 50 to 1 (mean field x59" in rows["he_normal + tanh"]["reason"]
    # The dead-units erratum rides with the ReLU rows, never as a mark.
    assert rows["he_normal + relu"]["erratum"] == DEAD_UNITS_NOTE
    assert rows["glorot_uniform + relu"]["erratum"] == DEAD_UNITS_NOTE
    assert rows["he_normal + tanh"]["erratum"] is None
    assert DEAD_UNITS_ERRATUM in DEAD_UNITS_NOTE


def test_demo_rows_tie_and_missing_parts():
    tie = {"tanh": _outcome("tanh", "glorot_uniform", "he_normal", "tie")}
    rows = {r["pairing"]: r for r in demo_rows(FOUR, tie)}
    # He + tanh: the growth is measured at initialization, the training ties: partly.
    assert rows["he_normal + tanh"]["training_mark"] == "partly"
    assert rows["he_normal + tanh"]["mark"] == "partly"
    assert "tie:" in rows["he_normal + tanh"]["reason"]
    # Untrained pair (--quick): a mark at initialization, none in training and overall.
    relu = rows["glorot_uniform + relu"]
    assert relu["initialization_mark"] == "agrees"
    assert relu["training_mark"] is None and relu["mark"] is None and relu["training"] is None
    assert relu["reason"].endswith("not trained in this run.")
    with pytest.raises(ValueError, match="no he_normal \\+ relu setting"):
        demo_rows(FOUR[:3])


def test_other_runs_are_ignored_and_the_text_table_lists_marks():
    rows = course_pairings([_run("zeros", "relu"), _run("he_normal", "relu")], target=0.9)
    assert [row["pairing"] for row in rows] == ["he_normal + relu"]
    text = format_pairings(rows)
    assert "AGREES" in text and "course says (lecture 002)" in text and "why:" in text


@pytest.mark.parametrize("verdict_kind", ["learns", "slow", "stuck", "diverged"])
def test_every_reason_is_one_sentence_with_numbers(verdict_kind):
    extra = {} if verdict_kind == "learns" else {"epochs_to_target": None}
    if verdict_kind == "diverged":
        extra["first_nonfinite_epoch"] = 2
    runs = [_run(i, a, verdict_kind=verdict_kind, **extra) for i, a, *_ in COURSE_PAIRINGS]
    for row in course_pairings(runs, target=0.9):
        assert "\n" not in row["reason"] and row["reason"].endswith(".")
        assert any(ch.isdigit() for ch in row["reason"])
