"""GradientStats and GradientHealth on the PyTorch backend, against ``torch.autograd``.

Keras fixes its backend when it is first imported, so under any other backend this module
runs itself once in a child process with ``KERAS_BACKEND=torch``
(:func:`test_torch_backend_suite_in_a_child_process`, marked ``slow``: ``pytest -m slow``);
under ``KERAS_BACKEND=torch`` its tests run directly:
``KERAS_BACKEND=torch python -m pytest -n 0 tests/test_backend_torch.py``. Skipped where
PyTorch is not installed (``pip install torch`` or ``pip install -e .[torch]``; CI does not
install it: its default wheels pull GPU libraries). The parent only looks PyTorch up
(``importlib.util.find_spec``), it does not import it next to TensorFlow.

The reference is the slow obvious path: the same MLP written with ``torch`` tensors, its
gradient from ``torch.autograd.grad`` of the mean squared error on the same batch and weights,
SGD replayed with PyTorch's own in-place update (``w.add_(g, alpha=-lr)``, the op Keras's
PyTorch SGD uses), statistics by NumPy in float64.
"""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

if importlib.util.find_spec("torch") is None:
    pytest.skip(
        "PyTorch is not installed (pip install torch, or pip install -e .[torch])",
        allow_module_level=True,
    )

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _statistics_checks import STATISTICS_RTOL, assert_statistics  # noqa: E402

ON_TORCH = keras.backend.backend() == "torch"

# Runs under KERAS_BACKEND=torch: tests/conftest.py skips unmarked tests off TensorFlow.
pytestmark = pytest.mark.backend_agnostic

LEARNING_RATE = 0.05
FEATURES = 40

#: Every statistic against the float64 reference (tests/_statistics_checks.py).
RTOL = STATISTICS_RTOL

#: Number of tests of the PyTorch side (each must pass in the child process).
TORCH_TESTS = 17


# ----------------------------------------------------------------------------- parent side


@pytest.mark.slow  # a child process that starts TensorFlow and PyTorch (setup.cfg's markers)
@pytest.mark.skipif(ON_TORCH, reason="already on PyTorch: the tests below run directly")
def test_torch_backend_suite_in_a_child_process():
    """Run this module under ``KERAS_BACKEND=torch`` and fail with its output if it fails."""
    env = dict(os.environ, KERAS_BACKEND="torch")
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
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", summary)}
    assert counts.get("passed", 0) >= TORCH_TESTS, summary
    assert set(counts) <= {"passed", "skipped", "deselected", "warnings", "warning"}, summary


# ----------------------------------------------------------------------------- PyTorch side


def _count_calls(monkeypatch, module, name: str) -> list:
    """Replace ``module.name`` by a wrapper that appends to the returned list at each call."""
    calls = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


torch_only = pytest.mark.skipif(not ON_TORCH, reason="runs in the KERAS_BACKEND=torch child")


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


def _numpy_weights(model):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.trainable_variables]


def _torch_gradient(weights, xb, yb):
    """``torch.autograd.grad`` of the MSE of the MLP written with torch tensors, float32."""
    import torch

    params = [torch.tensor(w, requires_grad=True) for w in weights]
    kernel, bias, out_kernel, out_bias = params
    hidden = torch.relu(torch.from_numpy(xb) @ kernel + bias)
    prediction = hidden @ out_kernel + out_bias
    loss = torch.mean(torch.square(prediction - torch.from_numpy(yb)))
    return [g.numpy() for g in torch.autograd.grad(loss, params)]


