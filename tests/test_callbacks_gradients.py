"""GradientStats / GradientHealth: the captured gradients are the real ones.

Every statistic is checked against a plain ``tf.GradientTape`` gradient of the same batch,
replaying SGD by hand (slow obvious path) against the in-step capture (fast path).
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_init_lab.callbacks import GradientHealth, GradientStats  # noqa: E402
from keras_init_lab.callbacks.capture import get_capture  # noqa: E402
from keras_init_lab.callbacks.health import GradientHealthWarning  # noqa: E402

LEARNING_RATE = 0.1
RTOL = 1e-5


def _data(n=16, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


def _nested_model(seed=0):
    """Dense -> nested Sequential(Dense relu, Dense) -> Dense: nested layers, one zero bias."""
    keras.utils.set_random_seed(seed)
    inner = keras.Sequential(
        [keras.layers.Dense(6, activation="relu", name="d1"), keras.layers.Dense(4, name="d2")],
        name="inner",
    )
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(6, activation="tanh", name="first")(inputs)
    outputs = keras.layers.Dense(1, name="last")(inner(hidden))
    return keras.Model(inputs, outputs, name="outer")


def _tape_gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    return [tf.convert_to_tensor(g).numpy().astype(np.float64) for g in grads]


def _replay_sgd(model_factory, x, y, batch_size, steps):
    """Slow path: per step, tape gradients and SGD by hand. Returns per-step (grads, weights)."""
    model = model_factory()
    out = []
    n_batches = len(x) // batch_size
    for step in range(steps):
        b = step % n_batches
        xb, yb = x[b * batch_size : (b + 1) * batch_size], y[b * batch_size : (b + 1) * batch_size]
        weights = [v.numpy().astype(np.float64) for v in model.trainable_variables]
        grads = _tape_gradients(model, xb, yb)
        out.append((grads, weights))
        for v, g in zip(model.trainable_variables, grads):
            v.assign(v.numpy() - LEARNING_RATE * g.astype(np.float32))
    return out


def _assert_matches(history, row, grads, weights):
    pv = history["per_variable"]
    flat = [g.ravel() for g in grads]
    np.testing.assert_allclose(pv["norm"][row], [np.linalg.norm(g) for g in flat], rtol=RTOL)
    # float32 on the device: a 1-element variable's std may read one ulp of |g| instead of 0.
    ulps = 1e-6 * np.array([np.abs(g).max() for g in flat])
    np.testing.assert_allclose(pv["mean"][row], [g.mean() for g in flat], rtol=RTOL, atol=1e-9)
    assert np.all(
        np.abs(pv["std"][row] - [g.std() for g in flat])
        <= RTOL * np.array([g.std() for g in flat]) + ulps
    )
    np.testing.assert_allclose(pv["max_abs"][row], [np.abs(g).max() for g in flat], rtol=RTOL)
    np.testing.assert_array_equal(pv["zero_fraction"][row], [np.mean(g == 0) for g in flat])
    np.testing.assert_array_equal(pv["nonfinite_count"][row], 0)
    # SGD: the applied update is lr * g, so the ratio is lr ||g|| / ||w|| (inf for w = 0).
    with np.errstate(divide="ignore"):
        expected = [
            LEARNING_RATE * np.linalg.norm(g) / np.linalg.norm(w) for g, w in zip(flat, weights)
        ]
    np.testing.assert_allclose(pv["update_ratio"][row], expected, rtol=1e-4)
    # Per layer: pooled norm over the layer's variables.
    layer_of = [name.rsplit("/", 1)[0] for name in history["variables"]]
    for index, layer in enumerate(history["layers"]):
        pooled = np.sqrt(sum(np.sum(g**2) for g, owner in zip(flat, layer_of) if owner == layer))
        np.testing.assert_allclose(history["per_layer"]["norm"][row, index], pooled, rtol=RTOL)


@pytest.mark.parametrize("mode", ["run_eagerly", "graph", "xla"])
def test_captured_gradients_equal_gradient_tape(mode):
    x, y = _data()
    model = _nested_model()
    model.compile(
        keras.optimizers.SGD(LEARNING_RATE),
        "mse",
        run_eagerly=mode == "run_eagerly",
        jit_compile=mode == "xla",
    )
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0, callbacks=[stats])
    history = stats.history
    assert history["step"].tolist() == [0, 1, 2]
    assert history["layers"] == ["first", "inner/d1", "inner/d2", "last"]  # forward order
    assert history["variables"][:2] == ["first/kernel", "first/bias"]
    for stat in (
        "norm",
        "mean",
        "std",
        "max_abs",
        "zero_fraction",
        "nonfinite_count",
        "update_ratio",
    ):
        assert history["per_variable"][stat].shape == (3, 8)
        assert history["per_layer"][stat].shape == (3, 4)
    reference = _replay_sgd(_nested_model, x, y, len(x), 3)
    for row, (grads, weights) in enumerate(reference):
        _assert_matches(history, row, grads, weights)
    # No exact zeros on this batch; test_callbacks_statistics checks zero_fraction on a relu
    # layer whose gradient has some (an assertion "zero_fraction >= 0" here could not fail).


def test_schedule_steps_per_execution_and_repeated_fits_reuse_one_trace():
    x, y = _data(n=32)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", steps_per_execution=2)
    plain_function = None
    stats = GradientStats(every_n_steps=4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    # 8 steps, executions (0,1) (2,3) (4,5) (6,7): the first and the one holding step 4;
    # only the last step of an execution is visible.
    assert stats.history["step"].tolist() == [1, 5]
    capture = get_capture(model)
    assert capture.traces == 1
    plain_function = model.train_function
    assert plain_function != capture._train_function  # restored after fit
    assert "apply" not in vars(model.optimizer)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    # Steps continue across fits (global optimizer step); the first execution is recorded.
    assert stats.history["step"].tolist() == [1, 5, 9, 13]
    assert capture.traces == 1  # the instrumented function was traced once, and reused
    assert model.train_function is plain_function
    reference = _replay_sgd(_nested_model, x, y, 4, 16)
    for row, step in enumerate(stats.history["step"]):
        _assert_matches(stats.history, row, *reference[step])


def test_embedding_sparse_gradients_and_nested_layers():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 30, size=(12, 3)).astype("int32")
    y = rng.normal(size=(12, 1)).astype("float32")

    def factory():
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [
                keras.Input((3,), dtype="int32"),
                keras.layers.Embedding(30, 4, name="embed"),
                keras.layers.Flatten(),
                keras.layers.Dense(1, name="head"),
            ]
        )

    model = factory()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(tokens, y, batch_size=12, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    reference = _replay_sgd(factory, tokens, y, 12, 2)
    for row in range(2):
        _assert_matches(stats.history, row, *reference[row])
    # Rows of unused tokens have exactly zero gradient.
    used = len(np.unique(tokens))
    np.testing.assert_allclose(
        stats.history["per_variable"]["zero_fraction"][0, 0], 1 - used / 30, rtol=1e-6
    )


class _FailAtBatch(keras.callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            raise RuntimeError("stop here")


class _CheckNumerics(keras.layers.Layer):
    def call(self, inputs):
        return tf.debugging.check_numerics(inputs, "bad input")


def test_restored_after_training_and_after_exceptions(tmp_path):
    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    own_function = model.train_function
    capture = get_capture(model)

    # 1. An exception inside the compiled step (on a recorded step).
    bad_model = keras.Sequential([keras.Input((5,)), _CheckNumerics(), keras.layers.Dense(1)])
    bad_model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    x_bad = x.copy()
    x_bad[9] = np.nan  # batch 2
    stats = GradientStats(every_n_steps=1, log_dir=str(tmp_path / "logs"))
    with pytest.raises(tf.errors.InvalidArgumentError):
        bad_model.fit(x_bad, y, batch_size=4, shuffle=False, verbose=0, callbacks=[stats])
    assert "apply" not in vars(bad_model.optimizer)
    assert bad_model.train_function != get_capture(bad_model)._train_function
    assert stats._writers.runs == []  # flushed and closed
    assert stats.history["step"].tolist() == [0, 1]

    # 2. An exception outside the step (another callback): the next fit without
    #    GradientStats runs the model's own function and records nothing.
    stats = GradientStats(every_n_steps=1)
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[stats, _FailAtBatch(1)])
    assert "apply" not in vars(model.optimizer)
    recorded = len(stats.history["step"])
    model.fit(x, y, batch_size=4, verbose=0)
    assert len(stats.history["step"]) == recorded
    assert not capture.installed
    assert model.train_function is own_function
    # 3. And the callback still works on the next fit.
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[stats])
    assert len(stats.history["step"]) == recorded + 4  # 16 samples, batch 4, every step


def test_model_saving_with_callback_attached(tmp_path):
    x, y = _data()
    model = _nested_model()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    path = tmp_path / "model.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(str(path), save_freq=2)
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[stats, checkpoint])
    model.save(path)
    restored = keras.saving.load_model(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(restored.optimizer.variables) == len(model.optimizer.variables)
    assert len(stats.history["step"]) == 8


class _NaNGradientFrom(keras.layers.Layer):
    """y = x * k, whose gradient with respect to k turns NaN from training call ``at`` on."""

    def __init__(self, at, **kwargs):
        super().__init__(**kwargs)
        self.at = at

    def build(self, input_shape):
        self.k = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="k")
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, inputs, training=None):
        poison = self.calls >= self.at
        if training:
            self.calls.assign_add(1.0)

        @tf.custom_gradient
        def scale(x, k):
            def grad(dy):
                dk = tf.reduce_sum(dy * x, axis=0)
                return dy * k, tf.where(poison, dk * np.nan, dk)

            return x * k, grad

        return scale(inputs, self.k.value)


def test_injected_nan_reported_with_layer_and_step():
    x, y = _data(n=32)
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, name="first"),
            _NaNGradientFrom(3, name="poisoned"),
            keras.layers.Dense(1, name="last"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.01), "mse")
    health = GradientHealth(every_n_steps=1)
    stats = GradientStats(every_n_steps=1)  # shares the capture with GradientHealth
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[health, stats])
    findings = [f for f in health.findings if f["kind"] == "nonfinite"]
    assert len(findings) == 1
    assert findings[0]["layer"] == "sequential/poisoned" and findings[0]["step"] == 3
    assert "poisoned" in findings[0]["message"] and "step 3" in findings[0]["message"]
    assert sum(issubclass(w.category, GradientHealthWarning) for w in caught) == len(
        health.findings
    )
    # Training stopped at step 3; the NaNs were counted, not dropped.
    assert stats.history["step"].tolist() == [0, 1, 2, 3]
    counts = stats.history["per_variable"]["nonfinite_count"]
    k_index = stats.history["variables"].index("sequential/poisoned/k")
    assert counts[3, k_index] == 4 and counts[3].sum() == 4 and counts[:3].sum() == 0
    assert np.isnan(stats.history["per_variable"]["norm"][3, k_index])
    assert "apply" not in vars(model.optimizer)


def _deep_model(init_std, activation, depth=6):
    keras.utils.set_random_seed(3)
    layers = [keras.Input((8,))]
    for _ in range(depth):
        layers.append(
            keras.layers.Dense(
                16,
                activation=activation,
                kernel_initializer=keras.initializers.RandomNormal(stddev=init_std),
            )
        )
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


def test_vanishing_and_exploding_reported_once():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    model = _deep_model(0.05, "sigmoid")  # each sigmoid layer shrinks the gradient ~100x
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    health = GradientHealth(every_n_steps=1, stop_on_nonfinite=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientHealthWarning)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[health])
    assert [f["kind"] for f in health.findings] == ["vanishing"]  # once, not once per step
    assert health.findings[0]["step"] == 0 and health.findings[0]["layer"].endswith("dense")

    model = _deep_model(1.0, None)  # linear, weights ~ sqrt(16) = 4x per layer: 4**6 ~ 4e3
    model.compile(keras.optimizers.SGD(1e-12), "mse")
    health = GradientHealth(every_n_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradientHealthWarning)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[health])
    assert [f["kind"] for f in health.findings] == ["exploding"]


@pytest.mark.backend_agnostic
def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="every_n_steps=0"):
        GradientStats(every_n_steps=0)
    with pytest.raises(TypeError, match="every_n_steps=1.5"):
        GradientStats(every_n_steps=1.5)
    with pytest.raises(ValueError, match="max_history=1"):
        GradientStats(max_history=1)
    with pytest.raises(TypeError, match="log_dir=3"):
        GradientStats(log_dir=3)
    with pytest.raises(ValueError, match="vanishing_ratio=-1"):
        GradientHealth(vanishing_ratio=-1)
    with pytest.raises(TypeError, match="stop_on_nonfinite='yes'"):
        GradientHealth(stop_on_nonfinite="yes")


@pytest.mark.backend_agnostic
def test_history_is_bounded_by_thinning():
    x, y = _data(n=32)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, max_history=4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    steps = stats.history["step"].tolist()
    assert len(steps) <= 4 and steps[0] == 0 and steps == sorted(steps)
    assert stats.history["per_layer"]["norm"].shape == (len(steps), 4)


@pytest.mark.backend_agnostic
def test_plot_gradient_flow(tmp_path):
    from matplotlib.image import imread

    from keras_init_lab.plots.training import plot_gradient_flow

    x, y = _data(n=32)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=2)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[stats])
    path = plot_gradient_flow(stats.history, tmp_path / "flow.png")
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05  # not a blank canvas
    with pytest.raises(ValueError, match="png"):
        plot_gradient_flow(stats.history, tmp_path / "flow.jpg")
    with pytest.raises(TypeError, match="list"):
        plot_gradient_flow([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="no recorded step"):
        plot_gradient_flow(GradientStats().history, tmp_path / "x.png")


# MirroredStrategy needs logical devices configured before TensorFlow initialises, and the
# mixed-precision policy is global: both run in one fresh interpreter.
_SUBPROCESS = textwrap.dedent(
    r"""
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras
    from keras_init_lab.callbacks import GradientStats

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")

    def build():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                 keras.layers.Dense(1)])

    def tape_norms(model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
        return [float(tf.norm(tf.cast(g, tf.float32))) for g in
                tape.gradient(loss, model.trainable_variables)]

    out = {}
    reference = build()
    out["single"] = tape_norms(reference)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
        model.compile(keras.optimizers.SGD(0.1), "mse")
    for a, b in zip(model.get_weights(), reference.get_weights()):
        assert np.array_equal(a, b)
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, histogram_sample_size=16)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    out["replicas"] = strategy.num_replicas_in_sync
    out["mirrored_histogram_totals"] = [
        stats.last_histograms[key].sum(axis=1).tolist()
        for key in ("gradient_counts", "weight_counts")
    ]
    # Keras releases without scale_loss_for_distribution (3.3) do not divide the loss by the
    # number of replicas: the optimizer then applies the sum of the replicas' gradients.
    try:
        from keras.src.losses.loss import scale_loss_for_distribution  # noqa: F401
        out["applied_factor"] = 1
    except ImportError:
        out["applied_factor"] = strategy.num_replicas_in_sync
    out["mirrored"] = stats.history["per_variable"]["norm"][0].tolist()

    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    out["optimizer"] = type(model.optimizer).__name__
    out["mixed_tape"] = tape_norms(model)
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    out["loss_scale"] = float(model.optimizer.dynamic_scale.numpy())
    out["mixed"] = stats.history["per_variable"]["norm"][0].tolist()
    out["mixed_histogram_totals"] = [
        stats.last_histograms[key].sum(axis=1).tolist()
        for key in ("gradient_counts", "weight_counts")
    ]
    out["restored"] = "apply" not in vars(model.optimizer.inner_optimizer)
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def subprocess_results():
    completed = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS], capture_output=True, text=True, timeout=300
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, completed.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT") :])


