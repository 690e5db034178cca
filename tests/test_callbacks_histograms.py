"""Sampled histograms against the exact ones, the sample's positions, and the sample size.

The sampled histogram of a variable larger than the sample must draw the picture of the
exact one within the sampling error it states; the exact mode (``sample_size=None``) must
count like NumPy; small variables are counted whole in either mode.

Sampling-error bounds used here, for a sample of ``S`` elements and a bucket whose exact
share among all ``n`` elements is ``p``: the share of the sample in the bucket has a
binomial standard error ``sqrt(p (1 - p) / S)`` for ``S`` independent draws; the plan takes
every ``s``-th element (``s`` coprime with ``n``) from a moving start, a systematic sample,
unbiased, with that variance for values in random order and less where whole rows or
columns differ (it covers them evenly; Cochran 1977, ch. 8); the data below differ by
column or by row, so the bounds are conservative. Per bucket: ``|share - p| <= 5 sigma + 1 / S`` (5 sigma: a
normal tail of 6e-7 per bucket; ``1 / S``: one element, the sample's granularity, so a
bucket with ``S p << 1`` may hold one). For the whole CDF, Dvoretzky-Kiefer-Wolfowitz (with
Massart's constant): ``P(max |F_S - F| > eps) <= 2 exp(-2 S eps^2)``, so with probability
``1 - 1e-6`` the sampled CDF is within ``eps = sqrt(ln(2 / 1e-6) / (2 S))`` of the exact one.
The data and seeds are fixed, so each check is deterministic; the bounds say why it holds.
"""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

from keras_init_lab import _tags  # noqa: E402
from keras_init_lab.callbacks import (
    GradientStats,  # noqa: E402
    histograms,  # noqa: E402
)
from keras_init_lab.callbacks.histograms import (  # noqa: E402
    DEFAULT_HISTOGRAM_SAMPLE_SIZE,
    GRADIENT_MIN_EXPONENT,
    _gather_sample,
    gradient_histograms,
    gradient_log10_edges,
    sample_plan,
)
from keras_init_lab.callbacks.statistics import describe_variables, split_chunks  # noqa: E402

#: A 4096 x 256 kernel (1,048,576 elements) sampled with S = 4096: n / S = 256 is exactly its
#: row length, the case where a plain stride reads a single column.
ROWS, COLUMNS, SAMPLE = 4096, 256, 4096
#: Normal tail beyond 5 sigma: 5.7e-7 per bucket (two-sided).
SIGMAS = 5.0
#: DKW failure probability of the CDF bound.
DKW_ALPHA = 1e-6


def _kernel_layout(rows=ROWS, columns=COLUMNS):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((rows,)), keras.layers.Dense(columns, use_bias=False)])
    return describe_variables(model)


def _structured(rng, by="column"):
    """Gradients and weights whose distribution depends on the column (or the row):
    gradient magnitudes from 1e-6 (column 0) to 1e2 (the last column), weights centred on
    column / 256; ``by="row"`` the same over the rows (a dead input row is all zeros)."""
    if by == "column":
        place = np.broadcast_to(np.arange(COLUMNS)[None, :] / COLUMNS, (ROWS, COLUMNS))
    else:
        place = np.broadcast_to(np.arange(ROWS)[:, None] / ROWS, (ROWS, COLUMNS))
    grads = rng.normal(size=(ROWS, COLUMNS)) * 10.0 ** (-6 + 8 * place)
    if by == "row":
        grads[::7] = 0.0  # every 7th input never active: zero gradient rows
    weights = place + 0.01 * rng.normal(size=(ROWS, COLUMNS))
    return grads.astype(np.float32), weights.astype(np.float32)


