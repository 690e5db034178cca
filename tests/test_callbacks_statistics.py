"""Capture statistics of real-sized variables against a ``tf.GradientTape`` reference.

Every variable here is larger than one chunk row of the capture and has a tail, so every
branch of the chunked reductions runs; the reference is the slow obvious path (tape
gradients and SGD replayed by hand, statistics by NumPy in float64).
"""

import os
import re

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from _statistics_checks import assert_statistics  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

from keras_init_lab.callbacks import GradientHealth, GradientStats  # noqa: E402
from keras_init_lab.callbacks.health import GradientHealthWarning  # noqa: E402
from keras_init_lab.callbacks.statistics import CHUNK_SIZE  # noqa: E402

LEARNING_RATE = 0.05
FEATURES = 40


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    # Features with different means, so the chunk rows of a kernel gradient have different
    # means (the between-row term of the pooled variance is large).
    x = (rng.normal(size=(n, FEATURES)) + np.linspace(-3, 3, FEATURES)).astype("float32")
    y = rng.normal(size=(n, 7)).astype("float32")
    return x, y


def _large_model(width=300):
    """40 -> 300 relu -> 7: every variable but the last bias exceeds one chunk, with a tail
    (``width`` other than 300 for a wider hidden layer)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(
        width,
        activation="relu",
        bias_initializer=keras.initializers.RandomNormal(0.5, 0.1),
        name="hidden",
    )(inputs)
    outputs = keras.layers.Dense(7, bias_initializer=keras.initializers.Constant(2.0), name="out")(
        hidden
    )
    return keras.Model(inputs, outputs, name="large")


def _replay(factory, x, y, batch_size, steps):
    """Per step: (tape gradients, weights before the update), SGD applied by hand."""
    model = factory()
    out, n_batches = [], len(x) // batch_size
    for step in range(steps):
        b = step % n_batches
        xb, yb = x[b * batch_size : (b + 1) * batch_size], y[b * batch_size : (b + 1) * batch_size]
        weights = [v.numpy().astype(np.float64) for v in model.trainable_variables]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(yb, model(xb, training=True)))
        grads = [
            g.numpy().astype(np.float64) for g in tape.gradient(loss, model.trainable_variables)
        ]
        out.append((grads, weights))
        for v, g in zip(model.trainable_variables, grads):
            v.assign(v.numpy() - LEARNING_RATE * g.astype(np.float32))
    return out


def _reference_statistics(grads, weights):
    """NumPy float64 statistics of flat arrays (one per variable or pooled per layer)."""
    out = {
        key: []
        for key in (
            "norm",
            "mean",
            "std",
            "max_abs",
            "zero_fraction",
            "nonfinite_count",
            "update_ratio",
            "weight_norm",
            "weight_std",
        )
    }
    out["_rms"] = []  # the scale of a mean's rounding (tests/_statistics_checks.py)
    for g, w in zip(grads, weights):
        out["_rms"].append(np.sqrt(np.mean(np.square(g))) if g.size else 0.0)
        out["norm"].append(np.linalg.norm(g))
        out["mean"].append(g.mean())
        out["std"].append(g.std())
        out["max_abs"].append(np.abs(g).max())
        out["zero_fraction"].append(np.mean(g == 0))
        out["nonfinite_count"].append(np.sum(~np.isfinite(g)))
        out["update_ratio"].append(LEARNING_RATE * np.linalg.norm(g) / np.linalg.norm(w))
        out["weight_norm"].append(np.linalg.norm(w))
        out["weight_std"].append(w.std())
    return {key: np.asarray(value) for key, value in out.items()}


def _check_history(history, reference):
    layer_of = [name.rsplit("/", 1)[0] for name in history["variables"]]
    for row, (grads, weights) in enumerate(reference):
        flat_g = [g.ravel() for g in grads]
        flat_w = [w.ravel() for w in weights]
        per_variable = {k: v[row] for k, v in history["per_variable"].items()}
        assert_statistics(
            per_variable, _reference_statistics(flat_g, flat_w), f"row {row} variable"
        )
        pooled_g = [
            np.concatenate([g for g, o in zip(flat_g, layer_of) if o == layer])
            for layer in history["layers"]
        ]
        pooled_w = [
            np.concatenate([w for w, o in zip(flat_w, layer_of) if o == layer])
            for layer in history["layers"]
        ]
        per_layer = {k: v[row] for k, v in history["per_layer"].items()}
        assert_statistics(per_layer, _reference_statistics(pooled_g, pooled_w), f"row {row} layer")


@pytest.mark.parametrize("mode", ["graph", "xla", "graph_fused"])
def test_large_variables_match_gradient_tape(mode, monkeypatch):
    """``graph_fused``: the statistics as one XLA cluster inside a non-XLA step, the path
    taken when an accelerator is present (forced here on the CPU)."""
    if mode == "graph_fused":
        from keras_init_lab.callbacks import capture

        monkeypatch.setattr(capture, "_has_accelerator", lambda: True)
    x, y = _data()
    model = _large_model()
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    assert all(s > CHUNK_SIZE and s % CHUNK_SIZE for s in sizes[:3])  # rows and a tail
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse", jit_compile=mode == "xla")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    history = stats.history
    assert history["step"].tolist() == [0, 1]
    assert history["layers"] == ["hidden", "out"]
    # The relu layer's gradient has exact zeros (dead units): zero_fraction is exercised.
    assert history["per_variable"]["zero_fraction"][:, 0].max() > 0
    _check_history(history, _replay(_large_model, x, y, 4, 2))


@pytest.mark.parametrize(
    "optimizer",
    [lambda: keras.optimizers.Adam(1e-3), lambda: keras.optimizers.SGD(1e-2, momentum=0.9)],
    ids=["adam", "sgd_momentum"],
)
def test_xla_compiled_fit_with_an_optimizer_that_builds_slots_at_its_first_step(optimizer):
    """``jit_compile=True`` with an optimizer whose moments are created at its first
    ``apply`` (TensorFlow's trainer builds it while tracing the step): the capture must not
    create them under the snapshot's control dependencies, from which TensorFlow cannot lift
    a variable out of an XLA function (this failed: "We failed to lift variable creations").
    The XLA fit records every step and its statistics equal those of the same fit without
    XLA."""
    x, y = _data()
    histories = []
    for jit_compile in (True, False):
        model = _large_model()
        model.compile(optimizer(), "mse", jit_compile=jit_compile)
        stats = GradientStats(every_n_steps=1)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[stats])
        histories.append(stats.history)
    xla, graph = histories
    assert xla["step"].tolist() == graph["step"].tolist() == [0, 1, 2, 3]
    # XLA and TensorFlow's own kernels round differently: 1e-4 of each statistic, and the
    # mean (a sum that may cancel to near zero) within 1e-4 of the spread.
    for stat in ("norm", "std", "max_abs", "update_ratio"):
        np.testing.assert_allclose(
            xla["per_variable"][stat], graph["per_variable"][stat], rtol=1e-4, err_msg=stat
        )
    spread = graph["per_variable"]["std"]
    assert np.all(
        np.abs(xla["per_variable"]["mean"] - graph["per_variable"]["mean"]) <= 1e-4 * spread
    )


def test_near_constant_gradient_keeps_its_std():
    """|mean| / std ~ 1e4: the spread must not drown in the rounding of sum g^2."""
    rng = np.random.default_rng(1)
    n_in = 3 * CHUNK_SIZE + 40
    x = (1.0 + 1e-4 * rng.normal(size=(1, n_in))).astype("float32")
    x = np.repeat(x, 4, axis=0)
    y = np.full((4, 1), 3.0, "float32")

    def factory():
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(1, use_bias=False)])

    model = factory()
    model.compile(keras.optimizers.SGD(1e-3), "mse")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    grads, _ = _replay(factory, x, y, 4, 1)[0]
    g = grads[0].ravel()
    assert abs(g.mean()) / g.std() > 5e3
    np.testing.assert_allclose(stats.history["per_variable"]["std"][0, 0], g.std(), rtol=1e-2)


def _scalars(accumulator, tag):
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]


def _variable_tag(variable, stat):
    """``<layer>/details/<variable>/gradient_norm``, ``.../weight_std``, ``.../update_ratio``."""
    from keras_init_lab._tags import variable_tag

    layer, name = variable.rsplit("/", 1)
    return variable_tag(layer, name, "gradient_norm" if stat == "norm" else stat)


def test_tensorboard_scalars_match_gradient_tape(tmp_path):
    x, y = _data()
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, histogram_every_n_steps=0, log_dir=tmp_path)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    reference = _replay(_large_model, x, y, 4, 2)
    accumulator = event_accumulator.EventAccumulator(
        str(tmp_path / "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    variables = stats.history["variables"]
    for stat in ("norm", "weight_std", "update_ratio"):
        for index, variable in enumerate(variables):
            tag = _variable_tag(variable, stat)
            assert tag in tags, (tag, sorted(tags))
            expected = [
                _reference_statistics([g[index].ravel()], [w[index].ravel()])[stat][0]
                for g, w in reference
            ]
            got = _scalars(accumulator, tag)
            assert [s for s, _ in got] == [0, 1]
            np.testing.assert_allclose([v for _, v in got], expected, rtol=2e-5, err_msg=tag)


def test_history_thinning_keeps_exactly_these_steps():
    x, y = _data(n=32)
    model = _large_model()
    model.compile(keras.optimizers.SGD(LEARNING_RATE), "mse")
    stats = GradientStats(every_n_steps=1, max_history=4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    # 8 records: at the 5th, [0..4] -> [0, 2, 4]; 5, 6 -> [0, 2, 4, 5, 6] -> [0, 4, 6]; 7.
    assert stats.history["step"].tolist() == [0, 4, 6, 7]
    reference = _replay(_large_model, x, y, 4, 8)
    _check_history(stats.history, [reference[s] for s in (0, 4, 6, 7)])


def test_loss_scale_skipped_steps_are_detected():
    """A LossScaleOptimizer skips overflowing steps: they are listed, never recorded."""
    x, y = _data(n=40)
    y = y * 1e3  # gradients ~1e3: scaled by 2**126 they overflow float32

    def build():
        model = _large_model()
        model.compile(
            keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1e-6), initial_scale=2.0**126),
            "mse",
        )
        return model

    reference = build()
    applied = []
    for step in range(10):
        before = reference.get_weights()[0].copy()
        reference.train_on_batch(x[4 * step : 4 * step + 4], y[4 * step : 4 * step + 4])
        applied.append(not np.array_equal(before, reference.get_weights()[0]))
    skipped = [s for s, a in enumerate(applied) if not a]
    assert 0 < len(skipped) < 10  # the test needs both kinds of step

    model = build()
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.skipped_steps == skipped
    assert stats.history["step"].tolist() == [s for s, a in enumerate(applied) if a]
    assert np.all(np.isfinite(stats.history["per_layer"]["norm"]))


def test_exploding_growth_rule():
    """The total norm growing > exploding_growth x between two inspected steps is reported."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, FEATURES)).astype("float32")
    y = np.zeros((8, 7), "float32")
    y[4:] = 1e4  # second batch: targets far away, gradient ~1e3-1e4 x larger

    def run(growth):
        model = _large_model()
        model.compile(keras.optimizers.SGD(1e-9), "mse")
        health = GradientHealth(every_n_steps=1, exploding_norm=1e30, exploding_growth=growth)
        with pytest.warns(GradientHealthWarning) if growth < 1e6 else _no_warning():
            model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[health])
        return health.findings

    findings = run(100.0)
    assert [f["kind"] for f in findings] == ["exploding"]
    assert findings[0]["step"] == 1
    assert re.search(r"grew [0-9.e+]+x since step 0", findings[0]["message"])
    assert run(1e9) == []


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", GradientHealthWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


