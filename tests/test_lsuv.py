"""Tests for keras_init_lab.lsuv (Mishkin & Matas 2016)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from keras_init_lab import initializers
from keras_init_lab.lsuv import LSUVReport, lsuv

RNG = np.random.default_rng(1234)
X = RNG.normal(size=(256, 16)).astype("float32")


def relu_stack(depth=8, width=32, kernel_initializer="glorot_uniform", fused=True):
    layers = [keras.Input((16,))]
    for i in range(depth):
        if fused:
            layers.append(
                keras.layers.Dense(
                    width,
                    activation="relu",
                    name=f"hidden_{i}",
                    kernel_initializer=kernel_initializer,
                )
            )
        else:
            layers.append(
                keras.layers.Dense(width, name=f"hidden_{i}", kernel_initializer=kernel_initializer)
            )
            layers.append(keras.layers.Activation("relu", name=f"relu_{i}"))
    layers.append(keras.layers.Dense(1, name="out", kernel_initializer=kernel_initializer))
    return keras.Sequential(layers)


def numpy_pre_activations(model, x):
    """Slow obvious path: every Dense layer's pre-activation, by hand with NumPy."""
    h = x.astype(np.float64)
    pre = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            z = h @ np.asarray(layer.kernel, dtype=np.float64) + np.asarray(layer.bias)
            pre[layer.name] = z
            h = np.maximum(z, 0.0) if layer.activation is keras.activations.relu else z
        elif isinstance(layer, keras.layers.Activation):
            h = np.maximum(h, 0.0)
    return pre


def test_each_layer_reaches_unit_pre_activation_variance_measured_independently():
    model = relu_stack(kernel_initializer=initializers.SmallNormal(seed=0))
    report = lsuv(model, X, tol=0.1, max_iter=10, seed=0)
    assert isinstance(report, LSUVReport) and len(report) == 9 and report.converged
    pre = numpy_pre_activations(model, X)
    for result in report:
        measured = np.var(pre[result.name])
        assert abs(measured - 1.0) < 0.1, (result.name, measured)
        assert result.final_variance == pytest.approx(measured, rel=1e-4)
    # The post-activation variance of a ReLU layer is not the target: it was measured before.
    relu_output = np.maximum(pre["hidden_3"], 0)
    assert np.var(relu_output) < 0.6


def test_tighter_tolerance_is_honoured():
    model = relu_stack(depth=4)
    report = lsuv(model, X, tol=0.001, max_iter=20, seed=1)
    assert report.converged
    for result in report:
        assert abs(result.final_variance - 1.0) < 0.001


def test_fused_activation_is_measured_before_the_activation_like_a_separate_layer():
    fused = lsuv(relu_stack(depth=4, fused=True), X, seed=3)
    separate = lsuv(relu_stack(depth=4, fused=False), X, seed=3)
    assert [r.name for r in fused] == [r.name for r in separate]
    for a, b in zip(fused, separate):
        assert a.initial_variance == pytest.approx(b.initial_variance, rel=1e-4)
        assert a.scale == pytest.approx(b.scale, rel=1e-4)


def test_orthogonal_pre_initialization_gives_a_scaled_orthonormal_kernel():
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, name="d")])
    report = lsuv(model, X, tol=1e-3, max_iter=20, seed=5)
    kernel = np.asarray(model.get_layer("d").kernel, dtype=np.float64)
    gram = kernel.T @ kernel
    scale = report["d"].scale
    np.testing.assert_allclose(gram, scale**2 * np.eye(8), atol=1e-4)


def test_without_orthogonal_init_only_rescales_the_existing_kernel():
    model = relu_stack(depth=2, kernel_initializer=initializers.HeNormal(seed=2))
    model(X[:2])
    before = {l.name: np.asarray(l.kernel) for l in model.layers}
    report = lsuv(model, X, orthogonal_init=False)
    for result in report:
        after = np.asarray(model.get_layer(result.name).kernel)
        np.testing.assert_allclose(after, before[result.name] * result.scale, rtol=1e-4, atol=1e-7)