def _check_within_sampling_error(sampled, exact, sample, label):
    """Per-bucket binomial bound and the DKW bound of the CDF (see the module docstring)."""
    sampled = np.asarray(sampled, np.float64)
    exact = np.asarray(exact, np.float64)
    assert sampled.sum() == sample, label
    share, p = sampled / sample, exact / exact.sum()
    bound = SIGMAS * np.sqrt(p * (1 - p) / sample) + 1.0 / sample
    worst = np.max(np.abs(share - p) - bound)
    assert worst <= 0, (label, np.abs(share - p), bound)
    # A bucket no element is in never receives a sampled one.
    assert np.all(sampled[exact == 0] == 0), label
    eps = math.sqrt(math.log(2 / DKW_ALPHA) / (2 * sample))
    assert np.max(np.abs(np.cumsum(share) - np.cumsum(p))) <= eps, label


@pytest.mark.parametrize("jit_compile,by", [(False, "column"), (True, "column"), (False, "row")])
def test_sampled_histograms_agree_with_the_exact_ones_within_the_sampling_error(jit_compile, by):
    layout = _kernel_layout()
    grads, weights = _structured(np.random.default_rng(0), by)

    @tf.function(jit_compile=jit_compile)
    def device(g, w, draw):
        exact = gradient_histograms([g], [w], layout, 30, sample_size=None)
        sampled = gradient_histograms([g], [w], layout, 30, sample_size=SAMPLE, draw=draw)
        return exact, sampled

    for draw in (0, 1, 12345):
        exact, sampled = device(grads, weights, tf.constant(draw, tf.int64))
        (g_exact, w_exact, low, high), (g_sampled, w_sampled, s_low, s_high) = (
            [t.numpy() for t in part] for part in (exact, sampled)
        )
        assert g_exact[0].sum() == w_exact[0].sum() == ROWS * COLUMNS
        _check_within_sampling_error(g_sampled[0], g_exact[0], SAMPLE, f"gradients {draw}")
        _check_within_sampling_error(w_sampled[0], w_exact[0], SAMPLE, f"weights {draw}")
        # The weight range is exact in both modes: the min and max of every weight.
        assert (low[0], high[0]) == (s_low[0], s_high[0]) == (weights.min(), weights.max())


