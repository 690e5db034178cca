"""Tests for keras_init_lab.activations and plots.plot_activations.

What they show: every function against a NumPy reference; every analytic derivative against
``tf.GradientTape`` on a grid that includes +-1000; the facts table against the functions
(sampled range, sampled maximum slope, mean on N(0,1), saturation, dead regions, gains);
lecture 004's 0.25**20 ~ 9.1e-13; float16/bfloat16/float32/float64 inside XLA; a `.keras`
round trip loaded in a fresh process; plain-string names in Keras layers; bad names.
"""

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import special  # noqa: E402

import keras_init_lab  # noqa: E402
from keras_init_lab import activations, initializers  # noqa: E402
from keras_init_lab.fans import calculate_gain  # noqa: E402

ALPHA = activations.SELU_ALPHA
SCALE = activations.SELU_SCALE
ELEMENTWISE = [n for n in activations.names() if n != "softmax"]


def _gelu_tanh_reference(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


#: NumPy references, written independently of the package (float64).
REFERENCES = {
    "linear": lambda x: x,
    "step": lambda x: np.heaviside(x, 0.5),
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * special.erfc(-x / np.sqrt(2.0)),
    "gelu_tanh": _gelu_tanh_reference,
    "swish": lambda x: x * special.expit(x),
    "softmax": lambda x: special.softmax(x, axis=-1),
}

#: Evaluation grid: a dense core, kinks at 0, and extreme values (+-30, +-100, +-1000).
GRID = np.concatenate(
    [[-1000.0, -100.0, -30.0, -10.0], np.linspace(-6.0, 6.0, 241), [10.0, 30.0, 100.0, 1000.0]]
)
#: Softmax inputs: random logits plus rows with huge logits (naive exp would overflow).
SOFTMAX_ROWS = np.concatenate(
    [
        np.random.default_rng(0).normal(0.0, 3.0, size=(32, 5)),
        [[1000.0, 0.0, -1000.0, 5.0, 5.0], [-1000.0, -1000.0, -1000.0, -1000.0, -999.0]],
        [[30.0, 0.0, 0.0, 0.0, -30.0], [0.0, 0.0, 0.0, 0.0, 0.0]],
    ]
)


def _inputs(name):
    return SOFTMAX_ROWS if name == "softmax" else GRID


def _tape_derivative(function, x):
    """Elementwise derivative by autodiff (softmax: the diagonal of the batch Jacobian)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    if len(x.shape) == 2:
        jacobian = tape.batch_jacobian(y, x)
        return tf.linalg.diag_part(jacobian).numpy()
    return tape.gradient(y, x).numpy()


# ------------------------------------------------------------------------------------------
# Functions and derivatives
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", activations.names())
def test_function_matches_numpy_and_derivative_matches_gradient_tape(name):
    # One test per activation for both checks: the suite's conftest clears the Keras session
    # (with a garbage collection) before every test, so fewer, fuller tests run faster.
    x = _inputs(name)
    got = np.asarray(activations.get(name)(tf.constant(x, tf.float64)))
    np.testing.assert_allclose(got, REFERENCES[name](x), rtol=1e-12, atol=1e-14)
    got32 = np.asarray(activations.get(name)(tf.constant(x, tf.float32)))
    np.testing.assert_allclose(got32, REFERENCES[name](x.astype(np.float32)), rtol=2e-6, atol=1e-6)

    s = activations.spec(name)
    for dtype, tolerance in ((tf.float64, 1e-12), (tf.float32, 2e-6)):
        analytic = np.asarray(s.derivative(tf.constant(x, dtype)))
        autodiff = _tape_derivative(s.function, x.astype(dtype.as_numpy_dtype))
        assert np.all(np.isfinite(analytic)) and np.all(np.isfinite(autodiff))
        np.testing.assert_allclose(analytic, autodiff, rtol=tolerance, atol=tolerance)


def test_derivatives_at_kinks_follow_tensorflow_convention():
    zero = tf.constant([0.0], tf.float64)
    assert float(activations.spec("relu").derivative(zero)[0]) == 0.0
    assert float(activations.spec("leaky_relu").derivative(zero)[0]) == pytest.approx(0.01)
    assert float(activations.spec("selu").derivative(zero)[0]) == pytest.approx(SCALE)
    assert float(activations.step(zero)[0]) == 0.5


def test_softmax_full_jacobian_matches_autodiff():
    x = tf.constant(SOFTMAX_ROWS)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = activations.softmax(x)
    autodiff = tape.batch_jacobian(y, x).numpy()
    analytic = activations.softmax_jacobian(x).numpy()
    np.testing.assert_allclose(analytic, autodiff, atol=1e-14)
    # Each row's probabilities sum to 1 and each Jacobian row sums to 0.
    np.testing.assert_allclose(y.numpy().sum(axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(analytic.sum(axis=-1), 0.0, atol=1e-14)


def test_extreme_inputs_are_exact_and_finite():
    x = tf.constant([-1000.0, 1000.0])
    assert activations.sigmoid(x).numpy().tolist() == [0.0, 1.0]
    assert activations.spec("sigmoid").derivative(x).numpy().tolist() == [0.0, 0.0]
    assert activations.softmax(tf.constant([[1000.0, 0.0, -1000.0]])).numpy().tolist() == [
        [1.0, 0.0, 0.0]
    ]
    assert activations.gelu(x).numpy().tolist() == [0.0, 1000.0]
    assert activations.gelu_tanh(x).numpy().tolist() == [0.0, 1000.0]


def test_step_trains_nothing_gradient_is_zero_not_missing():
    # The perceptron's problem (lecture 003): the gradient exists and is zero everywhere.
    x = tf.constant(GRID)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(activations.step(x))
    gradient = tape.gradient(y, x)
    assert gradient is not None and not np.any(gradient.numpy())


def test_gelu_tanh_is_close_to_exact_gelu():
    # The tanh approximation stays within 5e-4 of x Phi(x) (Hendrycks & Gimpel 2016).
    x = np.linspace(-8.0, 8.0, 4001)
    exact = REFERENCES["gelu"](x)
    approx = np.asarray(activations.gelu_tanh(tf.constant(x)))
    assert np.max(np.abs(exact - approx)) < 5e-4


def test_sigmoid_output_keeps_logits_for_stable_crossentropy():
    logits = tf.constant([[-1000.0], [1000.0]])
    labels = tf.constant([[1.0], [0.0]])
    from_probabilities = keras.losses.binary_crossentropy(labels, activations.sigmoid(logits))
    from_logits = keras.losses.binary_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(from_probabilities.numpy(), from_logits.numpy())
    assert from_probabilities.numpy().tolist() == [1000.0, 1000.0]  # clipping would give 16.1


# ------------------------------------------------------------------------------------------
# dtypes and XLA
# ------------------------------------------------------------------------------------------

#: Tolerances against float64, by dtype: a few units of each format's epsilon
#: (float16 eps 9.8e-4, bfloat16 eps 7.8e-3, float32 eps 1.2e-7).
DTYPE_TOLERANCES = {
    tf.float16: 4e-3,
    tf.bfloat16: 3e-2,
    tf.float32: 2e-6,
    tf.float64: 1e-12,
}


@pytest.fixture(scope="module")
def xla_results():
    """Forward, analytic derivative and autodiff gradient of every activation, per dtype,
    computed inside one ``tf.function(jit_compile=True)`` per dtype."""
    functions = {name: activations.spec(name) for name in activations.names()}

    def everything(inputs):
        out = {}
        for name, s in functions.items():
            x = inputs[name]
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = s.function(x)
                # sum(softmax) is constant: differentiate the first probability instead.
                total = tf.reduce_sum(y[..., 0] if name == "softmax" else y)
            out[name] = (y, s.derivative(x), tape.gradient(total, x))
        return out

    results = {}
    for dtype in DTYPE_TOLERANCES:
        compiled = tf.function(everything, jit_compile=True)
        inputs = {name: tf.constant(_inputs(name), dtype) for name in functions}
        results[dtype] = (inputs, compiled(inputs))
    return results


@pytest.mark.parametrize("dtype", list(DTYPE_TOLERANCES), ids=lambda d: d.name)
def test_every_dtype_compiles_with_xla_and_stays_finite(xla_results, dtype):
    # jit_compile=True raises if any op cannot be compiled by XLA, so reaching here proves it.
    inputs, outputs = xla_results[dtype]
    tolerance = DTYPE_TOLERANCES[dtype]
    for name, (y, derivative, gradient) in outputs.items():
        assert y.dtype == dtype and derivative.dtype == dtype, name
        assert gradient is not None, name
        for what, value in (("value", y), ("derivative", derivative), ("gradient", gradient)):
            finite = np.isfinite(tf.cast(value, tf.float64).numpy())
            assert finite.all(), f"{name} {dtype.name}: non-finite {what}"
        x64 = tf.cast(inputs[name], tf.float64).numpy()  # the inputs as rounded to dtype
        expected = REFERENCES[name](x64)
        np.testing.assert_allclose(
            tf.cast(y, tf.float64).numpy(),
            expected,
            rtol=tolerance,
            atol=tolerance,
            err_msg=f"{name} {dtype.name}",
        )
        expected_slope = np.asarray(activations.spec(name).derivative(tf.constant(x64)))
        np.testing.assert_allclose(
            tf.cast(derivative, tf.float64).numpy(),
            expected_slope,
            rtol=2 * tolerance,
            atol=2 * tolerance,
            err_msg=f"{name} {dtype.name} derivative",
        )
        if name != "softmax":
            autodiff = tf.cast(gradient, tf.float64).numpy()
            if name == "selu":
                # At the kink x = 0 TensorFlow's SeluGrad kernel returns the right-hand slope
                # lambda and XLA's lowering the left-hand one lambda * alpha: both are valid
                # one-sided derivatives, so accept either there.
                kink = x64 == 0.0
                assert np.all(np.isin(np.round(autodiff[kink], 2), [1.05, 1.76]))
                autodiff, expected_slope = autodiff[~kink], expected_slope[~kink]
            np.testing.assert_allclose(
                autodiff,
                expected_slope,
                rtol=2 * tolerance,
                atol=2 * tolerance,
                err_msg=f"{name} {dtype.name} autodiff",
            )


def test_keras_gelu_approximate_overflows_in_float16_but_ours_does_not():
    # Why gelu_tanh clips its cubic: Keras's own gradient is NaN at |x| = 1000 in float16.
    x = tf.constant([-1000.0, -50.0, 50.0, 1000.0], tf.float16)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = activations.gelu_tanh(x)
        theirs = keras.activations.gelu(x, approximate=True)
    assert np.isfinite(tape.gradient(ours, x).numpy()).all()
    assert np.isnan(tape.gradient(theirs, x).numpy()).any()
    np.testing.assert_array_equal(ours.numpy(), [0.0, 0.0, 50.0, 1000.0])


# ------------------------------------------------------------------------------------------
# Facts table
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


def test_docstring_examples_run():
    from keras_init_lab.activations import (
        _derivatives,
        _facts,
        _functions,
        _keras,
        _lookup,
        _table,
    )

    attempted = 0
    for module in (activations, _functions, _derivatives, _facts, _lookup, _table, _keras):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted > 20


# ------------------------------------------------------------------------------------------
# Names, spec of callables, layers
# ------------------------------------------------------------------------------------------


def test_get_resolves_names_aliases_and_callables():
    assert activations.get("silu") is activations.swish is activations.silu
    assert activations.get("heaviside") is activations.step
    assert activations.get("GELU_TANH") is activations.gelu_tanh
    assert activations.get("keras_init_lab>gelu_tanh") is activations.gelu_tanh
    assert activations.get("leaky_relu") is activations.leaky_relu  # ours, slope 0.01
    assert activations.get("mish") is keras.activations.mish  # Keras's own names still work
    assert activations.get(None) is activations.linear
    assert activations.get(np.tanh) is np.tanh


def test_bad_names_and_values():
    with pytest.raises(ValueError, match=r"'gelu_tanhh'.*Did you mean: 'gelu_tanh'"):
        activations.get("gelu_tanhh")
    with pytest.raises(ValueError, match=r"'sigmiod'.*'sigmoid'"):
        activations.spec("sigmiod")
    with pytest.raises(ValueError, match=r"prelu\(\)"):
        activations.get("prelu")
    with pytest.raises(TypeError, match="3"):
        activations.get(3)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="negative_slope"):
            activations.LeakyReLUActivation(bad)
    # Wrong type -> TypeError (the package's one validation policy; these were ValueErrors).
    for bad in ("0.2", True):
        with pytest.raises(TypeError, match="negative_slope"):
            activations.LeakyReLUActivation(bad)
    with pytest.raises(TypeError, match="True"):
        activations.prelu(True)
    with pytest.raises(ValueError, match="inf"):
        activations.prelu(float("inf"))


def test_spec_of_callables_and_layers():
    assert activations.spec(keras.activations.relu).name == "relu"
    assert activations.spec(keras.activations.silu).name == "swish"
    keras_leaky = activations.spec(keras.activations.leaky_relu)
    assert keras_leaky.params == {"negative_slope": 0.2}
    assert keras_leaky.gain == pytest.approx(calculate_gain("leaky_relu", 0.2))
    assert activations.spec(keras.layers.LeakyReLU()).params == {"negative_slope": 0.3}
    assert activations.spec(keras.layers.PReLU()).name == "prelu"
    assert activations.spec(keras.layers.Activation("tanh")).name == "tanh"
    assert activations.spec(keras.layers.ReLU(max_value=6.0)) is None
    assert activations.spec(lambda x: x) is None
    custom = activations.spec(activations.LeakyReLUActivation(0.3))
    x = tf.constant(GRID)
    np.testing.assert_allclose(custom.derivative(x), _tape_derivative(custom.function, GRID))


def test_prelu_starts_at_slope_001_and_learns():
    layer = activations.prelu()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), layer])
    np.testing.assert_allclose(layer.get_weights()[0], 0.01)
    keras_default = keras.layers.PReLU()
    keras_default.build((None, 3))
    assert not keras_default.get_weights()[0].any()  # Keras's own PReLU starts as a ReLU
    assert isinstance(activations.as_layer("prelu"), keras.layers.PReLU)
    assert activations.as_layer("gelu_tanh").activation is activations.gelu_tanh
    assert activations.spec("prelu").kind == "layer" and "prelu" not in activations.names()
    assert len(model.trainable_weights) == 3  # kernel, bias, slope


# ------------------------------------------------------------------------------------------
# Keras integration: strings, serialization in a fresh process
# ------------------------------------------------------------------------------------------


def test_plain_strings_work_only_for_names_keras_lacks():
    import keras.src.activations as keras_activations

    keras_names = {fn.__name__ for fn in keras_activations.ALL_OBJECTS} | {"swish", "hard_swish"}
    assert "gelu_tanh" in activations.KERAS_STRING_NAMES
    assert not set(activations.KERAS_STRING_NAMES) & keras_names
    assert keras.layers.Dense(2, activation="gelu_tanh").activation is activations.gelu_tanh
    assert keras.layers.Activation("heaviside").activation is activations.step
    # Names Keras defines keep Keras's meaning as strings.
    for name in ("leaky_relu", "gelu", "relu", "sigmoid", "swish"):
        keras_function = keras.activations.get(name)
        assert keras_function.__module__.startswith("keras.src."), name
        assert keras_function is not activations.get(name), name
    assert activations.register_keras_names() == activations.KERAS_STRING_NAMES  # idempotent


def test_string_registration_is_guarded(monkeypatch):
    import keras.src.activations as keras_activations

    pristine = {
        k: v
        for k, v in keras_activations.ALL_OBJECTS_DICT.items()
        if k not in activations.KERAS_STRING_NAMES
    }
    # A Keras without the table: nothing registered, no error.
    monkeypatch.delattr(keras_activations, "ALL_OBJECTS_DICT")
    assert activations.register_keras_names() == []
    # A Keras whose get() no longer reads the table: additions are rolled back.
    monkeypatch.setattr(keras_activations, "ALL_OBJECTS_DICT", dict(pristine), raising=False)

    def strict_get(identifier):
        raise ValueError(identifier)

    monkeypatch.setattr(keras.activations, "get", strict_get)
    assert activations.register_keras_names() == []
    assert keras_activations.ALL_OBJECTS_DICT == pristine


SUBPROCESS_CHECK = r"""
import json, os, sys, types
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import keras
import keras_init_lab  # the only import that makes the package's objects loadable
model_path, data_path = sys.argv[1], sys.argv[2]
model = keras.saving.load_model(model_path)
data = np.load(data_path)
np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-6, atol=1e-6)
acts = {}
for layer in model.layers:
    fn = getattr(layer, "activation", None)
    if isinstance(fn, types.FunctionType):
        acts[layer.name] = [fn.__module__, fn.__name__]
    elif fn is not None:
        acts[layer.name] = [type(fn).__module__, repr(fn)]