def _replay(factory, x, y, batch_size, steps):
    """Per step: (``torch.autograd`` gradients, weights before, weights after), SGD by hand."""
    import torch

    model = factory()
    assert [v.path for v in model.trainable_variables] == [
        "hidden/kernel",
        "hidden/bias",
        "out/kernel",
        "out/bias",
    ]
    weights = _numpy_weights(model)
    out, n_batches = [], len(x) // batch_size
    for step in range(steps):
        b = step % n_batches
        xb, yb = x[b * batch_size : (b + 1) * batch_size], y[b * batch_size : (b + 1) * batch_size]
        grads = _torch_gradient(weights, xb, yb)
        # SGD's float32 update with PyTorch's own op: w + (-lr) * g, as Keras's PyTorch SGD.
        after = [
            torch.from_numpy(w.copy()).add_(torch.from_numpy(g), alpha=-LEARNING_RATE).numpy()
            for w, g in zip(weights, grads)
        ]
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
    assert len(history["step"]) == len(reference)
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


def _optimizer_is_unpatched(model):
    """Nothing of the capture on the optimizer: ``apply`` is the class's own method again."""
    from keras_init_lab.callbacks.capture import _instance_optimizer

    optimizer = _instance_optimizer(model)
    return "apply" not in vars(optimizer) and "apply" not in vars(model.optimizer)


@torch_only
@pytest.mark.parametrize("loss_scale_factor", [None, 8.0], ids=["plain", "loss_scale_factor"])
def test_statistics_equal_torch_autograd(loss_scale_factor):
    """Eager steps (Keras's PyTorch default). With an optimizer ``loss_scale_factor`` (8, a
    power of two: the scaling is exact) ``apply`` receives gradients 8x too large; the
    statistics are of the unscaled one."""
    from keras_init_lab.callbacks import GradientStats

    x, y = _data()
    model = _large_model()
    optimizer = keras.optimizers.SGD(LEARNING_RATE, loss_scale_factor=loss_scale_factor)
    model.compile(optimizer, "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    history = stats.history
    assert history["step"].tolist() == [0, 1]
    assert history["layers"] == ["hidden", "out"]
    # The relu layer's gradient has exact zeros (dead units): zero_fraction is exercised.
    assert history["per_variable"]["zero_fraction"][:, 0].max() > 0
    _check_history(history, _replay(_large_model, x, y, 4, 2))
    assert _optimizer_is_unpatched(model)


@torch_only
@pytest.mark.parametrize("natural", [False, True], ids=["chunk_rows", "natural_rows"])
def test_statistics_of_variables_viewed_in_place_equal_torch_autograd(natural, monkeypatch):
    """The largest variables reduced from views instead of copies (the threshold lowered so
    the 40 x 300 kernel, 46 whole rows, and the 300 x 7 kernel are views): PyTorch's
    optimizer updates the weights in place, so the weights before the update must be a
    snapshot, while the gradients and the updated weights are read through views. Every
    statistic against ``torch.autograd`` and SGD replayed by hand."""
    from keras_init_lab.callbacks import GradientStats, statistics
    from keras_init_lab.callbacks.statistics import describe_variables

    monkeypatch.setattr(statistics, "INPLACE_MIN_ROWS", 2)
    monkeypatch.setattr(statistics, "_natural_views_by_default", lambda: natural)
    assert describe_variables(_large_model()).inplace == (0, 2)
    x, y = _data()
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    _check_history(stats.history, _replay(_large_model, x, y, 4, 2))
    assert np.all(stats.history["per_variable"]["update_ratio"] > 0)


@torch_only
def test_statistics_under_jit_compile_and_no_recompilation_in_a_second_fit():
    """``jit_compile=True``: Keras ``torch.compile``s its step (graph breaks at its own
    ``loss.backward()``, and in the statistics' data-dependent ops). The records equal
    torch.autograd's gradients, and a second fit compiles no new graph: the plain and the
    measuring variants of the step (the flag's two values) were compiled once each."""
    from torch._dynamo.utils import counters

    from keras_init_lab.callbacks import EverySteps, GradientStats

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", jit_compile=True)
    stats = GradientStats(schedule=EverySteps(2))
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 2]
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0  # compiled indeed
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 2, 4, 6]
    assert counters["stats"]["unique_graphs"] == graphs
    reference = _replay(_large_model, x, y, 4, 8)
    _check_history(stats.history, [reference[s] for s in (0, 2, 4, 6)])
    assert _optimizer_is_unpatched(model)


