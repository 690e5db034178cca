import math

import numpy as np
import pytest

from keras_init_lab.fans import (
    GAINS,
    MODES,
    calculate_gain,
    compute_fans,
    fan_for_mode,
    gain_table,
)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((784, 128), (784, 128)),
        ((7,), (7, 7)),
        ((5, 16, 32), (80, 160)),  # Conv1D: kernel 5, 16 -> 32 channels
        ((3, 3, 64, 128), (576, 1152)),  # Conv2D 3x3
        ((2, 3, 4, 8, 16), (192, 384)),  # Conv3D 2x3x4
        ((np.int64(3), np.int32(4)), (3, 4)),
    ],
)
def test_compute_fans(shape, expected):
    assert compute_fans(shape) == expected


@pytest.mark.parametrize("shape", [(), (0, 4), (3, -1)])
def test_compute_fans_rejects_bad_shapes_naming_them(shape):
    with pytest.raises(ValueError) as info:
        compute_fans(shape)
    assert repr(shape) in str(info.value) or "scalar" in str(info.value)


# Wrong type -> TypeError (the package's one validation policy; these were ValueErrors).
@pytest.mark.parametrize("shape", [(2.5, 4), (True, 3), None, 5, "34"])
def test_compute_fans_rejects_shapes_of_the_wrong_type_naming_them(shape):
    with pytest.raises(TypeError) as info:
        compute_fans(shape)
    assert repr(shape) in str(info.value)


@pytest.mark.parametrize(
    "name, param, expected",
    [
        ("linear", None, 1.0),
        ("conv2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3.0),
        ("relu", None, math.sqrt(2.0)),
        ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
        ("selu", None, 0.75),
        ("RELU", None, math.sqrt(2.0)),
    ],
)
def test_pytorch_gain_table(name, param, expected):
    assert calculate_gain(name, param) == pytest.approx(expected, rel=1e-12)


def _monte_carlo_gain(function, n=2_000_000):
    z = np.random.default_rng(0).standard_normal(n)
    return 1.0 / math.sqrt(np.mean(function(z) ** 2))


def test_second_moment_rule_reproduces_relu_and_leaky_relu():
    from keras_init_lab.fans import _second_moment_gain

    assert _second_moment_gain(lambda z: np.maximum(z, 0)) == pytest.approx(math.sqrt(2), 1e-7)
    assert _second_moment_gain(lambda z: np.where(z > 0, z, 0.3 * z)) == pytest.approx(
        calculate_gain("leaky_relu", 0.3), 1e-7
    )


@pytest.mark.parametrize(
    "name, function",
    [
        ("elu", lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))),
        ("gelu", lambda z: z * 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))),
        ("swish", lambda z: z / (1 + np.exp(-z))),
        ("silu", lambda z: z / (1 + np.exp(-z))),
    ],
)
def test_extended_gains_match_monte_carlo(name, function):
    # Independent check of the quadrature: a 2M-sample Monte Carlo estimate (0.1% noise).
    n = 200_000 if name == "gelu" else 2_000_000
    assert calculate_gain(name) == pytest.approx(_monte_carlo_gain(function, n), rel=5e-3)


def test_unknown_nonlinearity_lists_closest():
    with pytest.raises(ValueError, match=r"'rleu'.*Did you mean: 'relu'"):
        calculate_gain("rleu")


def test_bad_leaky_slope():
    # Wrong type -> TypeError (was a ValueError before the one validation policy).
    with pytest.raises(TypeError, match="param='a'"):
        calculate_gain("leaky_relu", "a")
    with pytest.raises(ValueError, match="param=inf"):
        calculate_gain("leaky_relu", float("inf"))
    with pytest.raises(TypeError, match="nonlinearity=3"):
        calculate_gain(3)


def test_gain_table_is_the_one_table():
    rows = gain_table()
    assert [r["nonlinearity"] for r in rows] == list(GAINS)
    for row in rows:
        assert row["value"] == calculate_gain(row["nonlinearity"])


def test_only_pytorch_rows_are_marked_pytorch():
    pytorch = {name for name, row in GAINS.items() if row.from_pytorch}
    assert {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"} <= pytorch
    assert not pytorch & {"elu", "gelu", "swish", "silu"}


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((300, 100), {"fan_in": 300, "fan_out": 100, "fan_avg": 200.0}),
        ((100, 300), {"fan_in": 100, "fan_out": 300, "fan_avg": 200.0}),
        # Conv2D 3x3, 16 -> 32 channels: 9 * 16 in, 9 * 32 out (Keras's (kh, kw, in, out)).
        ((3, 3, 16, 32), {"fan_in": 144, "fan_out": 288, "fan_avg": 216.0}),
        ((7,), {"fan_in": 7, "fan_out": 7, "fan_avg": 7.0}),
        ((5, 2), {"fan_in": 5, "fan_out": 2, "fan_avg": 3.5}),
    ],
)
def test_fan_for_mode(shape, fans):
    assert MODES == ("fan_in", "fan_out", "fan_avg")
    for mode, expected in fans.items():
        assert fan_for_mode(shape, mode) == expected, mode
        assert type(fan_for_mode(shape, mode)) is type(expected), mode


def test_fan_for_mode_agrees_with_keras_variance_scaling():
    # Keras's VarianceScaling draws with stddev sqrt(scale / fan) (uniform: limit sqrt(3 scale /
    # fan)); its uniform draw's largest magnitude reveals the fan it used.
    import keras

    shape = (3, 3, 16, 32)
    for mode in MODES:
        init = keras.initializers.VarianceScaling(1.0, mode, "uniform", seed=0)
        limit = float(np.max(np.abs(np.asarray(init(shape)))))
        expected = math.sqrt(3.0 / fan_for_mode(shape, mode))
        assert limit == pytest.approx(expected, rel=2e-3), mode  # 4608 draws reach the bound
        assert limit <= expected * (1 + 1e-6), mode


def test_fan_for_mode_rejects_bad_modes_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"'fan_avgg'.*'fan_avg'"):
        fan_for_mode((3, 4), "fan_avgg")
    with pytest.raises(TypeError, match=r"'fan_in', 'fan_out', 'fan_avg'; received mode=1"):
        fan_for_mode((3, 4), 1)
    with pytest.raises(ValueError, match=r"shape=\(0, 4\)"):
        fan_for_mode((0, 4), "fan_in")


def test_variance_scaling_and_check_model_use_fan_for_mode():
    import keras

    from keras_init_lab import initializers
    from keras_init_lab.diagnostics.describe import describe_initializer

    shape = (3, 3, 16, 32)
    for mode in MODES:
        assert initializers.VarianceScaling(2.0, mode).fan(shape) == fan_for_mode(shape, mode)
        info = describe_initializer(initializers.VarianceScaling(3.0, mode))
        assert info.second_moment(shape) == pytest.approx(3.0 / fan_for_mode(shape, mode))
        keras_info = describe_initializer(keras.initializers.VarianceScaling(3.0, mode))
        assert keras_info.second_moment(shape) == pytest.approx(3.0 / fan_for_mode(shape, mode))
    # Keras's HeNormal: scale 2 over fan_in = 3 * 3 * 16.
    assert describe_initializer(keras.initializers.HeNormal()).second_moment(shape) == (
        pytest.approx(2.0 / 144)
    )