def test_mirrored_strategy_reports_the_all_reduced_gradient(subprocess_results):
    assert subprocess_results["replicas"] == 2
    # Each replica holds half the batch; the reported norm is that of the gradient the
    # optimizer applies: the global-batch gradient (times the replicas on Keras 3.3).
    factor = subprocess_results["applied_factor"]
    np.testing.assert_allclose(
        subprocess_results["mirrored"], np.multiply(subprocess_results["single"], factor), rtol=RTOL
    )


def test_mixed_precision_reports_unscaled_gradients(subprocess_results):
    assert subprocess_results["optimizer"] == "LossScaleOptimizer"
    assert subprocess_results["loss_scale"] > 1000  # the scaled gradients would be ~3e4x
    # float16 forward/backward: agreement to float16 precision, not bitwise.
    np.testing.assert_allclose(
        subprocess_results["mixed"], subprocess_results["mixed_tape"], rtol=1e-2
    )
    assert subprocess_results["restored"]


def test_histograms_under_mirrored_strategy_and_loss_scaling(subprocess_results):
    """Histograms under tf.distribute (a sample of 16 per variable: the 5 x 8 kernel is
    sampled, the others, 8 biases, 8 x 1, 1, counted whole) and under a LossScaleOptimizer
    (the default sample, larger than every variable): the counts of each variable's gradient
    and weight histograms sum to the elements counted."""
    sampled = [16, 8, 8, 1]
    assert subprocess_results["mirrored_histogram_totals"] == [sampled, sampled]
    whole = [40, 8, 8, 1]
    assert subprocess_results["mixed_histogram_totals"] == [whole, whole]


