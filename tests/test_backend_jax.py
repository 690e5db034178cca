"""GradientStats and GradientHealth on the JAX backend, against ``jax.grad``.

Keras fixes its backend when it is first imported, so under any other backend this module
runs itself once in a child process with ``KERAS_BACKEND=jax``
(:func:`test_jax_backend_suite_in_a_child_process`, marked ``slow``: ``pytest -m slow``);
under ``KERAS_BACKEND=jax`` its tests run directly. Skipped where JAX is not installed
(``pip install "jax[cpu]"`` or ``pip install -e .[jax]``).

The reference is the slow obvious path: ``jax.grad`` of the mean squared error through
``model.stateless_call`` on the same batch and weights, SGD replayed by hand in float32,
statistics by NumPy in float64.
"""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")

# Runs under any KERAS_BACKEND (tests/conftest.py): each test says which backend it needs.
pytestmark = pytest.mark.backend_agnostic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _statistics_checks import STATISTICS_RTOL, assert_statistics  # noqa: E402

ON_JAX = keras.backend.backend() == "jax"

LEARNING_RATE = 0.05
FEATURES = 40

#: Every statistic against the float64 reference (tests/_statistics_checks.py).
RTOL = STATISTICS_RTOL


# ----------------------------------------------------------------------------- parent side


@pytest.mark.slow  # a child process that starts TensorFlow and JAX (setup.cfg's markers)
@pytest.mark.skipif(ON_JAX, reason="already on JAX: the tests below run directly")
def test_jax_backend_suite_in_a_child_process():
    """Run this module under ``KERAS_BACKEND=jax`` and fail with its output if it fails."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    # Two CPU devices for the DataParallel test (one process, no GPU needed).
    env["XLA_FLAGS"] = " ".join(
        filter(None, [env.get("XLA_FLAGS"), "--xla_force_host_platform_device_count=2"])
    )
    env["PYTHONPATH"] = os.pathsep.join(
        p
        for p in (
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            env.get("PYTHONPATH"),
        )
        if p
    )
    # One process (-n 0) where the suite runs on pytest-xdist workers (setup.cfg's addopts).
    workers = ["-n", "0"] if importlib.util.find_spec("xdist") else []
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *workers, __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    # Every test of the JAX side (14) ran and passed; nothing failed.
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", summary)}
    assert counts.get("passed", 0) >= 14, summary
    assert set(counts) <= {"passed", "skipped", "deselected", "warnings", "warning"}, summary


@pytest.mark.skipif(ON_JAX, reason="the backend is faked on TensorFlow")
def test_unsupported_backend_is_named_with_the_keras_version(monkeypatch):
    """A backend without a capture (NumPy: no trainer to instrument): construction fails,
    naming the backend and Keras's version."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats

    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    for callback in (GradientStats, GradientHealth):
        with pytest.raises(NotImplementedError, match=r"'numpy' backend \(Keras 3\.") as info:
            callback(every_n_steps=1)
        assert keras.__version__ in str(info.value)
        assert isinstance(info.value, RuntimeError)


# ----------------------------------------------------------------------------- JAX side

jax_only = pytest.mark.skipif(not ON_JAX, reason="runs in the KERAS_BACKEND=jax child")


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    # Features with different means, so the chunk rows of a kernel gradient differ in mean.
    x = (rng.normal(size=(n, FEATURES)) + np.linspace(-3, 3, FEATURES)).astype("float32")
    y = rng.normal(size=(n, 7)).astype("float32")
    return x, y


