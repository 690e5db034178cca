"""Tests for the facts table of keras_init_lab.activations (``_facts``, ``_table``, ``_lookup``).

What they show: one table is the source of every name, alias, layer kind and ``__all__``; the
gain column of each row is the one its recommended initializer really uses (variance x fan);
PyTorch's ``calculate_gain`` sits in its own column ("n/a" where PyTorch raises); the errata
live in the facts with their numbers (GELU's mean 1/(2 sqrt(pi)), sigmoid's (0, 0.25],
leaky ReLU's max(a x, x)); ``describe()`` is a table that prints itself; the exact GELU runs
without ``keras.ops.erfc`` (Keras < 3.9).
"""

import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import special  # noqa: E402

from keras_init_lab import activations, cli, initializers  # noqa: E402
from keras_init_lab.activations import _constants, _facts, _functions, _table  # noqa: E402
from keras_init_lab.fans import calculate_gain, compute_fans, gain_table  # noqa: E402

SHAPES = [(300, 100), (100, 300), (3, 3, 16, 32)]


def _fan(mode, shape):
    fan_in, fan_out = compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _all_specs():
    specs = [activations.spec(name) for name in activations.names(include_layers=True)]
    specs.append(activations.spec(keras.activations.leaky_relu))  # slope 0.2
    specs.append(activations.spec(keras.layers.LeakyReLU()))  # slope 0.3
    return specs


@pytest.mark.parametrize("shape", SHAPES)
def test_implied_gain_is_what_the_recommended_initializer_draws(shape):
    # For every row the "its gain" column must equal sqrt(Var(W) * fan) of the initializer
    # named beside it: glorot 1 (fan_avg), lecun 1, he sqrt(2), leaky he sqrt(2/(1+a^2)).
    for s in _all_specs():
        init = s.initializer()
        assert type(init) is type(initializers.get(s.recommended_initializer)), s.name
        variance_times_fan = init.variance(shape) * _fan(s.implied_fan, shape)
        assert s.implied_gain**2 == pytest.approx(variance_times_fan, rel=1e-12), s.name
    expected = {
        "tanh": (1.0, "fan_avg"),
        "sigmoid": (1.0, "fan_avg"),
        "selu": (1.0, "fan_in"),
        "relu": (math.sqrt(2.0), "fan_in"),
        "elu": (math.sqrt(2.0), "fan_in"),
        "gelu": (math.sqrt(2.0), "fan_in"),
        "swish": (math.sqrt(2.0), "fan_in"),
        "leaky_relu": (math.sqrt(2.0 / (1 + 0.01**2)), "fan_in"),
    }
    for name, (gain, fan) in expected.items():
        s = activations.spec(name)
        assert (s.implied_gain, s.implied_fan) == (pytest.approx(gain, rel=1e-12), fan), name
    keras_leaky = activations.spec(keras.activations.leaky_relu)
    assert keras_leaky.implied_gain == pytest.approx(math.sqrt(2.0 / 1.04), rel=1e-12)