def test_sample_positions_spread_over_rows_and_columns_and_move_with_the_draw():
    """The positions themselves (the values are their own positions): S distinct ones,
    every s-th element after undoing the shift (s = 257, coprime with n = 4096 * 256), each
    column of the kernel taken equally often (a plain stride of n / S = 256 would read one
    column), every row reached, and another sample for another draw."""
    layout = _kernel_layout()
    n = ROWS * COLUMNS
    plan = sample_plan(layout, SAMPLE)
    stride = histograms.sample_stride(n, SAMPLE)
    assert stride == 257 and math.gcd(stride, n) == 1
    positions = np.arange(n, dtype=np.float32).reshape(ROWS, COLUMNS)  # exact below 2^24
    chunks = split_chunks([tf.constant(positions)], layout)
    taken = {}
    for draw in (0, 1, 2):
        got, _ = _gather_sample(chunks, layout, plan, tf.constant(draw))
        got = got.numpy().astype(np.int64)
        assert len(np.unique(got)) == SAMPLE
        shift = (draw % 2**15) * 40503 % n
        unshifted = (got - shift) % n
        np.testing.assert_array_equal(np.sort(unshifted), np.sort(np.arange(SAMPLE) * stride % n))
        per_column = np.bincount(got % COLUMNS, minlength=COLUMNS)
        assert per_column.min() == per_column.max() == SAMPLE // COLUMNS
        per_row = np.bincount(got // COLUMNS, minlength=ROWS)
        assert per_row.max() <= 2 and np.count_nonzero(per_row) >= 0.99 * ROWS
        taken[draw] = got
    assert not np.array_equal(np.sort(taken[0]), np.sort(taken[1]))
    assert not np.array_equal(np.sort(taken[1]), np.sort(taken[2]))
    # Every element is drawn with probability S / n: the plan is not biased to the start.
    assert abs(np.mean(taken[0]) / n - 0.5) < 0.01


def test_the_sample_stride_is_the_smallest_coprime_one():
    """s >= n / S with gcd(s, n) = 1, the smallest such: distinct positions for any n."""
    for size, sample in [(4096 * 256, 4096), (1500 * 1200, 16384), (16385, 16384), (10, 3)]:
        stride = histograms.sample_stride(size, sample)
        assert stride * sample >= size and math.gcd(stride, size) == 1
        assert all(math.gcd(s, size) > 1 for s in range(-(-size // sample), stride))
        assert len(np.unique(np.arange(sample) * stride % size)) == sample
    assert histograms.sample_stride(1500 * 1200, 16384) == 113  # gcd 10, 3, 16 for 110-112


def test_sample_reads_the_planned_positions_from_views_tails_and_the_shared_matrix():
    """Every slot's value is the element at its planned position ``(base + shift) mod n``
    of its own variable, wherever that element lives: a view's rows, the view's tail in
    the tail matrix, the shared whole-row matrix or a small variable's tail; read through
    the views and tails or, with ``flats``, from the whole flat tensors (the same values).
    Each element holds its own global index (exact in float32 below 2^24)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((1100,)), keras.layers.Dense(300), keras.layers.Dense(20)]
    )
    layout = describe_variables(model)
    assert layout.inplace == (0,) and layout.tail_sizes[0] > 0  # 1289 rows and a tail
    assert layout.full_chunks[2] > 0 and layout.tail_sizes[2] > 0  # shared rows, a tail
    sizes = [int(n) for n in layout.sizes]
    offsets = np.cumsum([0] + sizes[:-1])
    tensors = [
        tf.constant((offset + np.arange(n)).reshape(v.shape).astype(np.float32))
        for offset, n, v in zip(offsets, sizes, layout.variables)
    ]
    chunks = split_chunks(tensors, layout)
    assert len(chunks.flats) == 1
    plan = sample_plan(layout, 1000)
    for draw in (0, 5, 40000):
        got, group = _gather_sample(chunks, layout, plan, tf.constant(draw))
        via_flat, flat_group = _gather_sample(chunks, layout, plan, tf.constant(draw), chunks.flats)
        np.testing.assert_array_equal(flat_group, group)
        np.testing.assert_array_equal(via_flat.numpy(), got.numpy())
        sliced, sliced_group = _gather_sample(
            chunks, layout, plan, tf.constant(draw), chunks.flats, slices=True
        )
        np.testing.assert_array_equal(sliced_group, group)
        np.testing.assert_array_equal(sliced.numpy(), got.numpy())
        got = got.numpy().astype(np.int64)
        for j, n in enumerate(sizes):
            shift = (draw % 2**15) * 40503 % n
            expected = offsets[j] + (plan.base[plan.group == j] + shift) % n
            np.testing.assert_array_equal(np.sort(got[group == j]), np.sort(expected), str(j))


@pytest.mark.parametrize(
    "size, sample",
    [
        (1001, 1000),  # n = S + 1: stride 2, the positions wrap around n twice
        (1999, 1000),  # stride 2
        (2001, 1000),  # stride 3
        (1500 * 12, 1000),  # stride 19 (18 shares a factor with n)
        (4096 * 8, 4096),  # stride 9 (8 shares a factor with n)
        (700, 1000),  # n <= S: read whole, rotated by the shift
    ],
)
def test_strided_sample_reads_the_gathers_values_in_its_order(size, sample):
    """The strided slices read ``flat[(i s + r) mod n]`` for ``i < S`` in that order (what
    the gather at the plan's positions reads), for shifts at both ends of ``[0, n)`` and
    between, eagerly and in a graph (where the runs' lengths are dynamic)."""
    flat = tf.constant(np.arange(size, dtype=np.float32))
    count = min(size, sample)
    stride = histograms.sample_stride(size, sample) if size > sample else 1
    graph = tf.function(lambda r: histograms._strided_sample(flat, r, size, sample))
    shifts = {0, 1, stride - 1, stride, size // 2, size - stride, size - 1}
    shifts |= set(np.random.default_rng(size).integers(0, size, 20).tolist())
    for shift in sorted(r for r in shifts if 0 <= r < size):
        expected = (np.arange(count) * stride + shift) % size
        for read in (lambda r: histograms._strided_sample(flat, r, size, sample), graph):
            got = read(tf.constant(shift, tf.int32)).numpy()
            np.testing.assert_array_equal(got, expected.astype(np.float32), str(shift))


def test_small_variables_are_counted_whole_and_exact_mode_matches_numpy():
    """A 300 x 7 kernel (2100 elements) and a 7-element bias: with S = 1000 the kernel is
    sampled, the bias counted whole; with S >= 2100 or exact mode both equal NumPy."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(7)])
    layout = describe_variables(model)
    rng = np.random.default_rng(1)
    grads = [
        (rng.normal(size=v.shape) * 10.0 ** rng.uniform(-14, 6, size=v.shape)).astype(np.float32)
        for v in layout.variables
    ]
    grads[0].flat[:4] = [0.0, np.inf, np.nan, 2.0**-20]  # exactly on a binade edge
    weights = [rng.normal(size=v.shape).astype(np.float32) for v in layout.variables]
    k = len(gradient_log10_edges()) - 1

    def reference(grad):
        flat = np.abs(grad.ravel().astype(np.float64))
        flat = flat[~np.isnan(flat)]
        with np.errstate(divide="ignore"):
            exponent = np.floor(np.log2(flat))
        index = np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int)
        return np.bincount(index, minlength=k)

    for sample_size in (None, 0, 2100, 1000):
        g, w, low, high = (
            t.numpy() for t in gradient_histograms(grads, weights, layout, 30, sample_size)
        )
        np.testing.assert_array_equal(g[1], reference(grads[1]))  # the bias: always whole
        reference_w, _ = np.histogram(weights[1], bins=30, range=(low[1], high[1]))
        assert np.abs(w[1] - reference_w).sum() <= 2  # float32 edge rounding
        if sample_size == 1000:
            # Draw 0 (no shift): the kernel is counted at the plan's own positions.
            plan = sample_plan(layout, 1000)
            assert plan.counted.tolist() == [1000, 7]
            chosen = plan.base[plan.group == 0]
            np.testing.assert_array_equal(g[0], reference(grads[0].ravel()[chosen]))
            sampled_w = weights[0].ravel()[chosen]
            reference_w, _ = np.histogram(sampled_w, bins=30, range=(low[0], high[0]))
            assert np.abs(w[0] - reference_w).sum() <= 2  # float32 edge rounding
            assert w[0].sum() == 1000
        else:
            np.testing.assert_array_equal(g[0], reference(grads[0]))
            assert w[0].sum() == 2100


def test_the_sample_size_is_validated():
    with pytest.raises(TypeError, match=r"histogram_sample_size=1\.5"):
        GradientStats(histogram_sample_size=1.5)
    with pytest.raises(TypeError, match=r"histogram_sample_size='64'"):
        GradientStats(histogram_sample_size="64")
    with pytest.raises(ValueError, match=r"histogram_sample_size=-1"):
        GradientStats(histogram_sample_size=-1)
    assert GradientStats().histogram_sample_size == DEFAULT_HISTOGRAM_SAMPLE_SIZE
    assert GradientStats(histogram_sample_size=0).histogram_sample_size is None
    assert GradientStats(histogram_sample_size=None).histogram_sample_size is None
    with pytest.raises(ValueError, match=r"sample_size=-2"):
        gradient_histograms(
            [np.zeros((3, 1), np.float32)],
            [np.zeros((3, 1), np.float32)],
            _kernel_layout(3, 1),
            30,
            sample_size=-2,
        )


@pytest.mark.parametrize("sample_size", [64, None], ids=["sampled", "exact"])
def test_event_files_state_the_sample_and_count_it(tmp_path, sample_size):
    """A Dense(7) kernel of 210 elements sampled with S = 64, its 7 biases counted whole:
    the histograms' totals and their descriptions say so; exact mode counts all 210."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 30)).astype("float32")
    y = rng.normal(size=(16, 7)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(7, name="out")], name="net")
    model.compile(keras.optimizers.SGD(0.01), "mse")
    stats = GradientStats(
        every_n_steps=2,
        histogram_every_n_steps=2,
        histogram_sample_size=sample_size,
        log_dir=tmp_path,
    )
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
    assert stats.last_histograms["sample_size"] == sample_size
    accumulator = event_accumulator.EventAccumulator(
        str(tmp_path / "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    kernel_total = 64 if sample_size else 210
    for variable, total in (("kernel", kernel_total), ("bias", 7)):
        tag = _tags.gradient_histogram_tag("out", variable)
        description = accumulator.SummaryMetadata(tag).summary_description
        if variable == "kernel" and sample_size:
            assert "sample of 64 of its 210 elements" in description, description
            assert "6.2 percentage points" in description  # 0.5 / sqrt(64)
        else:
            assert f"all {total} elements" in description, description
        events = accumulator.Tensors(tag)
        assert [e.step for e in events] == [0, 2]
        for event in events:
            buckets = tf.make_ndarray(event.tensor_proto)
            assert buckets[:, 2].sum() == total
        weights = [
            t
            for t in accumulator.Tags()["tensors"]
            if t.startswith(f"out/details/{variable}/weights")
        ]
        for tag in weights:
            description = accumulator.SummaryMetadata(tag).summary_description
            assert "exact min and max" in description
            expected = "sample of 64" if variable == "kernel" and sample_size else f"all {total}"
            assert expected in description, description


def test_sample_notes_state_the_sample_size_and_its_error():
    note = _tags.histogram_sample_note(1_177_500, 16384)
    assert "sample of 16,384 of its 1,177,500 elements" in note
    assert f"{100 * 0.5 / math.sqrt(16384):.1f} percentage points" in note
    assert _tags.histogram_sample_note(16384, 16384) == " Counted over all 16,384 elements."
    assert _tags.histogram_sample_note(10**6, None) == " Counted over all 1,000,000 elements."
    gradient = _tags.gradient_histogram_description(10**6, 4096, -34, 2.0**-34)
    assert "sample of 4,096" in gradient and "gradient_zero_count" in gradient
    assert "sample of 4,096" in _tags.weight_histogram_description(10**6, 4096)


def test_a_new_sample_size_on_the_same_model_is_traced_anew():
    """The instrumented function is cached per model and configuration: a second fit of the
    same model asking for another sample size (here every element) must not reuse the
    function traced for the first one."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 30)).astype("float32")
    y = rng.normal(size=(8, 7)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(7)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    for sample_size, kernel_total in ((64, 64), (None, 210), (64, 64)):
        stats = GradientStats(
            every_n_steps=1, histogram_every_n_steps=1, histogram_sample_size=sample_size
        )
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[stats])
        totals = stats.last_histograms["gradient_counts"].sum(axis=1)
        assert totals.tolist() == [kernel_total, 7], sample_size


@pytest.mark.parametrize("jit_compile", [False, True])
def test_views_of_the_largest_variables_give_what_the_copies_give(jit_compile):
    """A 300 x 1030 kernel (1207 whole rows and a tail of 8) is reduced from a view of its
    own (``layout.inplace``), its 1030 biases from the shared chunk matrix: the statistics
    equal those of the layout that copies every variable (float32 sums in another order:
    2e-5 relative, the tolerance of the float64 tests), and the histograms, exact and
    sampled (the same positions), are the same counts. The same for a natural view (the
    kernel's own rows of 1030: ``natural_views=True``, the default on JAX)."""
    from keras_init_lab.callbacks.statistics import gradient_sufficient_statistics

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(1030)])
    views = describe_variables(model)
    copied = describe_variables(model, inplace=0)
    assert views.inplace == (0,) and copied.inplace == ()
    assert views.num_full_chunks == 4 and copied.num_full_chunks == 1207 + 4
    rng = np.random.default_rng(2)
    grads = [(rng.normal(size=v.shape) * 1e-3 + 5e-3).astype(np.float32) for v in views.variables]
    grads[0][0, :7] = 0.0
    before = [rng.normal(size=v.shape).astype(np.float32) for v in views.variables]
    after = [b - 0.1 * g for b, g in zip(before, grads)]

    def measure(layout):
        @tf.function(jit_compile=jit_compile)
        def run(g, b, a):
            raw = gradient_sufficient_statistics(g, b, a, layout, xla=jit_compile)
            exact = gradient_histograms(g, a, layout, 30, sample_size=None)
            sampled = gradient_histograms(g, a, layout, 30, sample_size=4096, draw=7)
            return raw, exact, sampled

        return tf.nest.map_structure(lambda t: t.numpy(), run(grads, before, after))

    (raw_v, exact_v, sampled_v), (raw_c, exact_c, sampled_c) = measure(views), measure(copied)
    np.testing.assert_allclose(raw_v, raw_c, rtol=2e-5, atol=1e-30)
    assert raw_v[4, 0] == raw_c[4, 0] == 7  # the zero count, exact
    for got, expected in zip(exact_v + sampled_v, exact_c + sampled_c):
        np.testing.assert_array_equal(got, expected)
    assert exact_v[0][0].sum() == 309_000 and sampled_v[0][0].sum() == 4096

    # Natural views (JAX's default): the kernel viewed as its own 300 rows of 1030, no tail.
    natural = describe_variables(model, natural_views=True)
    assert natural.inplace == (0,) and natural.view_widths == (1030,)
    assert natural.full_chunks[0] == 300 and natural.tail_sizes[0] == 0
    raw_n, exact_n, sampled_n = measure(natural)
    np.testing.assert_allclose(raw_n, raw_c, rtol=2e-5, atol=1e-30)
    assert raw_n[4, 0] == 7
    for got, expected in zip(exact_n + sampled_n, exact_c + sampled_c):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bits", [True, False], ids=["exponent_bits", "log2_fallback"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_binade_buckets_are_exact_at_and_next_to_every_edge(jit_compile, bits, monkeypatch):
    """Every edge 2^e (e = -34..14) and its float32 neighbours below and above: ``log2`` of
    ``2^e (1 - 2^-24)`` rounds to ``e`` in float32 for ``|e| >= 2``, so ``floor(log2 x)``
    alone puts it a bucket too high; the comparison with the exact edges must not. Both
    ways of bucketing: the exponent bits (the backends' bitcast) and the ``log2`` fallback
    of a backend without one."""
    if not bits:
        monkeypatch.setattr(histograms, "_biased_exponent", lambda values: None)
    exponents = np.arange(GRADIENT_MIN_EXPONENT, 15)
    edges = np.exp2(exponents).astype(np.float32)
    values = np.concatenate(
        [edges, np.nextafter(edges, np.float32(0)), np.nextafter(edges, np.float32(np.inf))]
    )
    values = np.concatenate([values, -values]).astype(np.float32)
    layout = _kernel_layout(values.size, 1)
    k = len(gradient_log10_edges()) - 1

    @tf.function(jit_compile=jit_compile)
    def device(g):
        return gradient_histograms([g], [g], layout, 30, sample_size=None)[0]

    got = device(values.reshape(-1, 1)).numpy()[0]
    exponent = np.floor(np.log2(np.abs(values.astype(np.float64))))
    expected = np.bincount(
        np.clip(exponent - GRADIENT_MIN_EXPONENT, 0, k - 1).astype(int), minlength=k
    )
    np.testing.assert_array_equal(got, expected)