@pytest.mark.parametrize("order", ["stats_first", "health_first"])
def test_next_fit_after_exception_outside_step_records_and_restores(order):
    # A callback raising after a step leaves the selector installed (Keras calls no hook);
    # the next fit with the same callbacks cleans it up without resetting them.
    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    own_function = model.train_function
    stats = GradientStats(every_n_steps=1)
    health = GradientHealth(every_n_steps=1)
    callbacks = [stats, health] if order == "stats_first" else [health, stats]
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks + [_FailAtBatch(1)])
    capture = get_capture(model)
    assert model.train_function == capture._train_function  # left over, as Keras leaves it
    assert stats.history["step"].tolist() == [0, 1]
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)
    # Every step of the second fit recorded, numbered after the two of the first.
    assert stats.history["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert stats._capture is None and health._capture is None  # detached
    assert not capture.installed
    assert model.train_function is own_function
    assert "apply" not in vars(model.optimizer)


def test_cached_function_and_its_buffers_stay_together_across_freeze_unfreeze():
    x, y = _data(n=16)
    model = _nested_model()
    optimizer = keras.optimizers.SGD(LEARNING_RATE)
    model.compile(optimizer, "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    all_variables = stats.history["variables"]
    model.get_layer("first").trainable = False
    model.compile(optimizer, "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # history restarted (variable set)
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    assert "first/kernel" not in stats.history["variables"]
    model.get_layer("first").trainable = True
    model.compile(optimizer, "mse")  # same variables and optimizer: the first function again
    reference = _tape_gradients(model, x[:8], y[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[stats])
    assert len(get_capture(model)._functions) == 2  # the first one was reused
    assert stats.skipped_steps == []
    assert stats.history["variables"] == all_variables
    assert stats.history["step"].tolist() == [4, 5]
    np.testing.assert_allclose(
        stats.history["per_variable"]["norm"][0],
        [np.linalg.norm(g) for g in reference],
        rtol=RTOL,
    )


def test_model_is_freed_after_fit_with_gradient_callbacks():
    import gc
    import weakref

    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=2)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[stats, GradientHealth(every_n_steps=2)])
    assert len(stats.history["step"]) > 0
    reference = weakref.ref(model)
    del model, stats  # a Keras callback holds its model (``callback.model``)
    gc.collect()
    gc.collect()
    assert reference() is None


def test_step_numbers_continue_after_recompiling_with_a_new_optimizer():
    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    model.fit(x, y, batch_size=4, verbose=0)  # steps without the callback are not counted
    stats = GradientStats(every_n_steps=2)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 2]
    model.compile(keras.optimizers.Adam(1e-3), "mse")  # optimizer.iterations restarts at 0
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[stats])
    assert int(np.asarray(model.optimizer.iterations)) == 4  # a Keras variable on 3.3
    assert stats.history["step"].tolist() == [0, 2, 4, 6]