def test_pytorch_and_second_moment_gains_are_labelled_columns():
    rows = {row["name"]: row for row in activations.describe()}
    # PyTorch's calculate_gain values, and None where PyTorch raises.
    assert rows["tanh"]["pytorch_gain"] == pytest.approx(5.0 / 3.0)
    assert rows["selu"]["pytorch_gain"] == pytest.approx(0.75)
    assert rows["relu"]["pytorch_gain"] == pytest.approx(math.sqrt(2.0))
    for name in ("elu", "gelu", "gelu_tanh", "swish", "step", "softmax"):
        assert rows[name]["pytorch_gain"] is None, name
    # Second-moment gain 1/sqrt(E[f(z)^2]) against a Monte Carlo estimate on 1M samples.
    z = np.random.default_rng(0).standard_normal(1_000_000)
    for name in ("relu", "tanh", "sigmoid", "elu", "gelu", "swish", "selu"):
        values = np.asarray(activations.get(name)(tf.constant(z)))
        assert rows[name]["second_moment_gain"] == pytest.approx(
            1.0 / math.sqrt(np.mean(values**2)), rel=5e-3
        ), name
    assert rows["relu"]["second_moment_gain"] == pytest.approx(math.sqrt(2.0), rel=1e-7)
    assert rows["softmax"]["second_moment_gain"] is None

    text = activations.format_table(activations.describe())
    header, *lines = text.splitlines()
    for title in ("recommended initializer", "its gain (fan)", "PyTorch calculate_gain"):
        assert title in header
    assert "1/sqrt(E[f(z)^2])" in header
    line = {row.split()[0]: row for row in lines}
    assert "n/a (PyTorch raises)" in line["elu"] and "n/a (PyTorch raises)" in line["gelu"]
    assert "glorot_uniform" in line["tanh"] and "1 (fan_avg)" in line["tanh"]
    assert "1.667" in line["tanh"]  # PyTorch's 5/3, in its own column
    assert "lecun_normal" in line["selu"] and "1 (fan_in)" in line["selu"]
    assert "0.75" in line["selu"]
    assert "he_normal" in line["gelu"] and "1.414 (fan_in)" in line["gelu"]
    assert "1.534" in line["gelu"]


def test_gelu_is_not_zero_centred_and_says_so_with_the_number():
    s = activations.spec("gelu")
    mean = 1.0 / (2.0 * math.sqrt(math.pi))  # E[z Phi(z)] = E[phi(z)] = 1/(2 sqrt(pi))
    assert s.mean_output == pytest.approx(mean, abs=1e-9)
    z = np.random.default_rng(1).standard_normal(2_000_000)
    assert np.mean(z * special.ndtr(z)) == pytest.approx(mean, abs=2e-3)
    assert not s.zero_centered
    assert "0.2821" in s.notes and "zero-centred" in s.notes
    assert activations.spec("tanh").zero_centered and activations.spec("selu").zero_centered
    assert abs(activations.spec("selu").mean_output) < 1e-6


def test_sigmoid_slope_interval_is_half_open_and_attained_at_zero():
    derivative = activations.spec("sigmoid").derivative
    assert float(derivative(tf.constant(0.0, tf.float64))) == 0.25
    others = np.asarray(derivative(tf.constant(np.linspace(-8.0, 8.0, 1601)[801:])))
    assert others.max() < 0.25 and others.min() > 0.0
    assert "(0, 0.25]" in activations.spec("sigmoid").notes
    assert "(0, 0.25]" in activations.sigmoid.__doc__


def test_leaky_relu_is_max_ax_x_and_max_0_ax_x_is_relu():
    x = np.linspace(-5.0, 5.0, 1001)
    a = 0.01
    leaky = np.asarray(activations.leaky_relu(tf.constant(x)))
    np.testing.assert_allclose(leaky, np.maximum(a * x, x), rtol=1e-12)
    lecture_formula = np.maximum.reduce([np.zeros_like(x), a * x, x])
    np.testing.assert_array_equal(lecture_formula, np.asarray(activations.relu(tf.constant(x))))
    assert activations.spec("leaky_relu").formula == "max(0.01 x, x)"
    assert "max(0, a x, x)" in activations.spec("leaky_relu").notes


def test_describe_is_a_table_that_prints_itself():
    table = activations.describe()
    assert isinstance(table, activations.FactsTable) and isinstance(table, list)
    assert str(table) == activations.format_table(table)
    assert len(table.legend.splitlines()) == len(_table.COLUMNS)
    for column in _table.COLUMNS:
        assert column.header in table.legend