def _large_model():
    """40 -> 300 relu -> 7: every variable but the last bias exceeds one 256-element chunk
    row and has a tail; biases with a mean far from 0 (the centred M2 is exercised)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(
        300,
        activation="relu",
        bias_initializer=keras.initializers.RandomNormal(0.5, 0.1),
        name="hidden",
    )(inputs)
    outputs = keras.layers.Dense(7, bias_initializer=keras.initializers.Constant(2.0), name="out")(
        hidden
    )
    return keras.Model(inputs, outputs, name="large")


def _replay(factory, x, y, batch_size, steps):
    """Per step: (``jax.grad`` gradients, weights before, weights after), SGD by hand."""
    import jax
    import jax.numpy as jnp

    model = factory()
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(trainable, xb, yb):
        prediction, _ = model.stateless_call(trainable, non_trainable, xb, training=True)
        return jnp.mean(jnp.square(prediction - yb))

    gradient = jax.jit(jax.grad(loss))
    weights = [np.asarray(v.value) for v in model.trainable_variables]
    out, n_batches = [], len(x) // batch_size
    for step in range(steps):
        b = step % n_batches
        xb, yb = x[b * batch_size : (b + 1) * batch_size], y[b * batch_size : (b + 1) * batch_size]
        grads = [np.asarray(g) for g in gradient(weights, xb, yb)]
        # SGD's update in float32, as the optimizer computes it: w - lr * g.
        after = [w - np.float32(LEARNING_RATE) * g for w, g in zip(weights, grads)]
        out.append((grads, weights, after))
        weights = after
    return out


def _reference_statistics(grads, before, after):
    """NumPy float64 statistics of flat arrays (one per variable or pooled per layer)."""
    out = {}
    for g, w, w2 in zip(grads, before, after):
        g, w, w2 = (np.asarray(a, np.float64).ravel() for a in (g, w, w2))
        row = {
            "norm": np.linalg.norm(g),
            "mean": g.mean(),
            "std": g.std(),
            "max_abs": np.abs(g).max(),
            "zero_fraction": np.mean(g == 0),
            "nonfinite_count": np.sum(~np.isfinite(g)),
            "update_ratio": np.linalg.norm(w2 - w) / np.linalg.norm(w),
            "weight_norm": np.linalg.norm(w),
            "weight_std": w.std(),
            "_rms": np.sqrt(np.mean(g**2)),
        }
        for key, value in row.items():
            out.setdefault(key, []).append(value)
    return {key: np.asarray(value) for key, value in out.items()}


def _check_history(history, reference):
    layer_of = [name.rsplit("/", 1)[0] for name in history["variables"]]
    for row, (grads, before, after) in enumerate(reference):
        per_variable = {k: v[row] for k, v in history["per_variable"].items()}
        assert_statistics(
            per_variable, _reference_statistics(grads, before, after), f"row {row} variable"
        )

        def pooled(arrays, layer):
            return np.concatenate([a.ravel() for a, o in zip(arrays, layer_of) if o == layer])

        layers = history["layers"]
        per_layer = {k: v[row] for k, v in history["per_layer"].items()}
        assert_statistics(
            per_layer,
            _reference_statistics(
                [pooled(grads, layer) for layer in layers],
                [pooled(before, layer) for layer in layers],
                [pooled(after, layer) for layer in layers],
            ),
            f"row {row} layer",
        )


@jax_only
@pytest.mark.parametrize(
    "jit_compile, loss_scale_factor",
    [(True, None), (False, None), (True, 8.0)],
    ids=["jit", "eager", "loss_scale_factor"],
)
def test_statistics_equal_jax_grad(jit_compile, loss_scale_factor):
    """With an optimizer ``loss_scale_factor`` (8, a power of two: the scaling is exact),
    ``apply`` receives gradients 8x too large; the statistics are of the unscaled one."""
    from keras_init_lab.callbacks import GradientStats

    x, y = _data()
    model = _large_model()
    optimizer = keras.optimizers.SGD(LEARNING_RATE, loss_scale_factor=loss_scale_factor)
    model.compile(optimizer, "mse", jit_compile=jit_compile)
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    history = stats.history
    assert history["step"].tolist() == [0, 1]
    assert history["layers"] == ["hidden", "out"]
    # The relu layer's gradient has exact zeros (dead units): zero_fraction is exercised.
    assert history["per_variable"]["zero_fraction"][:, 0].max() > 0
    _check_history(history, _replay(_large_model, x, y, 4, 2))


@jax_only
def test_jax_layouts_view_the_largest_variables_by_their_own_rows():
    """On JAX the largest variables are reduced from their natural rows (a reshape of the
    whole tensor that XLA reads in place; ``benchmarks/callbacks.py --backend jax``): a
    600 x 1200 kernel is viewed as 600 rows of 1200 with no tail; its 1200 biases are not a
    view (fewer than ``INPLACE_MIN_ROWS`` rows)."""
    from keras_init_lab.callbacks.statistics import describe_variables

    model = keras.Sequential([keras.Input((600,)), keras.layers.Dense(1200)])
    layout = describe_variables(model)
    assert layout.inplace == (0,) and layout.view_widths == (1200,)
    assert layout.full_chunks[0] == 600 and layout.tail_sizes[0] == 0


@jax_only
def test_records_at_exactly_the_scheduled_steps():
    """EverySteps(3) over two fits of 2 x 4 steps: the first step of each fit and every
    step s with s % 3 == 0, numbered across fits; each record is that step's gradient.
    Run eagerly (``jit_compile=False``), so the wrapped ``apply`` runs once per instrumented
    execution: the other steps run the model's own step."""
    from keras_init_lab.callbacks import EverySteps, GradientStats
    from keras_init_lab.callbacks.capture import get_capture

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", jit_compile=False)
    stats = GradientStats(schedule=EverySteps(3))
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 3, 6]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 3, 6, 8, 9]
    # One host read per recorded execution, none on the others.
    assert get_capture(model).record_serial == 5
    assert get_capture(model).traces == 5  # apply wrapped on the recorded executions only
    reference = _replay(_large_model, x, y, 4, 12)
    _check_history(stats.history, [reference[s] for s in (0, 3, 6, 8, 9)])