@torch_only
def test_records_at_exactly_the_scheduled_steps(monkeypatch):
    """EverySteps(3) over two fits of 2 x 4 steps: the first step of each fit and every
    step s with s % 3 == 0, numbered across fits; each record is that step's gradient. The
    statistics are computed on the recorded steps only (the host flag): counted here."""
    from keras_init_lab.callbacks import EverySteps, GradientStats, _capture_torch
    from keras_init_lab.callbacks.capture import get_capture

    calls = _count_calls(monkeypatch, _capture_torch, "gradient_sufficient_statistics")
    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(schedule=EverySteps(3))
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 3, 6]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.history["step"].tolist() == [0, 3, 6, 8, 9]
    # One host read per recorded execution, no statistics on the others.
    assert get_capture(model).record_serial == 5
    assert len(calls) == 5
    reference = _replay(_large_model, x, y, 4, 12)
    _check_history(stats.history, [reference[s] for s in (0, 3, 6, 8, 9)])


@torch_only
def test_health_shares_the_capture_and_reads_every_record():
    """GradientHealth on its own schedule next to GradientStats: both records delivered; a
    vanishing first layer and an exploding total norm are reported with the record's step,
    and the exploding message's norm is the one GradientStats recorded."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats
    from keras_init_lab.callbacks.health import GradientHealthWarning

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=3)
    # Any ratio of first to last layer norm is below 1e6: "vanishing" at the first record;
    # any total norm exceeds 1e-3: "exploding" at the first record.
    health = GradientHealth(every_n_steps=2, vanishing_ratio=1e6, exploding_norm=1e-3)
    with pytest.warns(GradientHealthWarning) as caught:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats, health])
    messages = [str(w.message) for w in caught if w.category is GradientHealthWarning]
    assert [m.split(":")[0] for m in messages] == [
        "Vanishing gradients at step 0",
        "Exploding gradients at step 0",
    ]
    assert stats.history["step"].tolist() == [0, 3]
    assert [f["kind"] for f in health.findings] == ["vanishing", "exploding"]
    assert health.findings[0]["layer"] == "hidden"
    norms = stats.history["per_layer"]["norm"][0]
    assert health.findings[1]["step"] == 0
    assert health.findings[1]["layer"] == stats.history["layers"][int(np.argmax(norms))]
    total = float(np.sqrt(np.sum(norms**2)))
    assert f"total gradient norm {total:.3g} > 0.001" in health.findings[1]["message"]


@torch_only
def test_health_names_the_first_nonfinite_layer_and_stops_training():
    """A NaN in one input of the third batch: the record of step 2 counts exactly the NaN
    entries ``torch.autograd`` gives on that batch and weights; GradientHealth names the
    first layer in forward order ('hidden') and step 2, and training stops there."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats
    from keras_init_lab.callbacks.health import GradientHealthWarning

    x, y = _data(n=16)
    x[9, 3] = np.nan  # sample 9: batch 2 (samples 8-11) of batch size 4
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    health = GradientHealth(every_n_steps=1)
    with pytest.warns(GradientHealthWarning, match=r"Non-finite gradient .* 'hidden' at step 2"):
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats, health])
    assert [f["kind"] for f in health.findings] == ["nonfinite"]
    assert stats.history["step"].tolist() == [0, 1, 2]  # stopped after the step with the NaN
    grads, before, after = _replay(_large_model, x, y, 4, 3)[2]
    expected = [int(np.sum(~np.isfinite(g))) for g in grads]
    assert expected[0] > 0  # the hidden kernel's row of feature 3
    np.testing.assert_array_equal(stats.history["per_variable"]["nonfinite_count"][2], expected)
    # The zeros are counted exactly too (NaN spoils the fast count; the exact branch runs).
    np.testing.assert_array_equal(
        stats.history["per_variable"]["zero_fraction"][2],
        [np.mean(g == 0) for g in grads],
    )