@pytest.mark.backend_agnostic
def test_no_batch_end_hook_so_unrecorded_steps_add_no_host_sync():
    """A callback overriding on_train_batch_end makes Keras convert the logs to Python numbers
    every step (a device sync); ours count steps at batch begin and receive records from the
    capture, so Keras may dispatch batch ends asynchronously."""
    for cls in (GradientStats, GradientHealth):
        assert cls.on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
        assert cls.on_batch_end is keras.callbacks.Callback.on_batch_end
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    callbacks = keras.callbacks.CallbackList(
        [GradientStats(), GradientHealth()], model=model, add_history=True
    )
    if hasattr(callbacks, "_configure_async_dispatch"):  # Keras >= 3.4
        from keras.src import backend

        assert callbacks._async_train == bool(backend.IS_THREAD_SAFE)


# ---------------------------------------------------------------------------------------
# Injected schedule, the public subscriber base and the run-time patches in _keras_compat
# ---------------------------------------------------------------------------------------


def test_buffer_reads_return_the_current_value_of_the_variable():
    """The capture reads a buffer with one ``ReadVariableOp`` called directly: the value as
    ``numpy()`` gives it, read again after a change (no cached copy). A distributed variable
    has no handle inside its strategy's scope (``ValueError``): read through ``numpy()``."""
    from keras_init_lab.callbacks.capture import _read

    for variable in (tf.Variable([[1.5, -2.0], [0.0, 3.25]]), tf.Variable([4, 5], tf.int64)):
        got = _read(variable)
        assert isinstance(got, np.ndarray) and got.dtype == variable.dtype.as_numpy_dtype
        np.testing.assert_array_equal(got, variable.numpy())
        variable.assign_add(tf.ones_like(variable))
        np.testing.assert_array_equal(_read(variable), variable.numpy())

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        mirrored = tf.Variable([7.0, -1.0], aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        with pytest.raises(ValueError):
            mirrored.handle  # noqa: B018 (the case _read falls back on)
        np.testing.assert_array_equal(_read(mirrored), [7.0, -1.0])
    np.testing.assert_array_equal(_read(mirrored), [7.0, -1.0])


def _optimizer(name):
    """A Keras optimizer by the name of its case in the test below (None: this Keras has
    no such option)."""
    if name == "accumulating":
        try:
            return keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
        except TypeError:  # the option came after Keras 3.3
            return None
    if name == "ema_overwrite":
        return keras.optimizers.SGD(0.1, use_ema=True, ema_overwrite_frequency=1)
    return {
        "sgd": lambda: keras.optimizers.SGD(0.1),
        "momentum": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        "nesterov": lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        "adam": lambda: keras.optimizers.Adam(1e-3),
        "adamw": lambda: keras.optimizers.AdamW(1e-3, weight_decay=0.1),
        "rmsprop": lambda: keras.optimizers.RMSprop(1e-3),
        "ftrl": lambda: keras.optimizers.Ftrl(0.1),
    }[name]()


@pytest.mark.parametrize(
    "name, writes",
    [
        ("sgd", 1),
        ("momentum", 1),
        ("nesterov", 1),
        ("adam", 1),
        ("adamw", 2),  # the weight decay, then Adam's step
        ("rmsprop", 1),
        ("ftrl", 0),  # assigns the new weights
        ("accumulating", 0),  # writes inside a conditional
        ("ema_overwrite", 0),  # assigns the moving average after the step
    ],
)
def test_applied_updates_are_what_the_optimizer_adds_or_none(name, writes):
    """``_applied_updates`` finds the tensors an optimizer adds to a variable when it only
    adds or subtracts them (their sum is ``w' - w`` up to the float32 rounding of each
    write, checked in float64 here), and None when it writes the variable any other way
    (``writes`` 0)."""
    found = writes > 0
    from keras_init_lab.callbacks.capture import _applied_updates

    optimizer = _optimizer(name)
    if optimizer is None:
        pytest.skip(f"this Keras ({keras.__version__}) has no {name!r} optimizer option")
    rng = np.random.default_rng(0)
    variable = keras.Variable(rng.normal(size=(30, 20)).astype("float32"))
    other = keras.Variable(rng.normal(size=(20,)).astype("float32"))
    optimizer.build([variable, other])
    grads = [tf.constant(rng.normal(size=s).astype("float32")) for s in ((30, 20), (20,))]

    @tf.function(autograph=False)
    def step():
        graph = tf.compat.v1.get_default_graph()
        before = tf.identity(variable.value)
        first = len(graph.get_operations())
        with tf.control_dependencies([before]):
            optimizer.apply(grads, [variable, other])
        deltas = _applied_updates(graph, first, [variable, other])
        assert deltas[1] is not None or not found
        return (
            before,
            [tf.zeros([0]) if d is None else d for d in deltas],
            [d is not None for d in deltas],
        )

    for _ in range(2):  # the second step also has momenta, moving averages
        before, deltas, present = step()
        assert [bool(p) for p in present] == [found, found]
        if found:
            after = variable.numpy()
            actual = after.astype(np.float64) - before.numpy()
            # Each write w <- fl(w + u) rounds by at most half a unit in the last place of
            # its result; the sum of the u's rounds too: one unit per write bounds it.
            spacing = np.spacing(np.maximum(np.abs(after), np.abs(before.numpy())))
            bound = writes * spacing.astype(np.float64)
            assert np.all(np.abs(deltas[0].numpy() - actual) <= bound)
            assert np.abs(actual).max() > 100 * spacing.max()  # a real update


def test_injected_step_schedule_records_exactly_the_scheduled_global_steps():
    from keras_init_lab.callbacks import EverySteps

    x, y = _data(n=32)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(schedule=EverySteps(3))
    health = GradientHealth(schedule=EverySteps(5))
    callbacks = [stats, health]
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
    # 8 steps per epoch: global steps 0..15 with no restart at the epoch boundary.
    assert stats.history["step"].tolist() == [0, 3, 6, 9, 12, 15]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    # Global steps 16..23: the first step of the fit (16) and the due ones 18 and 21.
    assert stats.history["step"].tolist() == [0, 3, 6, 9, 12, 15, 16, 18, 21]
    # The older argument runs the same schedule: the same steps, the same statistics.
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    older = GradientStats(every_n_steps=3)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[older])
    assert older.history["step"].tolist() == [0, 3, 6, 9, 12, 15]
    np.testing.assert_array_equal(
        older.history["per_layer"]["norm"], stats.history["per_layer"]["norm"][:6]
    )


