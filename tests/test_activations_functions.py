"""Tests for keras_init_lab.activations' functions (``_functions``) and derivatives
(``_derivatives``).

What they show: every function against a NumPy reference; every analytic derivative against
``tf.GradientTape`` on a grid that includes +-1000; float16/bfloat16/float32/float64 inside
XLA; extreme inputs exact and finite; the stable cross-entropy through remembered logits.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from _tolerances import FLOAT32_TINY, exp_rtol  # noqa: E402
from scipy import special  # noqa: E402

from keras_init_lab import activations  # noqa: E402

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
    # Saturated: 0, 1 or x, up to the float32 roundings of exp and of a sum (4 ulps, relative)
    # and an exp that stops at the smallest normal float instead of 0 (tests/_tolerances.py).
    x = tf.constant([-1000.0, 1000.0])
    cases = {
        "sigmoid": (activations.sigmoid(x), [0.0, 1.0]),
        "sigmoid'": (activations.spec("sigmoid").derivative(x), [0.0, 0.0]),
        "softmax": (activations.softmax(tf.constant([[1000.0, 0.0, -1000.0]])), [[1, 0, 0]]),
        "gelu": (activations.gelu(x), [0.0, 1000.0]),
        "gelu_tanh": (activations.gelu_tanh(x), [0.0, 1000.0]),
    }
    for name, (got, want) in cases.items():
        got = got.numpy()
        assert np.all(np.isfinite(got)), (name, got)
        rtol = exp_rtol("float32")
        np.testing.assert_allclose(got, want, rtol=rtol, atol=FLOAT32_TINY, err_msg=name)


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
    # log1p(exp(-1000)) adds nothing to 1000 in float32; clipping would give 16.1.
    np.testing.assert_allclose(from_probabilities.numpy(), [1000.0, 1000.0], rtol=1e-6)


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
