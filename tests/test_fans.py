import math

import numpy as np
import pytest

from keras_init_lab.fans import GAINS, calculate_gain, compute_fans, gain_table


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