def test_one_table_is_the_source_of_every_name():
    rows = _facts.FACTS
    assert activations.names(include_layers=True) == [row.name for row in rows]
    assert activations.names() == [row.name for row in rows if row.kind == "function"]
    assert activations.aliases() == {a: row.name for row in rows for a in row.aliases}
    for row in rows:
        assert row.name in activations.__all__ and hasattr(activations, row.name)
        if row.kind == "function":
            assert row.function.__name__ == row.name  # saved as keras_init_lab>name
            assert keras.saving.get_registered_name(row.function) == f"keras_init_lab>{row.name}"
    for name in activations.__all__:
        assert hasattr(activations, name), name
    # Only names the installed Keras has are looked up for Keras's own functions.
    keras_names = [n for row in rows for n in row.keras_functions]
    for n in keras_names:
        if hasattr(keras.activations, n):
            assert activations.spec(getattr(keras.activations, n)) is not None, n


def test_exact_gelu_without_keras_ops_erfc(monkeypatch):
    # Keras < 3.9 has no keras.ops.erfc: the fallback must give the same values.
    x = np.concatenate([np.linspace(-12.0, 12.0, 481), [-30.0, 30.0]])
    expected = np.asarray(activations.gelu(tf.constant(x)))
    monkeypatch.delattr(keras.ops, "erfc", raising=False)
    fallback = _constants._choose_erfc()
    assert fallback is _constants._tensorflow_erfc
    monkeypatch.setattr(_functions, "erfc", fallback)
    np.testing.assert_allclose(np.asarray(activations.gelu(tf.constant(x))), expected, rtol=1e-15)
    np.testing.assert_allclose(
        np.asarray(_constants._erf_erfc(tf.constant(-x / np.sqrt(2.0)))),
        special.erfc(-x / np.sqrt(2.0)),
        atol=1e-15,
    )