@pytest.mark.backend_agnostic
def test_capture_callback_is_the_public_subscriber_base():
    from keras_init_lab.callbacks import CaptureCallback, EverySteps

    class FirstLayerNorm(CaptureCallback):
        def __init__(self, schedule):
            super().__init__(schedule)
            self.seen = []

        def _on_record(self, step, record):
            self.seen.append((step, float(record.per_layer()["norm"][0])))

    assert issubclass(GradientStats, CaptureCallback)
    assert issubclass(GradientHealth, CaptureCallback)
    for cls in (CaptureCallback, FirstLayerNorm):  # no per-step host synchronization
        assert cls.on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    own = FirstLayerNorm(EverySteps(2))
    stats = GradientStats(every_n_steps=2)
    model.fit(x, y, batch_size=4, shuffle=False, verbose=0, callbacks=[own, stats])
    assert [step for step, _ in own.seen] == [0, 2]
    np.testing.assert_allclose(
        [norm for _, norm in own.seen], stats.history["per_layer"]["norm"][:, 0], rtol=1e-7
    )
    with pytest.raises(NotImplementedError, match="_on_record"):
        CaptureCallback(EverySteps(1))._on_record(0, None)


def test_keras_compat_train_function_helpers_on_the_installed_keras():
    """What the capture relies on, checked as behaviour: a function installed in
    on_train_begin runs every step of that fit, and the fit's History shares its params."""
    from keras_init_lab import _keras_compat

    calls = []

    class Swap(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.original = _keras_compat.install_train_function(self.model, self.counting)

        def counting(self, iterator):
            calls.append(1)
            return self.original(iterator)

        def on_train_end(self, logs=None):
            self.restored = _keras_compat.restore_train_function(
                self.model, self.counting, self.original
            )

    x, y = _data(n=12)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    swap = Swap()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[swap])
    assert len(calls) == 6 and swap.restored
    assert model.train_function is swap.original
    # Nothing to restore once the model runs another function.
    assert not _keras_compat.restore_train_function(model, swap.counting, lambda it: None)
    assert model.train_function is swap.original
    history = _keras_compat.fit_history(model)
    assert isinstance(history, keras.callbacks.History)
    assert _keras_compat.fit_params(history) is _keras_compat.fit_params(swap)
    assert _keras_compat.fit_params(history)["epochs"] == 2