@jax_only
def test_steps_per_execution_records_the_last_step_of_an_execution():
    from keras_init_lab.callbacks import GradientStats

    x, y = _data(n=32)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", steps_per_execution=2)
    stats = GradientStats(every_n_steps=4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [1, 5]
    reference = _replay(_large_model, x, y, 4, 8)
    _check_history(stats.history, [reference[1], reference[5]])


@jax_only
def test_health_shares_the_capture_and_reads_every_record():
    """GradientHealth on its own schedule next to GradientStats: both records delivered; a
    vanishing first layer is reported with the step of the record."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats
    from keras_init_lab.callbacks.health import GradientHealthWarning

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=3)
    # Any ratio of first to last layer norm is below 1e6: "vanishing" at the first record.
    health = GradientHealth(every_n_steps=2, vanishing_ratio=1e6)
    with pytest.warns(GradientHealthWarning, match="Vanishing gradients at step 0"):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats, health])
    assert stats.history["step"].tolist() == [0, 3]
    assert [f["kind"] for f in health.findings] == ["vanishing"]
    assert health.findings[0]["layer"] == "hidden"


def _optimizer_state(model):
    return [(v.path, tuple(v.shape), np.asarray(v.value)) for v in model.optimizer.variables]


@jax_only
def test_saved_model_has_the_same_optimizer_variables(tmp_path):
    """Trained with and without the callback, saved and loaded: the same optimizer variables
    (paths, shapes, values); the buffer is in the optimizer's state only during ``fit``."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats
    from keras_init_lab.callbacks._capture_jax import BUFFER_NAME

    x, y = _data(n=16)
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([v.name for v in self.model.optimizer.variables])

    saved = {}
    for label, callbacks in (
        ("plain", []),
        ("captured", [GradientStats(every_n_steps=2), GradientHealth(every_n_steps=3)]),
    ):
        keras.backend.clear_session(free_memory=False)  # the same layer and optimizer names
        model = _large_model()
        model.compile(keras.optimizers.Adam(1e-3), "mse")
        model.fit(
            x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[*callbacks, Watch()]
        )
        assert BUFFER_NAME not in [v.name for v in model.optimizer.variables]
        path = tmp_path / f"{label}.keras"
        model.save(path)
        saved[label] = _optimizer_state(keras.models.load_model(path))
    assert any(BUFFER_NAME in names for names in seen)  # it was there while training
    assert [(p, s) for p, s, _ in saved["plain"]] == [(p, s) for p, s, _ in saved["captured"]]
    # Same training: the instrumented step applies the same update (float32, a different
    # XLA fusion may round differently: a few ulps after 8 Adam steps).
    for (path, _, plain), (_, _, captured) in zip(saved["plain"], saved["captured"]):
        np.testing.assert_allclose(captured, plain, rtol=1e-5, atol=1e-7, err_msg=path)


@jax_only
def test_fit_after_one_that_raised_outside_the_step_drops_the_buffer():
    """A callback raising between steps leaves the capture installed; the next fit without
    subscribers removes it (and the buffer) before its first step and trains normally."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks._capture_jax import BUFFER_NAME

    class Boom(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                raise RuntimeError("boom")

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, batch_size=4, verbose=0, shuffle=False, callbacks=[stats, Boom()])
    assert BUFFER_NAME in [v.name for v in model.optimizer.variables]  # left behind
    before = len(model.optimizer.variables)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert len(model.optimizer.variables) == before - 1
    assert BUFFER_NAME not in [v.name for v in model.optimizer.variables]
    assert stats.history["step"].tolist() == [0, 1]


@jax_only
def test_unsupported_on_jax_say_so_and_leave_the_model_as_it_was():
    from keras_init_lab.callbacks import GradientStats

    # Histograms are carried out of the step on JAX too: asked for, or by default with log_dir.
    assert GradientStats(every_n_steps=1, histogram_every_n_steps=5).histogram_every_n_steps == 5
    assert GradientStats(every_n_steps=1, log_dir="unused").histogram_every_n_steps == 100

    x, y = _data()
    model = _large_model()
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)), "mse")
    with pytest.raises(NotImplementedError, match=r"JAX backend \(Keras 3\..*LossScaleOptimizer"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[GradientStats(every_n_steps=1)])
    names = [v.name for v in model.optimizer.variables]
    model.fit(x, y, batch_size=4, verbose=0)  # trains as if the capture was never there
    assert [v.name for v in model.optimizer.variables] == names

    model = _large_model()
    model.compile(keras.optimizers.SGD(0.01, gradient_accumulation_steps=2), "mse")
    with pytest.raises(NotImplementedError, match=r"gradient_accumulation_steps=2"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[GradientStats(every_n_steps=1)])


@jax_only
def test_keras_before_3_6_is_told_that_every_step_syncs(monkeypatch):
    """On Keras 3.3-3.5 the JAX fit loop synchronizes every step: the callback says so."""
    from keras_init_lab.callbacks import GradientStats, capture

    monkeypatch.setattr(capture, "jax_fit_syncs_every_step", lambda: True)
    with pytest.warns(RuntimeWarning, match=r"Keras 3\.\d+.*before 3\.6 synchronize the host"):
        GradientStats(every_n_steps=1)


@jax_only
def test_sufficient_statistics_under_jax_jit_match_float64():
    """The keras.ops statistics inside ``jax.jit``, asked for the dynamic-shape path
    (``xla=False, gather_rows=True``): JAX keeps static shapes (every row centred) and the
    result is precise on near-constant rows too (float64 reference, :data:`RTOL`)."""
    import jax

    from keras_init_lab.callbacks import statistics as statistics_module
    from keras_init_lab.callbacks.statistics import (
        CHUNK_SIZE,
        gradient_sufficient_statistics,
        variable_statistics,
    )

    rng = np.random.default_rng(3)
    shapes = [(4 * CHUNK_SIZE + 17,), (3 * CHUNK_SIZE,), (2 * CHUNK_SIZE + 5,), (5,)]
    sizes = np.array([int(np.prod(s)) for s in shapes], np.int64)
    full = sizes // CHUNK_SIZE
    layout = statistics_module.VariableLayout(  # only sizes and chunk rows are read
        variables=tuple(range(len(shapes))),
        names=tuple(f"v{i}/x" for i in range(len(shapes))),
        layers=tuple(f"v{i}" for i in range(len(shapes))),
        layer_index=np.arange(len(shapes), dtype=np.int32),
        sizes=sizes,
        full_chunks=full,
        tail_sizes=sizes - full * CHUNK_SIZE,
        full_variable=np.repeat(np.arange(len(shapes), dtype=np.int32), full),
    )
    grads = [
        rng.normal(size=shapes[0]),
        np.concatenate(
            [np.full(CHUNK_SIZE, 0.3), np.zeros(CHUNK_SIZE), 50.0 + rng.normal(size=CHUNK_SIZE)]
        ),
        2.0 + 1e-3 * rng.normal(size=shapes[2]),  # |mean| / std = 2000
        np.array([1.0, 0.0, -2.0, 0.5, 7.0]),
    ]
    grads = [g.astype(np.float32) for g in grads]
    before = [(1.0 + 1e-3 * rng.normal(size=s)).astype(np.float32) for s in shapes]
    after = [b - np.float32(0.01) * g for b, g in zip(before, grads)]
    compute = jax.jit(
        lambda g, b, a: gradient_sufficient_statistics(g, b, a, layout, xla=False, gather_rows=True)
    )
    got = variable_statistics(np.asarray(compute(grads, before, after)), layout.sizes)
    g64 = [g.astype(np.float64) for g in grads]
    w64 = [b.astype(np.float64) for b in before]
    np.testing.assert_allclose(got["std"], [g.std() for g in g64], rtol=RTOL)
    np.testing.assert_allclose(got["weight_std"], [w.std() for w in w64], rtol=RTOL)
    np.testing.assert_allclose(got["norm"], [np.linalg.norm(g) for g in g64], rtol=RTOL)
    np.testing.assert_allclose(got["max_abs"], [np.abs(g).max() for g in g64], rtol=0)
    np.testing.assert_array_equal(got["zero_fraction"], [np.mean(g == 0) for g in g64])
    update = [np.linalg.norm(a.astype(np.float64) - b) for a, b in zip(after, w64)]
    np.testing.assert_allclose(
        got["update_ratio"], [u / np.linalg.norm(w) for u, w in zip(update, w64)], rtol=RTOL
    )


@jax_only
def test_tensorboard_events_on_jax_are_written_without_tf_summary(tmp_path):
    """With ``log_dir`` on JAX, GradientStats writes through EventWriters; every recorded
    per-layer gradient norm is one of the scalars of its step (float32 in the event file:
    within 2^-24 relative). Tag names are not assumed here (the TensorBoard tests own them)."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    from keras_init_lab._event_writer import EventWriters
    from keras_init_lab.callbacks import GradientStats

    x, y = _data()
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, log_dir=tmp_path)
    assert type(stats._writers) is EventWriters  # not its tf.summary subclass, SummaryWriters
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    accumulator = event_accumulator.EventAccumulator(
        str(tmp_path / "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    by_step = {}
    for tag in accumulator.Tags()["tensors"]:
        for event in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if value.shape == () and value.dtype.kind == "f":  # not the layout
                by_step.setdefault(event.step, []).append(float(value))
    assert sorted(by_step) == [0, 1]
    for row, step in enumerate(stats.history["step"]):
        written = np.asarray(by_step[int(step)])
        for norm in stats.history["per_layer"]["norm"][row]:
            assert np.min(np.abs(written - norm)) <= 2.0**-24 * norm, (step, norm)


@jax_only
def test_data_parallel_statistics_equal_jax_grad_of_the_global_batch():
    """Under ``keras.distribution.DataParallel`` on two devices (the child process forces two
    CPU devices): the buffer is part of the sharded state (the step is rebuilt with it), and
    the statistics are those of the global batch's gradient, as on one device."""
    import jax

    from keras_init_lab.callbacks import GradientStats

    if len(jax.devices()) < 2:
        pytest.skip(
            f"needs 2 JAX devices, found {len(jax.devices())} "
            "(XLA_FLAGS=--xla_force_host_platform_device_count=2)"
        )
    x, y = _data()
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=keras.distribution.list_devices()[:2])
    )
    try:
        model = _large_model()
        model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
        stats = GradientStats(every_n_steps=1)
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    finally:
        keras.distribution.set_distribution(None)
    assert stats.history["step"].tolist() == [0, 1]
    _check_history(stats.history, _replay(_large_model, x, y, 4, 2))