def test_cli_list_shows_the_labelled_columns(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch calculate_gain" in out and "n/a (PyTorch raises)" in out
    assert "its gain (fan)" in out and "1/sqrt(E[f(z)^2])" in out
    assert "8.9e-216" in out  # small_normal's note: lecture 001's sigma vanishes in 50 layers


# ------------------------------------------------------------------------------------------
# Facts against the functions (moved from test_activations.py)
# ------------------------------------------------------------------------------------------


#: Dense grid to sample ranges and slopes, with points just left and right of 0 (selu's
#: largest slope is approached from the left of its kink).
FACT_GRID = np.unique(np.concatenate([np.linspace(-40.0, 40.0, 160_001), [-1e-12, 1e-12]]))


def _as_elementwise(s):
    """The spec's function and derivative as elementwise maps (softmax on logits (x, 0))."""
    if s.name != "softmax":
        return s.function, s.derivative

    def pair(x):
        return tf.stack([x, tf.zeros_like(x)], axis=-1)

    return (lambda x: s.function(pair(x))[..., 0]), (lambda x: s.derivative(pair(x))[..., 0])


@pytest.fixture(scope="module")
def sampled():
    """Sampled values and autodiff slopes of every activation on FACT_GRID (float64)."""
    out = {}
    for name in activations.names(include_layers=True):
        s = activations.spec(name)
        function, _ = _as_elementwise(s)
        x = tf.constant(FACT_GRID)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
        out[name] = (y.numpy(), tape.gradient(y, x).numpy())
    return out


@pytest.mark.parametrize("name", activations.names(include_layers=True))
def test_facts_agree_with_sampled_function(sampled, name):
    s = activations.spec(name)
    values, slopes = sampled[name]
    low, high = s.output_range
    # Range: every sample inside it, and the samples reach (or head off towards) both ends.
    assert values.min() >= low - 1e-12 and values.max() <= high + 1e-12
    assert values.min() <= (low + 1e-6 if np.isfinite(low) else -0.39)  # leaky 0.01*-40
    assert values.max() >= (high - 1e-6 if np.isfinite(high) else 39.0)
    # Maximum slope: reached on the grid and never exceeded.
    assert slopes.max() == pytest.approx(s.max_slope, abs=1e-6)
    assert slopes.max() <= s.max_slope + 1e-9
    # Saturating: derivative ~ 0 at both ends (|x| = 30).
    _, derivative = _as_elementwise(s)
    ends = np.abs(np.asarray(derivative(tf.constant([-30.0, 30.0], tf.float64))))
    assert s.saturating == bool(np.all(ends < 1e-6))
    left = np.abs(np.asarray(derivative(tf.constant([-30.0], tf.float64))))
    assert (s.saturation != "none") == bool(np.all(left < 1e-6))
    # Dead units: the derivative is exactly 0 on a whole half-line of inputs.
    negative = np.asarray(derivative(tf.constant(np.linspace(-5.0, -0.01, 500))))
    assert s.can_die == bool(np.all(negative == 0.0))
    # Zero-centred: mean output for z ~ N(0, 1) (trapezoid rule on the grid) below 0.05.
    density = np.exp(-0.5 * FACT_GRID**2) / np.sqrt(2.0 * np.pi)
    integrand = values * density
    mean = float(np.sum((integrand[1:] + integrand[:-1]) * 0.5 * np.diff(FACT_GRID)))
    assert s.zero_centered == bool(abs(mean) < 0.05), f"{name}: mean output {mean:.4f}"


def test_facts_name_a_real_initializer_and_the_right_gain():
    for name in activations.names(include_layers=True):
        s = activations.spec(name)
        assert s.recommended_initializer in initializers.names(), name
        initializers.get(s.recommended_initializer)  # resolves
        assert s.gain == calculate_gain(s.gain_nonlinearity, s.gain_param), name
        assert s.family in ("relu", "sigmoid", "tanh", "linear", "softmax", "other"), name
        assert s.saturation in ("both sides", "negative side", "none"), name
        assert s.saturating == (s.saturation == "both sides"), name


def test_known_values_of_the_facts_table():
    assert activations.spec("sigmoid").max_slope == 0.25
    assert activations.spec("tanh").gain == pytest.approx(5.0 / 3.0)
    assert activations.spec("relu").gain == pytest.approx(np.sqrt(2.0))
    assert activations.spec("leaky_relu").gain == pytest.approx(np.sqrt(2.0 / (1.0 + 0.01**2)))
    # GELU: minimum -0.16997 at x = -0.7518; slope maximum Phi(sqrt2) + sqrt2 phi(sqrt2).
    assert activations.spec("gelu").output_range[0] == pytest.approx(-0.169971, abs=1e-6)
    assert activations.spec("gelu").max_slope == pytest.approx(1.128904, abs=1e-6)
    # Swish: minimum -0.278465 at x = -1.27846; maximum slope 1.0998 at x tanh(x/2) = 2.
    assert activations.spec("swish").output_range[0] == pytest.approx(-0.278465, abs=1e-6)
    assert activations.spec("swish").max_slope == pytest.approx(1.099839, abs=1e-6)


def test_lecture_004_vanishing_gradient_number_from_sigmoid_derivative():
    derivative = activations.spec("sigmoid").derivative
    best = float(np.max(derivative(tf.constant(FACT_GRID))))
    assert best == 0.25
    assert best**20 == pytest.approx(9.1e-13, rel=0.01)  # lecture 004: 0.25^20 ~ 9.1e-13
    # Twenty sigmoid layers with unit weights: the chain rule with the analytic derivative
    # equals autodiff, and stays below the 0.25**20 ceiling.
    x = tf.constant(0.0, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        h, product = x, tf.constant(1.0, tf.float64)
        for _ in range(20):
            product *= derivative(h)
            h = activations.sigmoid(h)
    gradient = float(tape.gradient(h, x))
    assert gradient == pytest.approx(float(product), rel=1e-12)
    assert gradient < 0.25**20


def test_describe_and_format_table():
    rows = activations.describe()
    assert [row["name"] for row in rows] == activations.names(include_layers=True)
    json.dumps(rows, default=str)  # plain data only
    table = activations.format_table(rows)
    lines = table.splitlines()
    assert len(lines) == len(rows) + 1 and lines[0].startswith("name")
    sigmoid_line = next(line for line in lines if line.startswith("sigmoid "))
    assert "(0, 1)" in sigmoid_line and "0.25" in sigmoid_line and "glorot_uniform" in sigmoid_line
    with pytest.raises(ValueError, match="lacks"):
        activations.format_table([{"name": "x"}])


def test_cli_list_prints_the_activation_table(capsys):
    from keras_init_lab import cli

    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "gelu_tanh" in out and "leaky_he_normal" in out


# ------------------------------------------------------------------------------------------
# Gains against PyTorch's documented table and a Gaussian integral (scipy.integrate.quad)
# ------------------------------------------------------------------------------------------

#: PyTorch's documented ``torch.nn.init.calculate_gain`` table
#: (https://pytorch.org/docs/stable/nn.init.html): linear/conv/sigmoid 1, tanh 5/3, relu
#: sqrt(2), leaky_relu sqrt(2 / (1 + a^2)), selu 3/4. The rows PyTorch lacks raise there.
PYTORCH_DOCUMENTED = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "prelu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "selu": 0.75,
}


def _quad_second_moment(function) -> float:
    """``E[f(z)^2]`` for ``z ~ N(0, 1)`` by adaptive quadrature, split at the kink 0.

    scipy.integrate.quad, independent of the package's trapezoid rule; its error estimate is
    asserted below 1e-11, far inside the 1e-7 the comparisons allow.
    """
    from scipy import integrate

    def integrand(z):
        return float(function(z)) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    total = 0.0
    for low, high in ((-math.inf, 0.0), (0.0, math.inf)):
        value, error = integrate.quad(integrand, low, high, epsabs=1e-13, epsrel=1e-12)
        assert error < 1e-11
        total += value
    return total


#: Independent float64 formulas (math/scipy, not the package's) of each row's activation; SELU's
#: constants are Klambauer et al. 2017's eq. 14 to float64 precision.
REFERENCE_FORMULAS = {
    "linear": lambda z: z,
    "step": lambda z: float(np.heaviside(z, 0.5)),
    "sigmoid": lambda z: float(special.expit(z)),
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "prelu": lambda z: z if z > 0 else 0.01 * z,
    "elu": lambda z: z if z > 0 else math.expm1(z),
    "selu": lambda z: 1.0507009873554805 * (z if z > 0 else 1.6732632423543772 * math.expm1(z)),
    "gelu": lambda z: z * float(special.ndtr(z)),
    "gelu_tanh": lambda z: (
        0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    ),
    "swish": lambda z: z * float(special.expit(z)),
}


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.3, 0.5])
def test_leaky_relu_second_moment_gain_uses_its_slope(slope):
    # The slope-0.2 row (Keras's leaky_relu default) must give sqrt(2/1.04), not the 0.01 row's
    # sqrt(2/1.0001): He et al. 2015, eq. 15, and PyTorch's leaky_relu row.
    expected = math.sqrt(2.0 / (1.0 + slope**2))
    integral = _quad_second_moment(lambda z: z if z > 0 else slope * z)
    assert 1.0 / math.sqrt(integral) == pytest.approx(expected, rel=1e-10)
    s = activations.spec(activations.LeakyReLUActivation(slope))
    # The trapezoid rule of fans.gaussian_expectation is within 1e-8 of E[f^2] (its docs).
    assert s.second_moment_gain == pytest.approx(expected, rel=1e-7)
    assert s.pytorch_gain == pytest.approx(expected, rel=1e-12)
    assert s.gain == pytest.approx(expected, rel=1e-12)