def test_deep_relu_stack_with_bad_init_becomes_trainable():
    """A 20-layer ReLU stack from N(0, 0.001^2) has vanished signal; after LSUV it learns."""
    x = RNG.normal(size=(256, 16)).astype("float32")
    y = (x[:, :1] * x[:, 1:2] > 0).astype("float32")

    def build():
        keras.utils.set_random_seed(0)
        model = relu_stack(depth=20, width=32, kernel_initializer=initializers.SmallNormal(seed=0))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        return model

    def first_layer_gradient_norm(model):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x) - y) ** 2)
        grad = tape.gradient(loss, model.layers[0].kernel)
        return float(tf.norm(grad))

    bad = build()
    good = build()
    report = lsuv(good, x, seed=0)
    assert report.converged
    assert first_layer_gradient_norm(bad) < 1e-20  # vanished: (0.001^2 * 32/2)^19 scale
    assert 1e-4 < first_layer_gradient_norm(good) < 1e2  # flows
    # Output variance: vanished before LSUV, unit scale after.
    assert np.var(np.asarray(bad(x))) < 1e-30
    assert 0.3 < np.var(np.asarray(good(x))) < 3.0
    bad_hist = bad.fit(x, y, epochs=8, batch_size=64, verbose=0).history["loss"]
    good_hist = good.fit(x, y, epochs=8, batch_size=64, verbose=0).history["loss"]
    assert good_hist[-1] < 0.8 * good_hist[0]  # LSUV: the loss goes down
    assert good_hist[-1] < bad_hist[-1]


def test_conv_and_nested_models_are_walked_in_forward_order():
    inner = keras.Sequential(
        [keras.Input((6, 6, 4)), keras.layers.Conv2D(4, 3, activation="tanh", name="inner_conv")],
        name="inner",
    )
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="valid", activation="relu", name="first_conv")(inputs)
    h = inner(h)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    x = (RNG.normal(size=(128, 8, 8, 3)) * 10).astype("float32")
    report = lsuv(model, x, seed=0)
    assert [r.name for r in report] == ["first_conv", "inner_conv", "head"]
    assert report.converged
    assert report["first_conv"].initial_variance > 10  # inputs have variance 100


def test_hooks_are_removed_also_when_the_forward_pass_fails():
    model = relu_stack(depth=2)
    with pytest.raises(ValueError, match="non-finite"):
        lsuv(model, np.full((8, 16), np.nan, dtype="float32"))
    lsuv(model, X, seed=0)
    assert all("call" not in vars(layer) for layer in model.layers)


def test_layer_that_does_not_converge_is_reported_not_raised():
    # Per-unit biases with std 3 add variance 9 that rescaling the kernel cannot remove.
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(
                64,
                name="biased",
                bias_initializer=keras.initializers.RandomNormal(stddev=3.0, seed=0),
            ),
        ]
    )
    report = lsuv(model, X, max_iter=4)
    assert not report.converged
    assert report["biased"].iterations == 4 and not report["biased"].converged
    assert "NO" in str(report)


def test_report_prints_and_looks_up_layers():
    report = lsuv(relu_stack(depth=2), X, seed=0)
    text = str(report)
    assert "hidden_0" in text and "initial var" in text and "yes" in text
    with pytest.raises(KeyError, match="hidden_0"):
        report["nope"]


