"""Tests for keras_init_lab.lessons.dead_units and examples/15_dead_relu_units.py.

The lesson's claims, each checked on the numbers: the same draws at He and Glorot scale have
the same dead units (and different ones once a bias breaks the homogeneity); the dead fraction
grows with depth; a leaky slope and BatchNorm leave no dead unit; the lesson's count is the one
``ActivationStats`` reports for the same weights.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from _example_checks import assert_output_matches, expected_output, load  # noqa: E402

from keras_init_lab.callbacks.activation_stats import activation_statistics
from keras_init_lab.lessons import dead_units

#: float64's unit roundoff, 2^-53: the relative rounding of one operation.
UNIT_ROUNDOFF = 2.0**-53


@pytest.fixture(scope="module")
def lesson():
    return dead_units.dead_unit_lesson()


def test_same_draws_at_he_and_glorot_scale_have_the_same_dead_units(lesson):
    same = lesson.zero_bias
    assert same.scale_ratio == pytest.approx(2**-0.5, rel=1e-12)  # sqrt(Var_G / Var_He)
    assert same.he.weight_std == pytest.approx(0.25) and lesson.width == 32  # sqrt(2 / 32)
    # Exact equality is right here: a dead unit is a count of signs, and the two networks have
    # the same signs. No float rounding can create a zero or flip a sign: a computed sign can
    # differ from the exact one only where |z| <= width * u * sum_j |W_ij h_j| (the dot
    # product's forward error bound, Higham 2002, eq. 3.5), and every pre-activation of both
    # networks lies at least 1e4 times further from 0 than that (margin); a positive z cannot
    # underflow to 0 (the smallest activations are ~2^-25 here, float64 goes down to 1e-308);
    # an input that is exactly 0 gives exactly 0 at any scale (those entries have no margin).
    rounding = lesson.width * UNIT_ROUNDOFF
    for units in (lesson.deep.he, lesson.deep.glorot):
        assert np.nanmin(units.margin) > 1e4 * rounding
    assert same.identical
    assert np.array_equal(same.he.dead_masks, same.glorot.dead_masks)
    assert np.array_equal(same.he.dead_fraction, same.glorot.dead_fraction)
    # Not vacuous: many units are dead, in both.
    assert same.he.overall > 0.1 and same.he.dead_masks.sum() > 1000
    # The mechanism: Glorot's activations are He's times c^l, to rounding.
    assert np.max(lesson.deep.scaling_error) < 100 * len(lesson.deep.scaling_error) * rounding


def test_glorot_and_he_differ_by_exactly_the_variance_factor(lesson):
    he, glorot = lesson.second_moment_ratio("he"), lesson.second_moment_ratio("glorot")
    assert lesson.predicted_glorot_ratio == 0.5**19
    # E[h^2] at layer 20 over layer 1: Glorot's is He's times c^(2 * 19) = 0.5^19.
    assert glorot == pytest.approx(he * 0.5**19, rel=1e-9)
    assert glorot < 1e-5 < 0.1 < he < 10


def test_nonzero_biases_make_the_dead_units_depend_on_the_scale(lesson):
    negative = lesson.variants["bias -0.1"]
    positive = lesson.variants["bias +0.1"]
    for r in (negative, positive):
        assert not r.identical
        assert np.max(r.scaling_error) > 0.1  # the homogeneity is broken
    # Glorot's signal shrinks under a fixed negative bias: most deep units die.
    assert negative.glorot.overall > negative.he.overall + 0.3
    assert negative.glorot.dead_fraction[-1] > 0.9
    assert positive.he.overall != positive.glorot.overall


def test_dead_fraction_grows_with_depth(lesson):
    by_depth = lesson.by_depth()
    assert list(by_depth) == [4, 20, 50]
    shares = [he for he, _ in by_depth.values()]
    assert shares == [glorot for _, glorot in by_depth.values()]
    assert shares[0] < 0.02 and shares[1] > 0.1 and shares[2] > 0.25
    assert shares[0] < shares[1] < shares[2]
    per_layer = lesson.deep.he.dead_fraction
    assert per_layer[0] == 0.0  # symmetric N(0, 1) inputs: no first-layer unit is dead
    # Rising trend: each decade of layers has more dead units than the one before.
    decades = per_layer.reshape(5, 10).mean(axis=1)
    assert np.all(np.diff(decades) > 0)
    # The L-layer net is the first L layers of the deeper one (same seed, same draws).
    shallow = dead_units.compare_scales(depth=4)
    assert np.array_equal(shallow.he.dead_masks, lesson.deep.he.first_layers(4).dead_masks)
    assert by_depth[4][0] == pytest.approx(shallow.he.overall, abs=1e-12)  # same units


def test_leaky_slope_leaves_no_dead_unit(lesson):
    leaky = lesson.variants["leaky 0.01"]
    assert leaky.he.overall == 0.0 and leaky.glorot.overall == 0.0
    # The units are still "off" as often (leaky ReLU is positively homogeneous too), but their
    # slope is 0.01, not 0, so they still get a gradient.
    assert leaky.identical_never_positive
    assert leaky.he.never_positive_fraction.mean() > 0.1
    assert np.max(leaky.scaling_error) < 1e-12


def test_batchnorm_before_relu_leaves_no_dead_unit(lesson):
    bn = lesson.variants["batchnorm"]
    assert bn.he.overall == 0.0 and bn.glorot.overall == 0.0
    assert bn.he.never_positive_fraction.max() == 0.0
    # Same draws, zero biases, ReLU without BatchNorm: units die.
    assert lesson.zero_bias.he.overall > 0.1


def test_relu_count_is_activation_stats_dead_fraction():
    """The lesson's dead units are ``ActivationStats``' dead units for the same weights."""
    probe, kernels = dead_units._draws(20, 32, 1, 256, seed=3)
    r = dead_units._compare(probe, kernels, 0.0, 0.0, False)
    model = keras.Sequential(
        [keras.Input((32,), dtype="float64")]
        + [
            keras.layers.Dense(32, activation="relu", use_bias=False, dtype="float64")
            for _ in range(20)
        ]
    )
    for k, layer in enumerate(model.layers):
        layer.set_weights([kernels[0, k] * r.he.weight_std])
    record = activation_statistics(model, probe)
    counted = np.rint(np.asarray(record["dead_fraction"]) * 32).astype(int)
    assert counted.tolist() == r.he.dead_masks.sum(axis=(1, 2)).tolist()
    assert counted.tolist() == r.he.never_positive_masks.sum(axis=(1, 2)).tolist()
    assert counted.sum() > 20  # some units are dead, so the comparison says something


def test_batchnorm_variant_matches_keras_batchnormalization():
    """The BatchNorm variant normalizes each unit of each draw over the probe, as Keras does."""
    depth, draws = 6, 2  # two draws: a normalization across draws would show
    probe, kernels = dead_units._draws(depth, 32, draws, 256, seed=5)
    r = dead_units._compare(probe, kernels, 0.0, 0.0, True)
    moments = []
    for d in range(draws):
        inputs = keras.Input((32,), dtype="float64")
        h, outputs, dense_layers = inputs, [], []
        for _ in range(depth):
            dense = keras.layers.Dense(32, use_bias=False, dtype="float64")
            h = dense(h)
            h = keras.layers.BatchNormalization(dtype="float64")(h)  # epsilon 1e-3 as the lesson
            h = keras.layers.ReLU(dtype="float64")(h)
            dense_layers.append(dense)
            outputs.append(h)
        for k, dense in enumerate(dense_layers):
            dense.set_weights([kernels[d, k] * r.he.weight_std])
        activations_ = keras.Model(inputs, outputs)(probe, training=True)
        moments.append([float(np.mean(np.asarray(a) ** 2)) for a in activations_])
    # float64 on both sides; the sums differ in order only.
    np.testing.assert_allclose(r.he.second_moment, np.mean(moments, axis=0), rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"depth": 0}, ValueError),
        ({"depth": dead_units.MAX_DEPTH + 1}, ValueError),
        ({"depth": "20"}, TypeError),
        ({"width": 2.5}, TypeError),
        ({"draws": 0}, ValueError),
        ({"probe_size": 1}, ValueError),
        ({"bias": "0.1"}, TypeError),
        ({"negative_slope": 1.0}, ValueError),
        ({"negative_slope": -0.1}, ValueError),
        ({"batchnorm": "yes"}, TypeError),
    ],
)
def test_compare_scales_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        dead_units.compare_scales(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"depths": []}, ValueError),
        ({"depths": 20}, TypeError),
        ({"depths": [4, 0]}, ValueError),
        ({"biases": [0.0]}, ValueError),
        ({"biases": [True]}, TypeError),
        ({"negative_slope": 0.0}, ValueError),
    ],
)
def test_dead_unit_lesson_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        dead_units.dead_unit_lesson(depth=3, draws=2, **kwargs)


def test_15_dead_relu_units(capsys):
    module = load("15_dead_relu_units")
    result = module.main()
    printed = capsys.readouterr().out
    # NumPy's seeded float64 draws: the counts are exact; 0.05 points covers the last digit.
    assert_output_matches(printed, expected_output(module), rel=1e-3, abs_tol=0.05)
    same = result["lesson"].zero_bias
    assert same.identical and same.he.overall > 0.1
    assert all(len(line) <= 100 for line in printed.splitlines())