def test_keras_leaky_relu_rows_have_their_slopes_gains():
    keras_function = activations.spec(keras.activations.leaky_relu)  # slope 0.2
    keras_layer = activations.spec(keras.layers.LeakyReLU())  # slope 0.3
    for s, slope in ((keras_function, 0.2), (keras_layer, 0.3)):
        expected = math.sqrt(2.0 / (1.0 + slope**2))
        assert 1.0 / math.sqrt(
            _quad_second_moment(lambda z, a=slope: z if z > 0 else a * z)
        ) == pytest.approx(expected, rel=1e-10)
        assert s.second_moment_gain == pytest.approx(expected, rel=1e-7), slope
        assert s.pytorch_gain == pytest.approx(expected, rel=1e-12), slope
    assert keras_function.second_moment_gain == pytest.approx(math.sqrt(2 / 1.04), rel=1e-7)


def test_pytorch_gain_column_is_pytorchs_documented_table():
    for name in activations.names(include_layers=True):
        s = activations.spec(name)
        if name in PYTORCH_DOCUMENTED:
            assert s.pytorch_gain == pytest.approx(PYTORCH_DOCUMENTED[name], rel=1e-12), name
        else:
            assert s.pytorch_gain is None, name
    for name in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        assert calculate_gain(name) == 1.0