acts["prelu_alpha"] = float(np.mean(model.get_layer("prelu").get_weights()[0]))
string_layer = keras.layers.Dense(1, activation="gelu_tanh")
acts["string_ok"] = string_layer.activation is keras_init_lab.activations.gelu_tanh
print("RESULT" + json.dumps(acts))
"""


@pytest.fixture(scope="module", autouse=True)
def fresh_process(tmp_path_factory):
    """Save a model using every activation and start loading it in a fresh Python process.

    Started when the module starts (autouse), so the subprocess's TensorFlow import overlaps
    the other tests; ``test_keras_model_round_trip_in_fresh_process`` waits for it.
    """
    tmp_path = tmp_path_factory.mktemp("round_trip")
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, activation=activations.gelu_tanh, name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(5, activation=activations.leaky_relu, name="dense_leaky")(h)
    h = keras.layers.Activation(activations.step, name="act_step")(h)
    h = keras.layers.Dense(5, activation="gelu_tanh", name="dense_string")(h)
    h = keras.layers.Dense(5, activation=activations.LeakyReLUActivation(0.2), name="slope")(h)
    h = activations.prelu(name="prelu")(h)
    for name in ("linear", "sigmoid", "tanh", "relu", "elu", "selu", "gelu", "swish"):
        h = keras.layers.Dense(5, activation=activations.get(name), name=f"dense_{name}")(h)
    outputs = keras.layers.Dense(3, activation=activations.softmax, name="dense_softmax")(h)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype("float32")
    model_path, data_path = tmp_path / "model.keras", tmp_path / "data.npz"
    model.save(model_path)
    np.savez(data_path, x=x, y=model.predict(x, verbose=0))

    # The child imports the same keras_init_lab as this process (not another installed copy).
    package_root = str(Path(keras_init_lab.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-c", SUBPROCESS_CHECK, str(model_path), str(data_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_keras_model_round_trip_in_fresh_process(fresh_process):
    stdout, stderr = fresh_process.communicate(timeout=300)
    assert fresh_process.returncode == 0, stderr[-3000:]
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
    acts = json.loads(line[len("RESULT") :])
    assert acts["conv"] == ["keras_init_lab.activations", "gelu_tanh"]
    assert acts["dense_leaky"] == ["keras_init_lab.activations", "leaky_relu"]
    assert acts["act_step"] == ["keras_init_lab.activations", "step"]
    assert acts["dense_string"] == ["keras_init_lab.activations", "gelu_tanh"]
    slope = ["keras_init_lab.activations", "LeakyReLUActivation(negative_slope=0.2)"]
    assert acts["slope"] == slope
    for name in ("linear", "sigmoid", "tanh", "relu", "elu", "selu", "gelu", "swish", "softmax"):
        assert acts[f"dense_{name}"] == ["keras_init_lab.activations", name]
    assert acts["prelu_alpha"] == pytest.approx(0.01)
    assert acts["string_ok"] is True


# ------------------------------------------------------------------------------------------
# Plot
# ------------------------------------------------------------------------------------------


def test_plot_activations_writes_a_png(tmp_path):
    from matplotlib import image

    from keras_init_lab.plots import plot_activations

    path = plot_activations(["sigmoid", "relu", keras.activations.tanh], tmp_path / "a" / "f.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 600 and pixels.std() > 0.05
    with pytest.raises(ValueError, match="sigmiod"):
        plot_activations(["sigmiod"], tmp_path / "b.png")
    with pytest.raises(ValueError, match="at least one"):
        plot_activations([], tmp_path / "c.png")
    with pytest.raises(ValueError, match="x_range"):
        plot_activations(["relu"], tmp_path / "d.png", x_range=(1, -1))
    with pytest.raises(ValueError, match="png"):
        plot_activations(["relu"], tmp_path / "e.jpg")