def _optimizer_state(model):
    return [
        (v.path, tuple(v.shape), np.array(keras.ops.convert_to_numpy(v.value)))
        for v in model.optimizer.variables
    ]


@torch_only
def test_saved_model_has_the_same_optimizer_variables(tmp_path):
    """Trained with and without the callbacks, saved and loaded: the same optimizer variables
    (paths, shapes, values) and the same weights; nothing of the capture on the optimizer."""
    from keras_init_lab.callbacks import GradientHealth, GradientStats

    x, y = _data(n=16)
    saved, weights = {}, {}
    for label, callbacks in (
        ("plain", []),
        ("captured", [GradientStats(every_n_steps=2), GradientHealth(every_n_steps=3)]),
    ):
        keras.backend.clear_session(free_memory=False)  # the same layer and optimizer names
        model = _large_model()
        model.compile(keras.optimizers.Adam(1e-3), "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        assert _optimizer_is_unpatched(model)
        path = tmp_path / f"{label}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        saved[label] = _optimizer_state(loaded)
        weights[label] = _numpy_weights(loaded)
    assert [(p, s) for p, s, _ in saved["plain"]] == [(p, s) for p, s, _ in saved["captured"]]
    # Same training: the recorded steps call the same apply with the same gradients; the
    # statistics only read. Bound: a few float32 ulps (2^-23 ~ 1.2e-7 relative each) should
    # the CPU's threads split a reduction differently between the two runs.
    for (path, _, plain), (_, _, captured) in zip(saved["plain"], saved["captured"]):
        np.testing.assert_allclose(captured, plain, rtol=1e-6, atol=1e-9, err_msg=path)
    for plain, captured in zip(weights["plain"], weights["captured"]):
        np.testing.assert_allclose(captured, plain, rtol=1e-6, atol=1e-9)


class _FailingSGD(keras.optimizers.SGD):
    """SGD whose ``apply`` raises at its ``fail_at``-th call (counted in ``calls``)."""

    def __init__(self, fail_at, **kwargs):
        super().__init__(**kwargs)
        self.fail_at = fail_at
        self.calls = 0

    def apply(self, grads, trainable_variables=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom in the step")
        return super().apply(grads, trainable_variables)


@torch_only
def test_optimizer_and_model_restored_when_a_step_raises():
    """An exception inside a recorded step: the optimizer's apply and the model's train
    function are restored at once, the callback keeps its history, the next fit trains."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks.capture import get_capture

    x, y = _data(n=16)
    model = _large_model()
    model.compile(_FailingSGD(fail_at=3, learning_rate=LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    with pytest.raises(RuntimeError, match="boom in the step"):
        model.fit(x, y, batch_size=4, verbose=0, shuffle=False, callbacks=[stats])
    assert _optimizer_is_unpatched(model)
    capture = get_capture(model)
    assert not capture.installed
    assert getattr(model.train_function, "__self__", None) is not capture
    assert stats.history["step"].tolist() == [0, 1]
    model.fit(x, y, batch_size=4, verbose=0, shuffle=False, callbacks=[stats])
    # The step that raised is not counted: the next fit goes on from step 2.
    assert stats.history["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert _optimizer_is_unpatched(model)


@torch_only
def test_fit_after_one_that_raised_outside_the_step():
    """A callback raising between steps leaves the selector installed but the optimizer
    untouched (apply is wrapped only during a step); the next fit without subscribers puts
    the model's train function back before its first step and trains normally."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks.capture import get_capture

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
    capture = get_capture(model)
    assert capture.installed  # left behind: Keras calls no callback hook then
    assert _optimizer_is_unpatched(model)
    before = _numpy_weights(model)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert not capture.installed
    assert getattr(model.train_function, "__self__", None) is not capture
    assert any(not np.allclose(a, b) for a, b in zip(_numpy_weights(model), before))
    assert stats.history["step"].tolist() == [0, 1]


@torch_only
def test_loss_scale_optimizer_records_unscaled_gradients_and_skipped_steps():
    """Under a ``LossScaleOptimizer`` the inner optimizer's apply is wrapped: a step with
    non-finite gradients (a NaN target in the first batch) is skipped by the optimizer (in
    ``skipped_steps``, not recorded), and step 1 is recorded as the unscaled gradient at the
    initial weights (step 0 applied nothing)."""
    from keras_init_lab.callbacks import GradientStats

    x, y = _data(n=16)
    y[0, 0] = np.nan  # batch 0 of 4: the steps 0 and 4 of two epochs
    model = _large_model()
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(LEARNING_RATE))
    model.compile(optimizer, "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.skipped_steps == [0, 4]
    assert stats.history["step"].tolist() == [1, 2, 3, 5, 6, 7]
    # The default scale 2^15 is a power of two: unscaling is exact.
    (step_1,) = _replay(_large_model, x[4:8], y[4:8], 4, 1)  # batch 1, initial weights
    _check_history(
        {**stats.history, "step": stats.history["step"][:1], **_first_row(stats.history)},
        [step_1],
    )
    assert _optimizer_is_unpatched(model)


def _first_row(history):
    """``history`` cut to its first record (per-variable and per-layer tables)."""
    return {
        "per_variable": {k: v[:1] for k, v in history["per_variable"].items()},
        "per_layer": {k: v[:1] for k, v in history["per_layer"].items()},
    }


@torch_only
def test_a_variable_without_gradient_is_reported_as_nan():
    """A built layer the forward pass never uses gets no ``.grad``: its statistics are NaN
    (missing), never the statistics of zeros; the used layer's are those of torch.autograd's
    gradient (its norm, within :data:`RTOL`)."""
    from keras_init_lab.callbacks import GradientStats

    class WithUnusedLayer(keras.Model):
        def __init__(self):
            super().__init__(name="with_unused")
            self.used = keras.layers.Dense(7, name="used")
            self.unused = keras.layers.Dense(3, name="unused")
            self.unused.build((None, FEATURES))

        def call(self, inputs):
            return self.used(inputs)

    x, y = _data()
    keras.utils.set_random_seed(7)
    model = WithUnusedLayer()
    model(x[:1])
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1)
    weights = _numpy_weights(model)
    with pytest.warns(UserWarning, match="[Gg]radients do not exist"):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    names = stats.history["variables"]
    unused = np.array([name.split("/")[-2] == "unused" for name in names])
    assert unused.sum() == 2 and (~unused).sum() == 2, names
    norms = stats.history["per_variable"]["norm"][0]
    assert np.all(np.isnan(norms[unused]))
    import torch

    kernel, bias = (torch.tensor(w, requires_grad=True) for w, u in zip(weights, unused) if not u)
    loss = torch.mean(torch.square(torch.from_numpy(x) @ kernel + bias - torch.from_numpy(y)))
    expected = [
        np.linalg.norm(g.numpy().astype(np.float64))
        for g in torch.autograd.grad(loss, [kernel, bias])
    ]
    np.testing.assert_allclose(norms[~unused], expected, rtol=RTOL)


@torch_only
def test_unsupported_on_torch_say_so_and_leave_the_model_as_it_was():
    """Gradient accumulation raises, naming the backend and Keras's version; the model
    trains afterwards as if the capture was never there. Histograms are supported, with the
    defaults of the other backends (every ``max(100, n)`` steps with ``log_dir``)."""
    from keras_init_lab.callbacks import GradientStats
    from keras_init_lab.callbacks.capture import get_capture

    assert GradientStats(every_n_steps=1, histogram_every_n_steps=5).histogram_every_n_steps == 5
    assert GradientStats(every_n_steps=1, log_dir="unused").histogram_every_n_steps == 100
    assert GradientStats(every_n_steps=1).histogram_every_n_steps == 0

    x, y = _data()
    model = _large_model()
    model.compile(keras.optimizers.SGD(0.01, gradient_accumulation_steps=2), "mse")
    with pytest.raises(
        NotImplementedError, match=r"PyTorch backend \(Keras 3\..*gradient_accumulation_steps=2"
    ):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[GradientStats(every_n_steps=1)])
    assert not get_capture(model).installed
    model.fit(x, y, batch_size=4, verbose=0)


