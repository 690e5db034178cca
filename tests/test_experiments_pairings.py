"""Tests for experiments.pairings: lecture 002's summary table next to the measurement.

Hand-made runs (no training) pin each mark rule: ideal pairings agree only when the balance
is measured and the run learns; risky pairings agree only when the predicted effect is
measured and training suffers; every reason quotes the numbers it rests on.
"""

import pytest

from keras_init_lab.experiments.pairings import (
    BALANCE_FACTOR,
    COURSE_PAIRINGS,
    FEW_DEAD_FRACTION,
    course_pairings,
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
    assert BALANCE_FACTOR == 10.0 and FEW_DEAD_FRACTION == 0.10


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
    # Too many dead ReLU units breaks "few dead units".
    dead = _rows(_run("he_normal", "relu", dead_fraction_start_per_layer=[0.3] * 20))
    assert dead["he_normal + relu"]["mark"] == "partly"
    assert "30% of ReLU units dead" in dead["he_normal + relu"]["measured"]
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