def test_batch_norm_is_refused_by_default_and_ignored_on_request():
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, name="d"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Activation("relu"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    with pytest.raises(ValueError, match="BatchNormalization.*bn.*batch_norm='ignore'"):
        lsuv(model, X)
    report = lsuv(model, X, batch_norm="ignore", seed=0)
    assert report.converged and [r.name for r in report] == ["d", "out"]
    assert any("bn" in note for note in report.notes)
    # BatchNorm's own parameters are untouched.
    np.testing.assert_array_equal(np.asarray(model.get_layer("bn").gamma), np.ones(32))


def test_non_finite_pre_activation_names_the_layer():
    # Inputs at the float32 limit overflow the first matmul (sums of 16 terms near 3e38).
    model = relu_stack(depth=2)
    x = np.full((32, 16), 3e38, dtype="float32")
    with pytest.raises(ValueError, match="'hidden_0' produced .* non-finite"):
        lsuv(model, x, seed=0)


def test_zero_variance_layer_is_a_clear_error():
    model = relu_stack(depth=2)
    with pytest.raises(ValueError, match="zero pre-activation variance"):
        lsuv(model, np.zeros((32, 16), dtype="float32"))


def test_too_few_values_error_and_unreliable_estimate_warning():
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1, name="single")])
    with pytest.raises(ValueError, match="'single' gives only 1 value"):
        lsuv(model, X[:1])
    with pytest.warns(UserWarning, match="201"):
        lsuv(model, X[:50], seed=0)


# The package's one exception policy (wrong type -> TypeError, wrong value -> ValueError):
# ``max_iter=2.5`` used to raise ValueError and now raises TypeError; the value messages are
# those of keras_init_lab._validation ("tol must be > 0", "seed must be an integer >= 0").
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tol": 0}, "tol must be > 0; received tol=0"),
        ({"tol": float("nan")}, "tol must be a finite number"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"target_variance": -1}, "target_variance must be > 0; received target_variance=-1"),
        ({"batch_norm": "skip"}, "batch_norm 'skip'. Valid names: error, ignore"),
        ({"seed": -3}, "seed must be an integer >= 0; received seed=-3"),
    ],
)
def test_bad_options_echo_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lsuv(relu_stack(depth=1), X, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_iter": 2.5}, "max_iter must be an integer; received max_iter=2.5"),
        ({"tol": "0.1"}, "tol must be a number"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"batch_norm": None}, "batch_norm must be one of"),
    ],
)
def test_options_of_the_wrong_type_raise_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        lsuv(relu_stack(depth=1), X, **kwargs)


def test_patches_are_restored_when_the_forward_pass_raises():
    class Boom(keras.layers.Layer):
        armed = False

        def call(self, x):
            if self.armed:
                raise RuntimeError("boom")
            return x

    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu"), Boom()])
    model.layers[-1].armed = True
    with pytest.raises(RuntimeError, match="boom"):
        lsuv(model, X)
    assert "call" not in vars(model.layers[0])
    # The fused activation switched off for a measurement comes back even if the call fails.
    from keras_init_lab.lsuv import _pre_activation

    dense = model.layers[0]
    with pytest.raises(Exception):  # noqa: B017 - the backend's shape error type varies
        _pre_activation(dense, np.zeros((4, 3), dtype="float32"))
    assert dense.activation is keras.activations.relu


def test_bad_batches_and_models():
    with pytest.raises(ValueError, match="at least one sample"):
        lsuv(relu_stack(depth=1), np.zeros((0, 16), dtype="float32"))
    with pytest.raises(ValueError, match="non-finite"):
        bad = X.copy()
        bad[3, 2] = np.inf
        lsuv(relu_stack(depth=1), bad)
    with pytest.raises(ValueError, match="no Dense or Conv"):
        lsuv(keras.Sequential([keras.Input((16,)), keras.layers.Activation("relu")]), X)
    with pytest.raises(TypeError, match="needs a Keras model"):
        lsuv("model.keras", X)


def test_subclassed_model_without_a_graph():
    class TwoLayers(keras.Model):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Dense(32, activation="relu", name="first")
            self.second = keras.layers.Dense(16, activation="tanh", name="second")

        def call(self, x):
            return self.second(self.first(x))

    model = TwoLayers()
    report = lsuv(model, X, seed=0)
    assert [r.name for r in report] == ["first", "second"] and report.converged
    h = np.maximum(X @ np.asarray(model.first.kernel) + np.asarray(model.first.bias), 0)
    z = h @ np.asarray(model.second.kernel) + np.asarray(model.second.bias)
    assert abs(np.var(z) - 1.0) < 0.1