#: Reduction op types of a traced graph: full reductions, segment reductions and counts.
_REDUCTION_OP = re.compile(
    r"^(Sum|Max|Min|Prod|Mean|All|Any|EuclideanNorm|ArgMax|ArgMin|\w*Segment\w*|\w*Bincount)$"
)
#: Op types allowed to grow with the number of variables: the per-variable views that feed
#: the two chunk matrices (a flatten, a slice into whole rows and tail, their constants).
_PER_VARIABLE_OPS = {"Const", "Placeholder", "Reshape", "StridedSlice", "Cast", "Identity"}


def _dense_stack(n_layers):
    """``n_layers`` Dense layers of alternating widths: kernels of many chunk rows plus a
    tail, biases shorter than one row (tail only)."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((20,))]
    layers += [keras.layers.Dense(20 if i % 2 else 300 // (1 + i % 3)) for i in range(n_layers)]
    return keras.Sequential(layers)


def _traced_op_types(n_layers, xla, sample_size):
    """``Counter`` of op types of the recorded step's measurement (statistics and histograms,
    as the capture runs it inside the train step), nested function bodies included."""
    import collections

    from keras_init_lab.callbacks.capture import _measure
    from keras_init_lab.callbacks.statistics import describe_variables, split_chunks

    layout = describe_variables(_dense_stack(n_layers))
    specs = [tf.TensorSpec(v.shape, "float32") for v in layout.variables]

    @tf.function(autograph=False)
    def measure(grads, weights, after):
        before = split_chunks(list(weights), layout)
        return _measure(
            list(grads), before, list(after), layout, True, 30, xla, sample_size=sample_size
        )

    graph = measure.get_concrete_function(specs, specs, specs).graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph.node)
    for function in graph.library.function:  # tf.cond branches
        counts.update(node.op for node in function.node_def)
    return counts, layout.num_variables


@pytest.mark.parametrize("sample_size", [16384, None], ids=["sampled", "exact"])
@pytest.mark.parametrize("xla", [False, True])
def test_recorded_step_op_count_does_not_grow_with_the_number_of_variables(xla, sample_size):
    """4 vs 100 Dense layers (8 vs 200 variables): the statistics and histograms of a recorded
    step use the same reduction ops (Sum, Max, Min, All, EuclideanNorm, UnsortedSegment*),
    the same number of each, with sampled and with exact histograms (the sample is two
    gathers from the chunk matrices whatever the number of variables): every variable is
    reduced inside the two chunk matrices, never on its own. What does grow is the
    per-variable view that builds those matrices (a reshape and a slice or two per variable,
    their constants and inputs): small ops, no reduction among them (under XLA they fuse
    into the copy into the matrices)."""
    few, few_variables = _traced_op_types(4, xla, sample_size)
    many, many_variables = _traced_op_types(100, xla, sample_size)
    assert (few_variables, many_variables) == (8, 200)
    reductions = {op for op in few | many if _REDUCTION_OP.match(op)}
    assert {"Sum", "Max", "UnsortedSegmentSum"} <= reductions
    if sample_size:
        assert few["GatherV2"] == many["GatherV2"] > 0  # the sample: gathers, not per variable
    for op in reductions:
        assert few[op] == many[op], (op, few[op], many[op])
    # Every other op type is constant too, except the per-variable views.
    grown = {op for op in few | many if few[op] != many[op]}
    assert grown <= _PER_VARIABLE_OPS, grown - _PER_VARIABLE_OPS
    assert many["Reshape"] > few["Reshape"]  # the views do grow: the test sees the graphs


@pytest.mark.parametrize("width", [CHUNK_SIZE, 1500], ids=["chunk_rows", "natural_rows"])
@pytest.mark.parametrize("xla", [False, True])
def test_a_rows_own_spread_survives_a_mean_a_million_times_its_std(xla, width):
    """A row's own M2 with ``|mean| / std = 1e6`` (``1 +- 1e-6``): the centre ``sum / C``
    is off from the mean by the rounding of the sum, a few 1e-7, a tenth of the spread
    itself; the centred M2 must take that offset out (``- (sum d)^2 / C``) or it is wrong by
    percents. Against NumPy float64 on the same float32 values, rtol 1e-4. (Pooled over the
    rows of a variable, the row means' own rounding then limits the std at such ratios: the
    test of ``|mean| / std ~ 1e4`` above asks 1e-2 of it.)"""
    from keras_init_lab.callbacks.statistics import _centred_row_m2

    rng = np.random.default_rng(11)
    rows = (1.0 + 1e-6 * rng.normal(size=(64, width))).astype(np.float32)
    compute = tf.function(
        lambda m: _centred_row_m2(m, tf.reduce_sum(m, axis=1)), jit_compile=xla, autograph=False
    )
    got = compute(tf.constant(rows)).numpy()
    r64 = rows.astype(np.float64)
    expected = np.sum(np.square(r64 - r64.mean(axis=1, keepdims=True)), axis=1)
    assert np.min(r64.mean(axis=1) / np.sqrt(expected / width)) > 3e5
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("natural", [False, True], ids=["chunk_rows", "natural_rows"])
@pytest.mark.parametrize("inplace", [0, 4], ids=["chunked", "views"])
@pytest.mark.parametrize("xla", [False, True])
def test_exact_counts_of_a_nonfinite_step_cover_every_block_of_rows(xla, inplace, natural):
    """A step with NaN and Inf gradients takes the exact-count branch, which counts
    ``COUNT_BLOCK_ROWS`` rows at a time: NaN, Inf and zeros put at the first and last
    element, at both sides of every block boundary and in the overlapping last block must
    all be counted once, in views, in the shared chunk matrix and in the tails."""
    from keras_init_lab.callbacks.statistics import (
        COUNT_BLOCK_ROWS,
        describe_variables,
        gradient_sufficient_statistics,
        variable_statistics,
    )

    keras.utils.set_random_seed(0)
    # 4 variables: a 300 x 170 kernel (199 chunk rows, 300 natural rows: several blocks and
    # an overlapping last one), its bias, a 170 x 3 kernel, its bias.
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(170), keras.layers.Dense(3)])
    layout = describe_variables(model, inplace=inplace, natural_views=natural)
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=v.shape).astype(np.float32) for v in layout.variables]
    kernel = grads[0].reshape(-1)
    k = COUNT_BLOCK_ROWS
    for row_width in (170, CHUNK_SIZE):  # the natural rows and the chunk rows
        rows = kernel.size // row_width
        for boundary in range(k, rows, k):
            kernel[boundary * row_width - 1] = np.nan  # last element before a boundary
            kernel[boundary * row_width] = 0.0  # first element after it
        kernel[(rows - k // 2) * row_width + 5] = np.inf  # inside the overlapping last block
    kernel[0], kernel[-1], kernel[-2] = -np.inf, np.nan, 0.0
    grads[1][[0, -1]] = [np.nan, 0.0]
    grads[2][0, 0] = np.inf
    weights = [np.asarray(v.numpy()) for v in layout.variables]
    compute = tf.function(
        lambda g, b, a: gradient_sufficient_statistics(g, b, a, layout, xla=xla),
        jit_compile=xla,
        autograph=False,
    )
    raw = compute(
        [tf.constant(g) for g in grads],
        [tf.constant(w) for w in weights],
        [tf.constant(w) for w in weights],
    ).numpy()
    got = variable_statistics(raw, layout.sizes)
    np.testing.assert_array_equal(got["nonfinite_count"], [np.sum(~np.isfinite(g)) for g in grads])
    np.testing.assert_array_equal(got["zero_fraction"], [np.mean(g == 0) for g in grads])
    assert got["nonfinite_count"][0] > 10 and got["zero_fraction"][0] > 0


@pytest.mark.parametrize("inplace", [(), (1, 2)], ids=["chunked", "views"])
@pytest.mark.parametrize(
    "xla, gather_rows", [(False, True), (False, False), (True, None)], ids=["cpu", "static", "xla"]
)
def test_sufficient_statistics_match_float64_on_near_constant_and_ordinary_rows(
    xla, gather_rows, inplace
):
    """The M2 of every variable against NumPy float64, for rows the plain form handles
    (ordinary gradients, all-zero rows) and rows it does not (a near-constant bias of
    2 +- 1e-3, a constant row, one row far from the others): on a CPU without XLA only the
    risky rows are recomputed, otherwise (XLA, an accelerator) all rows are; every path must
    give the same precise answer, whether a variable's whole rows are copied into the shared
    chunk matrix or reduced from a view of their own (``inplace``: the 3-row variable without
    a tail and the near-constant one)."""
    from keras_init_lab.callbacks.statistics import (
        gradient_sufficient_statistics,
        variable_statistics,
    )

    rng = np.random.default_rng(3)
    shapes = [(4 * CHUNK_SIZE + 17,), (3 * CHUNK_SIZE,), (2 * CHUNK_SIZE + 5,), (5,)]
    # Only the layout (sizes, chunk rows) is read; the variables are stand-ins.
    from keras_init_lab.callbacks import statistics as statistics_module

    sizes = np.array([int(np.prod(s)) for s in shapes], np.int64)
    full = sizes // CHUNK_SIZE
    layout = statistics_module.VariableLayout(
        variables=tuple(range(len(shapes))),
        names=tuple(f"v{i}/x" for i in range(len(shapes))),
        layers=tuple(f"v{i}" for i in range(len(shapes))),
        layer_index=np.arange(len(shapes), dtype=np.int32),
        sizes=sizes,
        full_chunks=full,
        tail_sizes=sizes - full * CHUNK_SIZE,
        full_variable=np.repeat(
            np.arange(len(shapes), dtype=np.int32), np.where(np.isin(range(4), inplace), 0, full)
        ),
        inplace=inplace,
    )
    grads = [
        rng.normal(size=shapes[0]),  # ordinary
        np.concatenate(  # a constant row, an all-zero row, a row far from the others
            [np.full(CHUNK_SIZE, 0.3), np.zeros(CHUNK_SIZE), 50.0 + rng.normal(size=CHUNK_SIZE)]
        ),
        2.0 + 1e-3 * rng.normal(size=shapes[2]),  # |mean| / std = 2000
        np.array([1.0, 0.0, -2.0, 0.5, 7.0]),
    ]
    grads = [g.astype(np.float32) for g in grads]
    before = [(1.0 + 1e-3 * rng.normal(size=s)).astype(np.float32) for s in shapes]
    after = [b - 0.01 * g for b, g in zip(before, grads)]

    compute = tf.function(
        lambda g, b, a: gradient_sufficient_statistics(
            g, b, a, layout, xla=xla, gather_rows=gather_rows
        ),
        jit_compile=xla,
        autograph=False,
    )
    raw = compute(
        [tf.constant(g) for g in grads],
        [tf.constant(b) for b in before],
        [tf.constant(a) for a in after],
    ).numpy()
    got = variable_statistics(raw, layout.sizes)
    g64 = [g.astype(np.float64) for g in grads]
    w64 = [b.astype(np.float64) for b in before]
    np.testing.assert_allclose(got["std"], [g.std() for g in g64], rtol=2e-5)
    np.testing.assert_allclose(got["weight_std"], [w.std() for w in w64], rtol=2e-5)
    np.testing.assert_allclose(got["norm"], [np.linalg.norm(g) for g in g64], rtol=2e-5)
    np.testing.assert_allclose(got["mean"], [g.mean() for g in g64], rtol=2e-5)
    np.testing.assert_array_equal(got["zero_fraction"], [np.mean(g == 0) for g in g64])
    update = [np.linalg.norm(a.astype(np.float64) - b) for a, b in zip(after, w64)]
    np.testing.assert_allclose(
        got["update_ratio"], [u / np.linalg.norm(w) for u, w in zip(update, w64)], rtol=2e-5
    )


@pytest.mark.parametrize(
    "xla, gather_rows", [(False, True), (False, False), (True, None)], ids=["cpu", "static", "xla"]
)
def test_view_weights_taken_first_and_given_updates_are_used_as_given(xla, gather_rows):
    """The weights' view rows taken apart by ``view_weight_rows`` (as the capture does before
    an in-place update) give the same statistics as those taken inside; ``view_deltas``
    replaces ``w' - w`` over a view's whole rows only (here ``3 (w' - w)``, so the update's
    sum of squares of a view's rows is 9 times larger) while its tail keeps ``w' - w``."""
    from keras_init_lab.callbacks import statistics as st

    rng = np.random.default_rng(5)
    shapes = [(4 * CHUNK_SIZE + 17,), (3 * CHUNK_SIZE,), (2 * CHUNK_SIZE + 5,), (5,)]
    sizes = np.array([int(np.prod(x)) for x in shapes], np.int64)
    full = sizes // CHUNK_SIZE
    inplace = (1, 2)
    layout = st.VariableLayout(
        variables=tuple(range(4)),
        names=tuple(f"v{i}/x" for i in range(4)),
        layers=tuple(f"v{i}" for i in range(4)),
        layer_index=np.arange(4, dtype=np.int32),
        sizes=sizes,
        full_chunks=full,
        tail_sizes=sizes - full * CHUNK_SIZE,
        full_variable=np.repeat(
            np.arange(4, dtype=np.int32), np.where(np.isin(range(4), inplace), 0, full)
        ),
        inplace=inplace,
    )
    grads = [rng.normal(size=x).astype(np.float32) for x in shapes]
    before = [(2.0 + 1e-3 * rng.normal(size=x)).astype(np.float32) for x in shapes]  # M2 at risk
    after = [b - 0.01 * g for b, g in zip(before, grads)]

    def compute(g, b, a, scale):
        b_chunks = st.split_chunks(b, layout)
        if scale is None:
            return st.gradient_sufficient_statistics(
                g, b_chunks, a, layout, xla=xla, gather_rows=gather_rows
            )
        rows = st.view_weight_rows(b_chunks[2], xla=xla, gather_rows=gather_rows)
        deltas = [scale * (a[j] - b[j]) for j in inplace]
        return st.gradient_sufficient_statistics(
            g,
            b_chunks,
            a,
            layout,
            xla=xla,
            gather_rows=gather_rows,
            view_weights=rows,
            view_deltas=deltas,
        )

    args = [[tf.constant(x) for x in xs] for xs in (grads, before, after)]
    run = tf.function(compute, jit_compile=xla, autograph=False)
    inside, apart, tripled = (run(*args, scale).numpy() for scale in (None, 1.0, 3.0))
    np.testing.assert_allclose(apart, inside, rtol=1e-6, atol=1e-30)
    delta = [(a.astype(np.float64) - b) ** 2 for a, b in zip(after, before)]
    whole = [
        d[: int(full[j]) * CHUNK_SIZE].sum() if j in inplace else 0.0 for j, d in enumerate(delta)
    ]
    expected = [d.sum() + 8 * w for d, w in zip(delta, whole)]
    np.testing.assert_allclose(tripled[st._DELTA_SUMSQ], expected, rtol=2e-5)
    other = [r for r in range(tripled.shape[0]) if r != st._DELTA_SUMSQ]
    np.testing.assert_allclose(tripled[other], inside[other], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("natural", [False, True], ids=["chunk_rows", "natural_rows"])
@pytest.mark.parametrize("mode", ["graph", "graph_loss_scale", "xla", "graph_fused"])
def test_fit_with_views_of_the_largest_variables_equals_numpy(mode, natural, monkeypatch):
    """The model above 7000 units wide: its 40 x 7000 kernel (1093 whole rows) is reduced
    from a view of its own, not copied, in a real fit. The weights before the update, read
    through that view, must still be the old ones when the optimizer updates the variable
    (TensorFlow copies a variable's buffer on write while a read of it is alive).
    Statistics against the tape and NumPy float64 reference, as the tests above.
    ``graph_fused``: the statistics as one XLA cluster inside a non-XLA step (forced here).
    ``graph_loss_scale``: SGD inside a ``LossScaleOptimizer``, whose update is traced in a
    conditional's branch (the scale is a power of two: the same update as SGD's).
    ``natural_rows``: the view is the kernel's own 40 rows of 7000 (JAX's default layout)."""
    from keras_init_lab.callbacks import capture, statistics
    from keras_init_lab.callbacks.statistics import describe_variables

    if mode == "graph_fused":
        monkeypatch.setattr(capture, "_has_accelerator", lambda: True)
    monkeypatch.setattr(statistics, "_natural_views_by_default", lambda: natural)
    found = []
    applied_updates = capture._applied_updates

    def spy(*args):
        deltas = applied_updates(*args)
        found.append([d is not None for d in deltas])
        return deltas

    monkeypatch.setattr(capture, "_applied_updates", spy)

    def build():
        return _large_model(7000)

    layout = describe_variables(build())
    assert layout.inplace == (0,)
    assert layout.view_width(0) == (7000 if natural else CHUNK_SIZE)
    x, y = _data()
    model = build()
    optimizer = keras.optimizers.SGD(LEARNING_RATE)
    if mode == "graph_loss_scale":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer, "mse", jit_compile=mode == "xla")
    stats = GradientStats(every_n_steps=1)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    reference = _replay(build, x, y, 4, 2)
    _check_history(stats.history, reference)
    assert np.all(stats.history["per_variable"]["update_ratio"] > 0)
    # On a CPU graph step (not XLA, not the fused cluster) the view's update is the
    # tensor SGD subtracts (its sum of squares checked above against w' - w in float64).
    # (Once per trace of the step: a LossScaleOptimizer's may be traced twice.)
    if mode in ("graph", "graph_loss_scale"):
        assert found and all(trace == [True] for trace in found)
    else:
        assert found == []


def test_natural_rows_are_the_trailing_dimensions_past_one_chunk():
    """A view's natural row: the fewest trailing dimensions (the first one left out) that
    hold ``CHUNK_SIZE`` elements; None for a vector or a row too short."""
    from keras_init_lab.callbacks.statistics import _natural_row

    assert _natural_row((784, 1500), CHUNK_SIZE) == 1500
    assert _natural_row((3, 3, 256, 128), CHUNK_SIZE) == 256 * 128
    assert _natural_row((3, 3, 64, 512), CHUNK_SIZE) == 512
    assert _natural_row((300_000,), CHUNK_SIZE) is None
    assert _natural_row((4000, 100), CHUNK_SIZE) is None


def test_gradients_by_column_places_casts_and_unscales_each_gradient():
    """Each gradient goes to its variable's column (by identity, whatever the order given),
    a missing one is zeros flagged absent, a variable outside the layout is dropped, and a
    loss scale is divided out; dyadic values, so the comparison is exact."""
    from keras_init_lab.callbacks.statistics import describe_variables, gradients_by_column

    model = _dense_stack(2)
    layout = describe_variables(model)
    kernel0, bias0, kernel1, bias1 = layout.variables
    outsider = keras.Variable(np.zeros(3, "float32"))
    grads = [np.full(v.shape, 2.0 * (i + 1), "float16") for i, v in enumerate(layout.variables)]
    given = [grads[2], grads[0], None, np.ones(3, "float32"), grads[3]]
    dense, present = gradients_by_column(
        given, [kernel1, kernel0, bias0, outsider, bias1], layout, scale=4.0
    )
    assert present == [True, False, True, True]
    assert [str(keras.ops.convert_to_numpy(g).dtype) for g in dense] == ["float32"] * 4
    for column, expected in zip(dense, [grads[0] / 4, np.zeros(bias0.shape), grads[2] / 4]):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(column), expected)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dense[3]), grads[3] / 4)


@pytest.mark.parametrize("width", [255, 256, 1200, 2041, 40_000])
@pytest.mark.parametrize("xla", [False, True])
def test_row_nonzero_counts_past_the_range_of_its_narrow_counter(width, xla):
    """Per-row nonzero counts, outside XLA summed in a narrow integer: in uint8 over pieces
    of at most 255 entries (a 256-entry row in two pieces, 1200 in five, 255 in one), in
    int16 where no piece fits (2041 = 13 x 157 entries: no divisor up to 8), in int32 past 2^15 (a row of 40,000
    entries, nearly all nonzero). A row of all-nonzero entries is the one a counter too
    narrow would wrap on. A NaN counts as nonzero (or NaN in the sign form under XLA: the
    step's exact counts then apply)."""
    from keras_init_lab.callbacks.statistics import _row_nonzero

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(3, width)).astype(np.float32)
    matrix[0, : width // 3] = 0.0
    matrix[2, 0] = np.nan
    counted = tf.function(lambda m: _row_nonzero(m, xla), jit_compile=xla)(tf.constant(matrix))
    counted = counted.numpy()
    np.testing.assert_array_equal(counted[:2], np.count_nonzero(matrix[:2], axis=1))
    assert counted[2] == width or (xla and np.isnan(counted[2]))