@pytest.mark.parametrize("name", sorted(REFERENCE_FORMULAS))
def test_second_moment_gain_is_a_gaussian_integral(name):
    expected = 1.0 / math.sqrt(_quad_second_moment(REFERENCE_FORMULAS[name]))
    # The trapezoid rule (step 1e-4) is within 1e-8 of E[f^2] for continuous f; across the
    # step's jump at 0 (H^2 = 0, 1/4, 1) it is off by step * phi(0) / 4 = 1.0e-5, i.e. 2e-5 of
    # E[H^2] = 1/2 and 1e-5 of the gain.
    tolerance = 1.5e-5 if name == "step" else 1e-7
    assert activations.spec(name).second_moment_gain == pytest.approx(expected, rel=tolerance)


@pytest.mark.parametrize("name, formula", [("elu", "elu"), ("gelu", "gelu"), ("swish", "swish")])
def test_extended_calculate_gain_is_a_gaussian_integral(name, formula):
    expected = 1.0 / math.sqrt(_quad_second_moment(REFERENCE_FORMULAS[formula]))
    assert calculate_gain(name) == pytest.approx(expected, rel=1e-7)
    if name == "swish":
        assert calculate_gain("silu") == pytest.approx(expected, rel=1e-7)
    # The number printed in the gain table's formula is this gain to 4 decimals.
    row = next(r for r in gain_table() if r["nonlinearity"] == name)
    assert row["formula"].endswith(f"{expected:.4f}")


# ------------------------------------------------------------------------------------------
# The NumPy versions, the ranges, the recommended initializers and the aliases
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", activations.names(include_layers=True))
def test_numpy_function_is_the_keras_function(name):
    s = activations.spec(name)
    x = np.concatenate([np.linspace(-40.0, 40.0, 8001), [-1e-12, 0.0, 1e-12]])
    if name == "softmax":
        logits = np.random.default_rng(0).normal(scale=5.0, size=(64, 7))
        got, want = s.numpy_function(logits), np.asarray(s.function(tf.constant(logits)))
    else:
        got, want = s.numpy_function(x), np.asarray(s.function(tf.constant(x)))
    assert got.dtype == np.float64
    # Both in float64: rtol 1e-12 (~4500 ulps) leaves room for the libraries' different
    # exp/erfc/tanh kernels, not for a wrong constant. atol: Keras writes exp(x) - 1 and
    # 1 + tanh(u), which cancel near their zeros to an absolute error of an ulp of 1
    # (2.2e-16) times |x|/2 <= 20 on this grid, 4.4e-15; NumPy's expm1 does not.
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