@pytest.mark.backend_agnostic
def test_the_capture_is_an_untracked_attribute_of_the_model(tmp_path):
    from keras_init_lab import _keras_compat
    from keras_init_lab.callbacks.capture import _CAPTURE_ATTRIBUTE

    model = _nested_model()
    capture = get_capture(model)
    assert get_capture(model) is capture  # one per model
    assert _keras_compat.untracked_attribute(model, _CAPTURE_ATTRIBUTE) is capture
    assert _keras_compat.untracked_attribute(model, "_kil_absent", "default") == "default"
    # Untracked: its buffers would otherwise be variables of the model.
    n_variables = len(model.variables)
    x, y = _data(n=8)
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[GradientStats(every_n_steps=1)])
    assert len(model.variables) == n_variables

    class Tracking:
        """Stands for Keras's tracking ``__setattr__``: the helper must go around it."""

        def __setattr__(self, name, value):
            raise AssertionError("tracked")

    box = Tracking()
    _keras_compat.set_untracked_attribute(box, "value", 3)
    assert vars(box) == {"value": 3}


class _KerasThreeThreeHistory(keras.callbacks.Callback):
    """Keras 3.3's timing: ``model.history`` is the previous fit's until this fit's first
    epoch ends (its History sets it in ``on_epoch_end``; 3.15's CallbackList at the start)."""

    def __init__(self):
        super().__init__()
        self.previous = None

    def on_train_begin(self, logs=None):
        current = self.model.history
        self.model.history = self.previous
        self.previous = current


@pytest.mark.backend_agnostic
def test_records_every_epoch_when_model_history_is_set_only_at_epoch_end():
    x, y = _data(n=16)
    model = _nested_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    timing = _KerasThreeThreeHistory()  # before stats: stats attaches with the old history
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[timing, stats])
    assert stats.history["step"].tolist() == list(range(12))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[timing, stats])
    assert stats.history["step"].tolist() == list(range(20))
    assert not get_capture(model).installed