@torch_only
def test_tensorboard_events_on_torch_are_written_without_tf_summary(tmp_path):
    """With ``log_dir`` on PyTorch, GradientStats writes through EventWriters; every recorded
    per-layer gradient norm is one of the scalars of its step (float32 in the event file:
    within 2^-24 relative), and every histogram of a record (histograms every 2 steps: steps
    0 and 2 of 0-3) is one of the histograms of its step, its counts exact (whole numbers,
    float64 in the file). Tag names are not assumed here (the TensorBoard tests own them)."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    from keras_init_lab._event_writer import EventWriters
    from keras_init_lab.callbacks import GradientStats

    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=2, log_dir=tmp_path)
    recorder = _Recorder()
    assert isinstance(stats._writers, EventWriters)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats, recorder])
    accumulator = event_accumulator.EventAccumulator(
        str(tmp_path / "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    by_step, histograms = {}, {}
    for tag in accumulator.Tags()["tensors"]:
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        for event in accumulator.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if plugin == "histograms":
                histograms.setdefault(event.step, []).append(tuple(value[:, 2]))
            elif value.shape == () and value.dtype.kind == "f":  # not the layout
                by_step.setdefault(event.step, []).append(float(value))
    assert sorted(by_step) == [0, 1, 2, 3]
    for row, step in enumerate(stats.history["step"]):
        written = np.asarray(by_step[int(step)])
        for norm in stats.history["per_layer"]["norm"][row]:
            assert np.min(np.abs(written - norm)) <= 2.0**-24 * norm, (step, norm)
    assert sorted(histograms) == [0, 2]
    with_histograms = [(s, r) for s, r in recorder.records if r.gradient_histograms is not None]
    assert [s for s, _ in with_histograms] == [0, 2]
    for step, record in with_histograms:
        # Two histograms per variable (gradients, weights) in the step's event.
        assert len(histograms[step]) == 2 * record.layout.num_variables
        for counts in (*record.gradient_histograms, *record.weight_histograms):
            assert tuple(counts.astype(np.float64)) in histograms[step], step


class _Recorder:
    """Stand-in built lazily (CaptureCallback checks the backend when constructed)."""

    def __new__(cls):
        from keras_init_lab.callbacks import CaptureCallback, EverySteps

        class Recorder(CaptureCallback):
            """Keeps every record of the model's capture, with its step, whoever asked for
            it (its own schedule only asks for the first step of each fit)."""

            _reads_others_records = True

            def __init__(self):
                super().__init__(EverySteps(10**9))
                self.records = []

            def _on_record(self, step, record):
                self.records.append((int(step), record))

        return Recorder()


#: Relative distance to a binade edge (a power of two) within which the recorded gradient
#: and ``torch.autograd``'s may fall on either side of it. Both run the same float32 ops
#: (here bit for bit); another kernel order changes a gradient element by a few ulps
#: (2^-24) of the terms it sums (a batch of 4), and 2^-12 leaves room for those terms to
#: exceed the element by 2^10 (cancellation). An element that close to an edge may move
#: one count between the two buckets beside it (2 in the sum of absolute differences).
GRADIENT_EDGE_RTOL = 2.0**-12


def _binade_counts(values):
    """NumPy float64 binade counts, as the TensorFlow and JAX histogram tests count."""
    from keras_init_lab.callbacks.histograms import GRADIENT_MIN_EXPONENT, gradient_log10_edges

    k = len(gradient_log10_edges()) - 1
    flat = np.abs(np.asarray(values, np.float64).ravel())
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log2(flat))
    index = np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int)
    return np.bincount(index, minlength=k)


def _gradients_near_an_edge(values):
    """How many of ``values`` lie within :data:`GRADIENT_EDGE_RTOL` of a power of two."""
    flat = np.abs(np.asarray(values, np.float64).ravel())
    flat = flat[flat > 0]  # exact zeros: the first bucket for both, whatever the rounding
    edge = np.exp2(np.round(np.log2(flat)))
    return int(np.sum(np.abs(flat - edge) <= GRADIENT_EDGE_RTOL * flat))


def _weight_tolerance(weights, grads):
    """How far a weight after the update may be from the reference's ``w - lr g``: one
    float32 ulp (at most 2^-23 relative: the compiled step may fuse the update into another
    rounding than PyTorch's ``add_``) plus the learning rate times the gradient's
    :data:`GRADIENT_EDGE_RTOL`."""
    return 2.0**-23 * np.abs(weights) + LEARNING_RATE * GRADIENT_EDGE_RTOL * np.abs(grads)


def _weights_near_an_edge(weights, grads, low, high, buckets):
    """How many weights after the update may land in the bucket beside NumPy's.

    The device computes ``w * scale + offset`` in float32 with ``scale = k / (high - low)``
    and ``offset = -low * scale``: four roundings of at most 2^-24 relative of the terms
    (the width, the quotient, each product, the sum), bound by
    ``2^-24 (4 |w scale| + 4 |low scale| + 2 |position|)`` in bucket units; and the weight
    itself may differ from the reference by :func:`_weight_tolerance` (times ``scale``).
    Interior edges only (the ends are clamped, on the device and in the reference).
    """
    w = np.asarray(weights, np.float64).ravel()
    g = np.abs(np.asarray(grads, np.float64).ravel())
    scale = buckets / (float(high) - float(low))
    position = (w - float(low)) * scale
    margin = 2.0**-24 * (
        4 * np.abs(w * scale) + 4 * abs(float(low) * scale) + 2 * np.abs(position)
    ) + scale * _weight_tolerance(w, g)
    edge = np.round(position)
    interior = (edge >= 1) & (edge <= buckets - 1)
    return int(np.sum(interior & (np.abs(position - edge) <= margin)))


def _check_histograms(record, grads, after, sample_size, draw):
    """The record's histograms against NumPy's counting of ``grads`` and ``after`` (the
    reference gradient and weights after the update of its step), sampled as the plan and
    the draw say; the allowed difference per variable is 2 per element near an edge."""
    from keras_init_lab.callbacks.histograms import sample_plan

    layout = record.layout
    buckets = record.weight_histograms.shape[1]
    plan = sample_plan(layout, sample_size or 10**9)
    for index, (grad, weight) in enumerate(zip(grads, after)):
        n = grad.size
        chosen = plan.base[plan.group == index]
        if sample_size and n > sample_size:
            chosen = (chosen + (draw % 2**15) * 40503 % n) % n  # the draw's shift
        expected_total = min(n, sample_size or n)
        assert len(chosen) == expected_total
        g_counts, w_counts = record.gradient_histograms[index], record.weight_histograms[index]
        # Sampled: exactly the sample size for a larger variable, every element otherwise.
        assert g_counts.sum() == w_counts.sum() == expected_total, (index, g_counts.sum())
        low, high = record.weight_range[:, index]
        # The range is exact (every weight), of weights within _weight_tolerance of the
        # reference's.
        tolerance = _weight_tolerance(weight, grad).max()
        np.testing.assert_allclose(
            [low, high], [weight.min(), weight.max()], rtol=0, atol=tolerance
        )
        g_sample, w_sample = grad.ravel()[chosen], weight.ravel()[chosen]
        near = _gradients_near_an_edge(g_sample)
        difference = np.abs(g_counts - _binade_counts(g_sample)).sum()
        assert difference <= 2 * near, (index, difference, near)
        # Clipped into the recorded range, as the device clamps: a reference weight one
        # ulp past the recorded max is that max (the range is checked above).
        clipped = np.clip(w_sample.astype(np.float64), float(low), float(high))
        expected_w, _ = np.histogram(clipped, bins=buckets, range=(float(low), float(high)))
        near = _weights_near_an_edge(w_sample, g_sample, low, high, buckets)
        difference = np.abs(w_counts - expected_w).sum()
        assert difference <= 2 * near, (index, difference, near)


@torch_only
@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "jit"])
def test_histograms_equal_numpy_on_torch_autograd(jit_compile):
    """Histograms of every recorded step (steps 0 and 1), exact (``histogram_sample_size=
    None``: every element) and sampled (1000 elements of each larger variable: the 12,000
    and 2100-element kernels; the biases counted whole), against NumPy's counting of
    ``torch.autograd``'s gradient and the replayed weights after the update of that step.
    The sample is read at the plan's positions shifted by the step's draw, the optimizer's
    iteration count before the update (0 at step 0, 1 at step 1). Under ``jit_compile`` a
    second fit compiles no new graph (each variant of the step compiled once). The records'
    statistics are those of the same gradients (the histograms share the step)."""
    from torch._dynamo.utils import counters

    from keras_init_lab.callbacks import GradientStats

    x, y = _data()
    reference = _replay(_large_model, x, y, 4, 4)
    for sample_size in (None, 1000):
        model = _large_model()
        model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", jit_compile=jit_compile)
        stats = GradientStats(
            every_n_steps=1, histogram_every_n_steps=1, histogram_sample_size=sample_size
        )
        recorder = _Recorder()
        fit = dict(batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats, recorder])
        model.fit(x, y, **fit)
        assert [step for step, _ in recorder.records] == [0, 1]
        assert stats.last_histograms["step"] == 1
        assert stats.last_histograms["sample_size"] == sample_size
        if jit_compile:
            graphs = counters["stats"]["unique_graphs"]
            model.fit(x, y, **fit)
            assert counters["stats"]["unique_graphs"] == graphs
            assert [step for step, _ in recorder.records] == [0, 1, 2, 3]
        for step, record in recorder.records:
            grads, _, after = reference[step]
            _check_histograms(record, grads, after, sample_size, draw=step)
        _check_history(stats.history, reference[: len(recorder.records)])
        assert _optimizer_is_unpatched(model)


@torch_only
def test_histograms_at_exactly_the_scheduled_steps(monkeypatch):
    """Statistics every step, histograms every 3 steps over two fits (2 x 4 steps, then 4):
    only the records of steps 0, 3, 6 and 9 carry histograms, and the histograms are
    computed on those steps only (the second host flag): counted here."""
    from keras_init_lab.callbacks import GradientStats, _capture_torch

    calls = _count_calls(monkeypatch, _capture_torch, "gradient_histograms")
    x, y = _data(n=16)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=3)
    recorder = _Recorder()
    fit = dict(batch_size=4, shuffle=False, verbose=0, callbacks=[stats, recorder])
    model.fit(x, y, epochs=2, **fit)
    model.fit(x, y, epochs=1, **fit)
    assert [step for step, _ in recorder.records] == list(range(12))
    with_histograms = [s for s, r in recorder.records if r.gradient_histograms is not None]
    assert with_histograms == [0, 3, 6, 9]
    assert len(calls) == 4
    for _, record in recorder.records:
        fields = (record.gradient_edges, record.weight_histograms, record.weight_range)
        assert all((f is None) == (record.gradient_histograms is None) for f in fields)
    assert stats.last_histograms["step"] == 9


@torch_only
def test_capture_module_does_not_import_tensorflow_itself():
    """The PyTorch capture's own module imports neither TensorFlow nor PyTorch by name (a
    PyTorch-only install can load it once the rest of the package is TensorFlow-free)."""
    import ast

    from keras_init_lab.callbacks import _capture_torch

    with open(_capture_torch.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"tensorflow", "torch"}, imported