#: The output ranges with their open/closed ends, from the formulas: sigmoid, tanh and
#: softmax never reach their bounds; step and ReLU reach 0; elu tends to -1 and selu to
#: -lambda alpha = -1.7581 without reaching them (Clevert et al. 2016; Klambauer et al. 2017).
EXPECTED_RANGES = {
    "linear": "(-inf, inf)",
    "step": "[0, 1]",
    "sigmoid": "(0, 1)",
    "tanh": "(-1, 1)",
    "relu": "[0, inf)",
    "leaky_relu": "(-inf, inf)",
    "prelu": "(-inf, inf)",
    "elu": "(-1, inf)",
    "selu": "(-1.7581, inf)",
    "softmax": "(0, 1)",
}


@pytest.mark.parametrize("name", activations.names(include_layers=True))
def test_range_text_says_the_range_and_its_ends(name):
    s = activations.spec(name)
    text = s.range_text
    low_text, high_text = text[1:-1].split(", ")
    low, high = s.output_range
    assert float(low_text) == pytest.approx(low, abs=5e-5), name
    assert float(high_text) == pytest.approx(high, abs=5e-5), name
    if name in EXPECTED_RANGES:
        assert text == EXPECTED_RANGES[name]
    else:  # the smooth ones (gelu, gelu_tanh, swish) attain their minimum, never +inf
        assert text.startswith("[") and text.endswith("inf)"), name


#: The initializer each activation is paired with, from the papers: He et al. 2015 for
#: rectifiers and the smooth ReLU-like units (He normal; leaky He for leaky ReLU, eq. 15),
#: Glorot & Bengio 2010 for the saturating and linear ones (and softmax outputs), LeCun normal
#: for SELU (Klambauer et al. 2017). A step has no gradient: the linear choice.
EXPECTED_INITIALIZERS = {
    "linear": "glorot_uniform",
    "step": "glorot_uniform",
    "sigmoid": "glorot_uniform",
    "tanh": "glorot_uniform",
    "relu": "he_normal",
    "leaky_relu": "leaky_he_normal",
    "prelu": "leaky_he_normal",
    "elu": "he_normal",
    "selu": "lecun_normal",
    "gelu": "he_normal",
    "gelu_tanh": "he_normal",
    "swish": "he_normal",
    "softmax": "glorot_uniform",
}


def test_recommended_initializers_are_the_papers():
    got = {n: activations.spec(n).recommended_initializer for n in activations.names(True)}
    assert got == EXPECTED_INITIALIZERS
    # The objects: Keras's own classes of the same names have the same scale and fan.
    for name in set(EXPECTED_INITIALIZERS.values()) - {"leaky_he_normal"}:
        ours, theirs = initializers.get(name), keras.initializers.get(name)
        assert (ours.scale, ours.mode) == (theirs.scale, theirs.mode), name


#: What each alias means, written as its own formula (the name's usual meaning).
ALIAS_MEANINGS = {
    "identity": lambda x: x,
    "heaviside": lambda x: np.heaviside(x, 0.5),
    "binary_step": lambda x: np.heaviside(x, 0.5),
    "logistic": special.expit,
    "gelu_exact": lambda x: x * special.ndtr(x),
    "gelu_approximate": lambda x: (
        0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    ),
    "approximate_gelu": lambda x: (
        0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    ),
    "silu": lambda x: x * special.expit(x),
}


def test_every_alias_means_its_usual_function():
    assert set(activations.aliases()) == {*ALIAS_MEANINGS, "parametric_relu"}
    x = np.linspace(-8.0, 8.0, 1601)
    for alias, meaning in ALIAS_MEANINGS.items():
        got = np.asarray(activations.get(alias)(tf.constant(x)))
        np.testing.assert_allclose(got, meaning(x), rtol=1e-6, atol=1e-12, err_msg=alias)
    assert isinstance(activations.as_layer("parametric_relu"), keras.layers.PReLU)