@jax_only
def test_histograms_equal_numpy_on_jax_grad():
    """Histograms carried out of the jitted step, exact (``histogram_sample_size=None``) and
    sampled (1000 elements of each larger variable: the 12,000 and 2100-element kernels),
    against NumPy on ``jax.grad``'s
    gradient and the replayed weights of the same step. The sample is read at the plan's
    positions shifted by the step's draw (the optimizer's iteration count before the update,
    1 at step 1). ``jax.grad`` may round a gradient a few ulps apart from the compiled step:
    a value that close to a binade edge moves one count between two buckets, so each
    variable's counts may differ from NumPy's by one such move (a sum of absolute
    differences of 2), the weights' likewise for float32 edge rounding."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks.histograms import (
        GRADIENT_MIN_EXPONENT,
        gradient_log10_edges,
        sample_plan,
    )
    from keras_init_lab.callbacks.statistics import describe_variables

    x, y = _data()
    k = len(gradient_log10_edges()) - 1
    reference = _replay(_large_model, x, y, 4, 2)
    grads, _, after = reference[1]  # the last recorded step: 1

    def binades(values):
        flat = np.abs(np.asarray(values, np.float64).ravel())
        with np.errstate(divide="ignore"):
            exponent = np.floor(np.log2(flat))
        index = np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int)
        return np.bincount(index, minlength=k)

    for sample_size in (None, 1000):
        model = _large_model()
        model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
        stats = GradientStats(
            every_n_steps=1, histogram_every_n_steps=1, histogram_sample_size=sample_size
        )
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
        got = stats.last_histograms
        assert got["step"] == 1 and got["sample_size"] == sample_size
        layout = describe_variables(model)
        plan = sample_plan(layout, sample_size or 10**9)
        for index, (grad, weight) in enumerate(zip(grads, after)):
            chosen = plan.base[plan.group == index]
            if sample_size and grad.size > sample_size:
                chosen = (chosen + 1 * 40503 % grad.size) % grad.size  # draw 1's shift
                assert got["gradient_counts"][index].sum() == sample_size
            low, high = got["weight_range"][:, index]
            np.testing.assert_allclose([low, high], [weight.min(), weight.max()], rtol=1e-6)
            expected = binades(grad.ravel()[chosen])
            assert np.abs(got["gradient_counts"][index] - expected).sum() <= 2, index
            expected_w, _ = np.histogram(weight.ravel()[chosen], bins=30, range=(low, high))
            assert np.abs(got["weight_counts"][index] - expected_w).sum() <= 2, index
        # The records' statistics are unchanged by the histograms sharing the step.
        _check_history(stats.history, reference)


@jax_only
def test_exact_counts_past_float32_integers_are_carried_exactly():
    """An exact histogram of a 4097 x 4097 kernel held at zero (SGD with learning rate 0):
    all 16,785,409 weights in the last bucket, an odd count past 2^24 = 16,777,216 that one
    float32 cannot hold (it rounds to an even neighbour); the counts leave the step as high
    and low parts, so the record holds it exactly, and the gradient counts add up to it."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks._capture_jax import COUNT_SPLIT

    size = 4097
    n = size * size
    assert n > 2**24 and n % 2 == 1 and float(np.float32(n)) != n
    assert n // COUNT_SPLIT < 2**24  # the high part is exact in float32
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((size,)), keras.layers.Dense(size, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(keras.optimizers.SGD(0.0), "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size)).astype("float32")
    y = rng.normal(size=(2, size)).astype("float32")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=1, histogram_sample_size=None)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    got = stats.last_histograms
    assert got["weight_counts"][0, -1] == n and got["weight_counts"][0].sum() == n
    assert got["gradient_counts"][0].sum() == n
